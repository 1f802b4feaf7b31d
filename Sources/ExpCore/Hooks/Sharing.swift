import ExpGit
import Foundation

/// What `exp push` (or the pre-push hook) did.
public struct PushReport: Sendable {
    /// The remote pushed to.
    public var remote: String
    /// Runs the remote got or updated (names).
    public var pushed: [String] = []
    /// Runs the remote already had as they are here.
    public var upToDate: Int = 0
    /// Tags (`exp/…`) the remote got.
    public var pushedTags: [String] = []
    /// What the remote refused, with git's reason: `brave-otter: [rejected] (fetch first)`.
    public var rejected: [String] = []
    /// Runs not pushed because they are still running.
    public var stillRunning: [String] = []
}

/// What `exp pull` brought.
public struct PullReport: Sendable {
    public var remote: String
    /// Runs new here.
    public var added: [String] = []
    /// Runs whose record changed (sealed there, linked to commits).
    public var updated: [String] = []
    /// New `exp/…` tags.
    public var tags: [String] = []
    /// What git refused to update (a local record that differs), with git's words.
    public var rejected: [String] = []
    /// Refs whose objects failed git's checks (`transfer.fsckObjects`: a tree with `.git`,
    /// `..` or a duplicate name, a malformed commit), so nothing of them was taken.
    public var refused: [RefusedReference] = []
}

/// A ref `exp pull` would not take, and git's whole message about it.
public struct RefusedReference: Sendable, Equatable {
    /// The full ref name, `refs/exp/runs/<id>` or `refs/tags/exp/<name>`.
    public var name: String
    /// git's stderr, every line of it.
    public var reason: String

    /// The run id in a run's ref name; nil for other refs.
    public var runID: String? {
        name.hasPrefix(RunStore.refPrefix) ? String(name.dropFirst(RunStore.refPrefix.count)) : nil
    }
}

extension Workspace {
    private var gitCLI: GitCLI {
        GitCLI(workingDirectory: repository.workingDirectory, environment: context.environment)
    }

    /// The remote runs go to: the current branch's push remote (`branch.<b>.pushRemote`,
    /// `remote.pushDefault`, `branch.<b>.remote`), else `origin`, else the only remote.
    public func defaultRemote(forPush: Bool) throws -> String {
        let branch = try translatingGitErrors { try repository.headBranch() }.map {
            String($0.dropFirst("refs/heads/".count))
        }
        var keys: [String] = []
        if let branch, forPush { keys.append("branch.\(branch).pushRemote") }
        if forPush { keys.append("remote.pushDefault") }
        if let branch { keys.append("branch.\(branch).remote") }
        for key in keys {
            if let value = try translatingGitErrors({ try config.string(key, includeFallback: false) }), !value.isEmpty,
                value != "."
            {
                return value
            }
        }
        let remotes = try translatingGitErrors { try gitCLI.run(["remote"]) }.stdout.split(separator: "\n").map(
            String.init)
        if remotes.contains("origin") { return "origin" }
        if remotes.count == 1 { return remotes[0] }
        throw ExpError(
            remotes.isEmpty ? .notFound : .ambiguous,
            remotes.isEmpty
                ? "this repository has no remote to share runs with"
                : "which remote? there are several: "
                    + remotes.joined(separator: ", "),
            hint: remotes.isEmpty ? "add one with `git remote add origin URL`" : "name the remote to use",
            reason: remotes.isEmpty ? nil : .remoteNotChosen(remotes: remotes))
    }

    /// `exp push`: pushes runs (`refs/exp/runs/<id>`, all sealed runs when `runs` is empty) and
    /// exp's tags of those runs to `remote` with the user's own git. Never forced: a run the
    /// remote holds differently is reported in `rejected`, not overwritten.
    public func pushRuns(to remote: String?, runs references: [RunRef]) throws -> PushReport {
        let remote = try remote ?? defaultRemote(forPush: true)
        let store = RunStore(workspace: self)
        var runs: [StoredRun]
        if references.isEmpty {
            runs = try store.allRuns()
        } else {
            runs = try references.map { try store.resolve($0) }
        }
        var report = PushReport(remote: remote)
        report.stillRunning = runs.filter { $0.isLive || $0.record.status == .running }.map(\.record.name)
        runs.removeAll { $0.isLive || $0.record.status == .running }
        return try push(runs, to: remote, report: report)
    }

