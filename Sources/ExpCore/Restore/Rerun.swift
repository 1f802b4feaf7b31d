import ExpGit
import Foundation

/// What `exp rerun` did: the original run and the new one that reproduces it.
public struct RerunResult: Sendable {
    public var original: StoredRun
    public var finished: RunFinished
}

extension Workspace {
    /// Runs a recorded run again from its exact code: a plan of the same command, folder and
    /// params, given the original's snapshot, so that `LiveRun` checks it out into a temporary
    /// linked worktree under `<git common dir>/exp/rerun/<id>` and runs it there; the new run's
    /// `reproduces` names the original. The worktree is removed afterwards.
    ///
    /// `prepare` adjusts the request (streams, pseudo-terminal) before it runs.
    public func rerun(
        _ reference: RunRef, prepare: (inout RunRequest) -> Void = { _ in }, onStart: (RunStarted) -> Void
    ) throws -> RerunResult {
        let store = RunStore(workspace: self)
        let original = try store.resolve(reference)
        let record = original.record
        guard !record.argv.isEmpty else {
            throw ExpError(.usage, "run \(record.name) has no command to run again")
        }
        if record.cwd != ".", let problem = PathRules.problem(path: record.cwd, mode: 0o040000) {
            throw ExpError(
                .corrupt,
                "refusing to run \(record.name) again: its folder \(PathRules.quoted(record.cwd)) is unsafe "
                    + "(\(problem)); nothing was written",
                hint: "the run was not recorded by exp or was tampered with", reason: .tamperedRun(record.name))
        }
        // Credentials were masked when the run was recorded: running `***` would not reproduce
        // it, and could send the mask where a secret belongs.
        let masked =
            record.argv.filter { $0.contains(CredentialMask.mask) }
            + record.params.filter { "\($0.value)".contains(CredentialMask.mask) }.map(\.key).sorted()
        if !masked.isEmpty {
            throw ExpError(
                .conflict,
                "run \(record.name) was recorded with credentials masked (\(masked.joined(separator: ", "))); "
                    + "running it again would pass '\(CredentialMask.mask)' instead of them",
                hint: "run its command yourself with the real values", reason: .maskedCredentials(run: record.name))
        }
        _ = try verifiedFiles(of: original)
        guard let base = record.base.commit else {
            throw ExpError(
                .conflict, "run \(record.name) started before the first commit; it cannot get its own worktree",
                hint: "check it out in this worktree", reason: .needsThisWorktree(run: record.name))
        }
        var request = RunRequest(argv: record.argv, message: record.message, usePseudoTerminal: false)
        request.reproduces = record.id
        request.cwd = record.cwd
        // The same artifact globs (relative to the root) as the original, when it had some.
        if let linked = try? store.artifacts(of: original), linked.lightningDefault != true {
            request.artifactPatterns = linked.patterns.map { "/" + $0 }
        }
        prepare(&request)
        var plan = try plan(request)
        // Params the command line does not give again are passed as they were recorded, typed.
        let guessed = Params.fromCommandLine(record.argv)
        for (key, value) in record.params where guessed[key] != value && plan.params[key] == guessed[key] {
            plan.params[key] = value
        }
        // The command runs in a temporary worktree of the original's snapshot.
        plan.snapshot = RunPlan.GivenSnapshot(commit: record.snapshot.commit, base: base)
        let sealedLost = try recoverLostRuns()
        let finished = try run(plan, terminal: request.terminal, sealedLost: sealedLost, onStart: onStart)
        return RerunResult(original: original, finished: finished)
    }
}
