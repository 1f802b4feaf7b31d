import ExpGit
import Foundation

/// What `exp rerun` did: the original run and the new one that reproduces it.
public struct RerunResult: Sendable {
    public var original: StoredRun
    public var finished: RunFinished
}

extension Workspace {
    /// Runs a recorded run again from its exact code: its snapshot is checked out into a
    /// temporary linked worktree under `<git common dir>/exp/rerun/<id>`, the same command runs
    /// in the same folder with the same params, and is recorded as a new run whose
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
            throw ExpError("run \(record.name) has no command to run again")
        }
        if record.cwd != ".", let problem = PathRules.problem(path: record.cwd, mode: 0o040000) {
            throw ExpError(
                "refusing to run \(record.name) again: its folder \(PathRules.quoted(record.cwd)) is unsafe "
                    + "(\(problem)); nothing was written",
                hint: "the run was not recorded by exp or was tampered with; `exp rm \(record.name)` removes it")
        }
        // Credentials were masked when the run was recorded: running `***` would not reproduce
        // it, and could send the mask where a secret belongs.
        let masked =
            record.argv.filter { $0.contains(CredentialMask.mask) }
            + record.params.filter { "\($0.value)".contains(CredentialMask.mask) }.map(\.key).sorted()
        if !masked.isEmpty {
            throw ExpError(
                "run \(record.name) was recorded with credentials masked (\(masked.joined(separator: ", "))); "
                    + "running it again would pass '\(CredentialMask.mask)' instead of them",
                hint: "run its command yourself with the real values (`exp checkout \(record.name) --into DIR` "
                    + "brings its code back), under `exp run`")
        }
        _ = try verifiedFiles(of: original)
        let rerunFolder = stateDirectory + "/" + Self.rerunFolderName
        let folder = rerunFolder + "/" + RunID.generate(at: context.now(), random: context.random).rawValue
        try? FileManager.default.createDirectory(atPath: rerunFolder, withIntermediateDirectories: true)
        // Written before the worktree exists, so a killed rerun's worktree is always found stale.
        let owner = folder + ".owner"
        do {
            // Whole or not at all: through a temporary name that the clean-up never reads.
            try JSONEncoder().encode(RerunOwner.current).write(to: URL(fileURLWithPath: owner + ".tmp"))
            guard rename(owner + ".tmp", owner) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } catch {
            unlink(owner + ".tmp")
            throw ExpError("could not write \(owner): \(error.localizedDescription)", hint: "nothing was run")
        }
        let name = URL(fileURLWithPath: folder).lastPathComponent
        defer {
            let names = (try? repository.worktreeNames()) ?? []
            let worktree = names.contains(name) ? name : "exp-" + record.id.short
            try? repository.removeWorktree(name: worktree)
            try? FileManager.default.removeItem(atPath: folder)
            unlink(owner)
        }
        let checkout = try checkoutIntoWorktree(original, folder: folder, branch: nil)
        if !checkout.notRestored.isEmpty {
            let paths = checkout.notRestored.map(\.path).joined(separator: ", ")
            throw ExpError("could not restore the code of \(record.name): \(paths)")
        }
        var directory = checkout.worktree
        if record.cwd != "." {
            let parts = record.cwd.split(separator: "/").map(String.init)
            do throws(NoFollowFolder.Failure) {
                _ = try NoFollowFolder.under(root: checkout.worktree, components: parts, create: true)
            } catch {
                throw ExpError("could not make the folder \(record.name) ran in: \(error.reason)")
            }
            directory += "/" + record.cwd
        }
        var inner = context  // the same clock, environment and notices, in the rerun's folder
        inner.workingDirectory = directory
        let workspace = try Workspace(context: inner)
        // Params the command line does not give again (`-p`) are passed as they were recorded.
        let guessed = Params.fromCommandLine(record.argv)
        let extra = record.params.keys.sorted().filter { guessed[$0] != record.params[$0] }
        var request = RunRequest(
            argv: record.argv, message: record.message,
            params: extra.compactMap { key in record.params[key].map { "\(key)=\($0)" } }, usePseudoTerminal: false)
        request.reproduces = record.id
        // The same artifact globs (relative to the root) as the original, when it had some.
        if let linked = try? store.artifacts(of: original), linked.lightningDefault != true {
            request.artifactPatterns = linked.patterns.map { "/" + $0 }
        }
        prepare(&request)
        let finished = try workspace.run(request, onStart: onStart)
        return RerunResult(original: original, finished: finished)
    }
}