    /// pre-push with `exp.autopush=true`: pushes the sealed runs whose base commit (or a commit
    /// tagged with their code) is in the history being pushed (`updates`: git's `<local ref> <local sha> <remote ref> <remote
    /// sha>` lines). Never throws: what could not be pushed is in the report's notes.
    public func autopush(remote: String, updates: String) -> PushReport? {
        do {
            guard try translatingGitErrors({ try config.bool("exp.autopush") }) == true else { return nil }
            var tips: [ObjectID] = []
            for line in updates.split(separator: "\n") {
                let words = line.split(separator: " ")
                guard words.count >= 4, let local = ObjectID(hex: String(words[1])) else { continue }
                // A push of exp's own refs (the nested one below, or `exp push`) pushes nothing more.
                if words[0].hasPrefix("refs/exp/") || words[0].hasPrefix("refs/tags/exp/") { continue }
                if local.hex != String(repeating: "0", count: 40) { tips.append(local) }
            }
            guard !tips.isEmpty else { return nil }
            let store = RunStore(workspace: self)
            var reachable: [ObjectID: Bool] = [:]
            var chosen: [RunID] = []
            // A run goes with the push when the commit it started from, or a commit that holds
            // its code (an amended or rebased one, linked by the hooks), is in the pushed history.
            for run in try store.sealedRunCommits() {
                for commit in run.commits {
                    if reachable[commit] == nil {
                        reachable[commit] = try translatingGitErrors { try repository.isAncestor(commit, ofAny: tips) }
                    }
                    if reachable[commit] == true {
                        chosen.append(run.id)
                        break
                    }
                }
            }
            guard !chosen.isEmpty else { return nil }
            return try push(try store.runs(ids: chosen), to: remote, report: PushReport(remote: remote))
        } catch {
            var report = PushReport(remote: remote)
            report.rejected.append("runs not pushed: \(error)")
            return report
        }
    }

    /// Pushes run refs and their exp tags, non-forced, in batches; parses `--porcelain`.
    private func push(_ runs: [StoredRun], to remote: String, report: PushReport) throws -> PushReport {
        var report = report
        guard !runs.isEmpty else { return report }
        let names = Dictionary(
            runs.map { (RunStore.refPrefix + $0.record.id.rawValue, $0.record.name) }, uniquingKeysWith: { a, _ in a })
        let ids = Set(runs.map(\.record.id))
        var refs = names.keys.sorted()
        let tags = try expTags().filter { ids.contains($0.runID) }.map(\.tag.reference)
        refs += tags
        var index = 0
        while index < refs.count {
            let batch = refs[index..<min(index + 500, refs.count)]
            index += batch.count
            let result = try translatingGitErrors {
                try gitCLI.run(["push", "--porcelain", "--no-verify", remote] + batch.map { "\($0):\($0)" })
            }
            var seen = Set<String>()
            for line in result.stdout.split(separator: "\n") {
                let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
                guard fields.count >= 3, let flag = fields[0].first else { continue }
                let ref = String(fields[1].split(separator: ":").first ?? "")
                seen.insert(ref)
                let label = names[ref] ?? String(ref.dropFirst("refs/tags/".count))
                switch flag {
                case "=": if names[ref] != nil { report.upToDate += 1 }
                case "!": report.rejected.append("\(label): \(fields[2])")
                default:
                    if names[ref] != nil { report.pushed.append(label) } else { report.pushedTags.append(label) }
                }
            }
            if result.status != 0 && seen.isEmpty {
                let reason = Self.gitMessage(result.stderr) ?? "git push exited \(result.status)"
                report.rejected.append("\(batch.count) refs not pushed to \(remote):\n\(reason)")
            }
        }
        return report
    }

    /// `exp pull`: fetches `refs/exp/*` and the `exp/*` tags from `remote` with the user's own
    /// git, never forced (a run recorded differently here stays as it is and is reported), never
    /// pruning, and never touching the ref of a run still going here.
    ///
    /// The fetch checks every object it receives (`-c transfer.fsckObjects=true`, for this
    /// fetch only): a run whose trees git would refuse to check out is refused at the door.
    /// When that happens the refs are fetched again in halves, so that every other run still
    /// arrives and each refused one is named in `refused` with git's message.
    public func pullRuns(from remote: String?) throws -> PullReport {
        let remote = try remote ?? defaultRemote(forPush: false)
        let store = RunStore(workspace: self)
        let before = try runAndTagRefs()
        // Runs going on here have a live folder; their refs are left out of the fetch.
        let live = ((try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/runs")) ?? [])
            .compactMap(RunID.init).sorted()
        let exclusions = live.map { "^" + RunStore.refPrefix + $0.rawValue }
        var report = PullReport(remote: remote)
        let result = try fetchChecked(
            from: remote, ["refs/exp/*:refs/exp/*", "refs/tags/exp/*:refs/tags/exp/*"] + exclusions)
        report.rejected = Self.rejectedLines(result.stderr)
        if result.status != 0 && report.rejected.isEmpty {
            guard result.stderr.contains("fsck") else {
                throw ExpError(
                    .io,
                    "could not fetch runs from \(remote):\n"
                        + (Self.gitMessage(result.stderr) ?? "git fetch exited \(result.status)"),
                    hint: "check that `git fetch \(remote)` works")
            }
            let liveRefs = Set(live.map { RunStore.refPrefix + $0.rawValue })
            let advertised = try remoteRefs(remote).filter { !liveRefs.contains($0) }
            try fetchInHalves(advertised, from: remote, into: &report)
            if report.refused.isEmpty && report.rejected.isEmpty {
                // Not one ref alone fails: the whole fetch's failure stands.
                throw ExpError(
                    .io,
                    "could not fetch runs from \(remote):\n"
                        + (Self.gitMessage(result.stderr) ?? "git fetch exited \(result.status)"),
                    hint: "check that `git -c transfer.fsckObjects=true fetch \(remote)` works")
            }
        }
        let after = try runAndTagRefs()
        for (name, target) in after.sorted(by: { $0.key < $1.key }) where before[name] != target {
            if name.hasPrefix(RunStore.refPrefix) {
                let runName = (try? store.record(at: target).name) ?? String(name.dropFirst(RunStore.refPrefix.count))
                if before[name] == nil { report.added.append(runName) } else { report.updated.append(runName) }
            } else if name.hasPrefix("refs/tags/") {
                report.tags.append(String(name.dropFirst("refs/tags/".count)))
            }
        }
        return report
    }

    /// `git fetch` of `refspecs` from `remote`, checking every object received.
    private func fetchChecked(from remote: String, _ refspecs: [String]) throws -> GitCLI.Result {
        let arguments = [
            "-c", "transfer.fsckObjects=true", "fetch", "--no-tags", "--no-prune", "--no-recurse-submodules",
            remote,
        ]
        return try translatingGitErrors { try gitCLI.run(arguments + refspecs) }
    }

    /// Fetches `refs` (each to the same name here) in halves until every ref whose objects
    /// fail git's checks is alone, and refused.
    private func fetchInHalves(_ refs: [String], from remote: String, into report: inout PullReport) throws {
        guard !refs.isEmpty else { return }
        let result = try fetchChecked(from: remote, refs.map { "\($0):\($0)" })
        let rejected = Self.rejectedLines(result.stderr)
        report.rejected += rejected
        guard result.status != 0 && rejected.isEmpty else { return }
        if refs.count == 1 {
            let reason = Self.gitMessage(result.stderr) ?? "git fetch exited \(result.status)"
            report.refused.append(RefusedReference(name: refs[0], reason: reason))
            return
        }
        let middle = refs.count / 2
        try fetchInHalves(Array(refs[..<middle]), from: remote, into: &report)
        try fetchInHalves(Array(refs[middle...]), from: remote, into: &report)
    }

    /// The run refs and exp tags `remote` has (`git ls-remote`).
    private func remoteRefs(_ remote: String) throws -> [String] {
        let result = try translatingGitErrors {
            try gitCLI.run(["ls-remote", "--refs", remote, "refs/exp/*", "refs/tags/exp/*"])
        }
        guard result.status == 0 else {
            throw ExpError(
                .io,
                "could not list the runs of \(remote):\n"
                    + (Self.gitMessage(result.stderr) ?? "git ls-remote exited \(result.status)"),
                hint: "check that `git ls-remote \(remote)` works")
        }
        return result.stdout.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t")
            guard fields.count == 2 else { return nil }
            let name = String(fields[1])
            return name.hasPrefix("refs/exp/") || name.hasPrefix("refs/tags/exp/") ? name : nil
        }.sorted()
    }

    /// The `[rejected]` lines of git fetch's stderr (a local ref that differs).
    private static func rejectedLines(_ stderr: String) -> [String] {
        stderr.split(separator: "\n").filter { $0.contains("[rejected]") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
    }

    /// git's whole stderr message, each non-empty line indented; nil when empty. A remote's
    /// messages are not trusted: the CLI's writer escapes their control characters, as it
    /// does for everything it prints.
    static func gitMessage(_ stderr: String) -> String? {
        let lines = stderr.split(omittingEmptySubsequences: true) { $0 == "\n" || $0 == "\r" }
            .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            .map { "  " + $0 }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }

    private func runAndTagRefs() throws -> [String: ObjectID] {
        var refs: [String: ObjectID] = [:]
        for glob in ["refs/exp/*", "refs/tags/exp/*"] {
            for reference in try translatingGitErrors({ try repository.references(matching: glob) }) {
                refs[reference.name] = reference.target
            }
        }
        return refs
    }
}
