public import ExpGit
import Foundation

/// What `exp checkout` was asked to do.
public struct CheckoutRequest: Sendable {
    /// The run (or autosave) whose code to bring back.
    public var run: RunRef
    /// Save the current state under `refs/exp/autosave/<id>` and go ahead even when local
    /// work would be changed.
    public var force: Bool
    /// `--branch`: create this branch at the run's base commit and check it out.
    public var branch: String?
    /// `--into`: add a linked worktree at this folder instead of changing the current one.
    public var into: String?
    /// `-- PATH…`: only these paths (relative to the context's folder), HEAD and index untouched.
    public var paths: [String]

    public init(run: RunRef, force: Bool = false, branch: String? = nil, into: String? = nil, paths: [String] = []) {
        self.run = run
        self.force = force
        self.branch = branch
        self.into = into
        self.paths = paths
    }
}

/// Where HEAD ended up after a checkout.
public enum CheckoutHead: Sendable, Equatable {
    /// Not moved (`-- PATH`).
    case unchanged
    /// On this branch (short name).
    case branch(String)
    /// Detached at this commit.
    case detached(ObjectID)
    /// On an unborn branch (the run started before the first commit).
    case unborn(String)
}

/// What `exp checkout` did.
public struct CheckoutResult: Sendable {
    /// The run (or autosave) checked out.
    public var run: StoredRun
    /// The state saved first (with `--force`); `exp checkout <name>` brings it back.
    public var autosave: StoredRun?
    public var head: CheckoutHead
    /// A note for the user (e.g. the base branch has moved on, so HEAD is detached).
    public var note: String?
    /// Paths written or deleted.
    public var changed: [String]
    /// Paths left as they were, and why.
    public var notRestored: [UnrestoredPath]
    /// The worktree that holds the run's code (the current one, or the `--into` folder).
    public var worktree: String
}

extension Workspace {
    /// Brings back the code of a run: HEAD at its base commit (on its branch when the branch
    /// still points there), the working tree equal to its snapshot, the index equal to the
    /// base commit's tree. Files that snapshots leave out (ignored, secrets, large,
    /// `.expignore`d) are never written or deleted.
    ///
    /// Refuses, changing nothing, when uncommitted work would be changed, unless
    /// `request.force`: then the current state is saved as an autosave first.
    public func checkout(_ request: CheckoutRequest) throws -> CheckoutResult {
        let store = RunStore(workspace: self)
        let run = try store.resolveRunOrAutosave(request.run)
        if request.into != nil && !request.paths.isEmpty {
            throw ExpError("--into and paths cannot be used together", hint: "use one or the other", exitCode: 2)
        }
        if let into = request.into {
            return try checkoutIntoWorktree(run, folder: into, branch: request.branch)
        }
        // Every path of the run's trees passes git's checks before anything is written.
        _ = try verifiedFiles(of: run)
        if let operation = repository.operationInProgress() {
            throw ExpError(
                "a \(operation) is in progress; checking out a run now could lose its state",
                hint: "finish it or abort it first (`git \(operation) --continue` or `--abort`)")
        }
        let only = try request.paths.isEmpty ? nil : repositoryPaths(request.paths, in: run)
        if only != nil && request.branch != nil {
            throw ExpError("--branch and paths cannot be used together", hint: "use one or the other", exitCode: 2)
        }
        if let branch = request.branch { try validateNewBranch(branch) }
        if only == nil, run.record.base.commit == nil, request.branch == nil {
            let branch = run.record.base.branch ?? "main"
            if let name = ReferenceName("refs/heads/" + branch),
                try translatingGitErrors({ try repository.resolve(name) }) != nil
            {
                throw ExpError(
                    "run \(run.record.name) started before the first commit, and \(branch) has commits now",
                    hint: "check it out on a new, empty branch: exp checkout \(run.record.name) --branch NAME")
            }
        }

        let current = try takeSnapshot(message: "exp autosave")
        let headTree = try translatingGitErrors { try current.parent.map { try repository.tree(ofCommit: $0) } }
        let plan = try RestorePlan.make(
            repository: repository, current: current.tree, target: run.record.snapshot.tree, head: headTree,
            root: repository.workingDirectory, only: only)
        if only == nil { try refuseToDropStagedWork(current: current.tree, head: headTree) }
        var dirty = plan.dirty
        if only == nil, let head = current.parent, head != run.record.base.commit || request.branch != nil,
            repository.isHeadDetached, !(try translatingGitErrors { try repository.isReachableFromReferences(head) })
        {
            dirty.append("HEAD (commit \(head.short()) is on no branch)")
        }
        if !dirty.isEmpty && !request.force {
            let listed = dirty.prefix(20).map { "  " + $0 }.joined(separator: "\n")
            let more = dirty.count > 20 ? "\n  … and \(dirty.count - 20) more" : ""
            throw ExpError(
                "checking out \(run.record.name) would change \(dirty.count) path\(dirty.count == 1 ? "" : "s") with uncommitted work:\n"
                    + listed + more,
                hint: "use --force to save your current state first (exp checkout autosave-… brings it back)")
        }
        let autosave = request.force ? try store.createAutosave(current) : nil
        do {
            return try applyCheckout(run, plan: plan, only: only, branch: request.branch, autosave: autosave)
        } catch let error as ExpError {
            guard let autosave else { throw error }
            throw ExpError(
                error.message, hint: "your state before the checkout is saved: exp checkout \(autosave.record.name)")
        }
    }

    private func applyCheckout(
        _ run: StoredRun, plan: RestorePlan, only: [String]?, branch: String?, autosave: StoredRun?
    ) throws -> CheckoutResult {
        let target = run.record.snapshot.tree
        let executor = RestoreExecutor(repository: repository, root: repository.workingDirectory)
        let failed = executor.apply(plan, target: target)
        var result = CheckoutResult(
            run: run, autosave: autosave, head: .unchanged, note: nil,
            changed: (plan.write + plan.delete).sorted().filter { path in !failed.contains { $0.path == path } },
            notRestored: (plan.blocked + failed).sorted { $0.path < $1.path }, worktree: repository.workingDirectory)
        guard only == nil else { return result }
        let base = run.record.base
        try translatingGitErrors {
            try repository.resetIndex(to: try base.commit.map { try repository.tree(ofCommit: $0) })
        }
        (result.head, result.note) = try moveHead(repository, base: base, newBranch: branch)
        return result
    }

    /// Points HEAD of `repo` at the run's base: a new branch, the base branch when it still
    /// points at the base commit, else detached.
    private func moveHead(_ repo: Repository, base: RunRecord.Base, newBranch: String?) throws -> (
        CheckoutHead, String?
    ) {
        try translatingGitErrors {
            guard let commit = base.commit else {
                let branch = newBranch ?? base.branch ?? "main"
                try repo.setHead(branch: "refs/heads/" + branch)
                return (.unborn(branch), nil)
            }
            if let newBranch {
                try repo.createBranch(newBranch, at: commit)
                try repo.setHead(branch: "refs/heads/" + newBranch)
                return (.branch(newBranch), nil)
            }
            if let branch = base.branch, let name = ReferenceName("refs/heads/" + branch) {
                let tip = try repo.resolve(name)
                if tip == commit {
                    do {
                        try repo.setHead(branch: name.rawValue)
                        return (.branch(branch), nil)
                    } catch {
                        // Checked out in another worktree: git refuses to share a branch.
                        try repo.setHeadDetached(at: commit)
                        return (.detached(commit), "HEAD is detached at \(commit.short()): \(error)")
                    }
                }
                try repo.setHeadDetached(at: commit)
                let why = tip == nil ? "no longer exists" : "has moved on"
                return (
                    .detached(commit),
                    "branch \(branch) \(why); HEAD is detached at \(commit.short()) (use --branch to name it)"
                )
            }
            try repo.setHeadDetached(at: commit)
            return (.detached(commit), nil)
        }
    }

    /// Adds a linked worktree at `folder` with the run's code, leaving this worktree alone.
    func checkoutIntoWorktree(_ run: StoredRun, folder: String, branch: String?) throws -> CheckoutResult {
        guard let commit = run.record.base.commit else {
            throw ExpError(
                "run \(run.record.name) started before the first commit; it cannot get its own worktree",
                hint: "use `exp checkout \(run.record.name)` in this worktree")
        }
        let path = folder.hasPrefix("/") ? folder : context.workingDirectory + "/" + folder
        _ = try verifiedFiles(of: run)
        if let names = try? FileManager.default.contentsOfDirectory(atPath: path), !names.isEmpty {
            throw ExpError("\(path) exists and is not empty", hint: "choose a new folder for --into")
        }
        if let branch { try validateNewBranch(branch) }
        var name = URL(fileURLWithPath: path).lastPathComponent
        let taken = Set(try translatingGitErrors { try repository.worktreeNames() })
        if taken.contains(name) || ReferenceName("refs/heads/exp-worktree-" + name) == nil {
            name = "exp-" + run.record.id.short
        }
        try translatingGitErrors {
            if let branch { try repository.createBranch(branch, at: commit) }
            try repository.addWorktree(name: name, path: path, branch: branch, commit: commit)
        }
        let linked = try Workspace(
            context: ExpContext(workingDirectory: path, environment: context.environment, clock: context.clock))
        let target = run.record.snapshot.tree
        let baseTree = try translatingGitErrors { try linked.repository.tree(ofCommit: commit) }
        let plan = try RestorePlan.make(
            repository: linked.repository, current: baseTree, target: target, head: baseTree,
            root: linked.repository.workingDirectory, only: nil)
        let failed = RestoreExecutor(repository: linked.repository, root: linked.repository.workingDirectory)
            .apply(plan, target: target)
        return CheckoutResult(
            run: run, autosave: nil, head: branch.map { .branch($0) } ?? .detached(commit), note: nil,
            changed: (plan.write + plan.delete).sorted(), notRestored: plan.blocked + failed,
            worktree: linked.repository.workingDirectory)
    }

    /// Turns paths given on the command line (relative to the context's folder) into paths
    /// relative to the repository root; each must name something in the run's snapshot or in
    /// the working tree.
    func repositoryPaths(_ paths: [String], in run: StoredRun) throws -> [String] {
        let root = resolvedRoot
        let here = resolvedWorkingDirectory
        let files = try verifiedFiles(of: run)
        return try paths.map { given in
            let absolute = given.hasPrefix("/") ? given : here + "/" + given
            let standard = URL(fileURLWithPath: absolute).standardizedFileURL.path
            let relative: String
            if standard == root {
                relative = "."
            } else if standard.hasPrefix(root + "/") {
                relative = String(standard.dropFirst(root.count + 1))
            } else {
                throw ExpError("\(given) is outside the repository", hint: "name paths inside \(root)")
            }
            let known =
                relative == "." || files[relative] != nil || files.keys.contains { $0.hasPrefix(relative + "/") }
                || FileManager.default.fileExists(atPath: root + "/" + relative)
            if !known {
                throw ExpError(
                    "\(given) is not in run \(run.record.name)",
                    hint: "`git ls-tree -r --name-only \(run.record.snapshot.commit.short())` lists its files")
            }
            return relative
        }
    }

    /// Throws when the index holds staged content that neither HEAD nor the working tree
    /// has (a file staged, then edited again): resetting the index would lose it, and an autosave (a working-tree snapshot)
    /// could not bring it back.
    private func refuseToDropStagedWork(current: ObjectID, head: ObjectID?) throws {
        guard let index = try translatingGitErrors({ try repository.indexTree() }) else {
            throw ExpError(
                "the index has unresolved conflicts", hint: "resolve them (or `git reset`) first, then check out")
        }
        guard index != (head ?? .emptyTree), index != current else { return }
        let files = try translatingGitErrors {
            (
                try repository.treeFiles(index), try head.map { try repository.treeFiles($0) } ?? [:],
                try repository.treeFiles(current)
            )
        }
        let staged = files.0.keys.sorted().filter { path in
            files.0[path] != nil && files.0[path] != files.1[path] && files.0[path] != files.2[path]
        }
        guard !staged.isEmpty else { return }
        throw ExpError(
            "staged changes differ from your files and would be lost:\n"
                + staged.prefix(20).map { "  " + $0 }.joined(separator: "\n"),
            hint: "commit them, or `git stash` them, first (--force saves files, not the index)")
    }

    private func validateNewBranch(_ branch: String) throws {
        guard let name = ReferenceName("refs/heads/" + branch) else {
            throw ExpError("'\(branch)' is not a valid branch name", exitCode: 2)
        }
        if try translatingGitErrors({ try repository.resolve(name) }) != nil {
            throw ExpError("branch \(branch) already exists", hint: "choose another name for --branch")
        }
    }
}

extension RunStore {
    /// `refs/exp/autosave/`.
    public static let autosavePrefix = "refs/exp/autosave/"

    /// Saves `snapshot` (the current state) as an autosave: a run-like record commit with
    /// status `autosave` on `refs/exp/autosave/<id>`.
    func createAutosave(_ snapshot: Snapshot) throws -> StoredRun {
        let now = workspace.context.now()
        let id = RunID.generate(at: now)
        let record = RunRecord(
            id: id, name: "autosave-" + id.short, status: .autosave, message: "saved before exp checkout",
            exitCode: nil, signal: nil, error: nil, argv: [], cwd: workspace.relativeWorkingDirectory(), startedAt: now,
            endedAt: now, durationSeconds: 0, host: ProcessFacts.hostName,
            user: ProcessFacts.userName(environment: workspace.context.environment),
            base: RunRecord.Base(commit: snapshot.parent, branch: snapshot.branch),
            snapshot: RunRecord.SnapshotSummary(snapshot), params: [:], environment: nil, variables: [:], metrics: [:],
            skippedMetricLines: 0, links: RunRecord.Links(), reproduces: nil, supervisor: nil)
        let commit = try writeRecordCommit(record, files: ["metrics.jsonl": .bytes([]), "output.log": .bytes([])])
        guard let name = ReferenceName(Self.autosavePrefix + id.rawValue) else {
            throw ExpError("could not name the autosave \(id)")
        }
        try translatingGitErrors {
            try repository.updateReference(name, to: commit, expecting: nil, message: "exp checkout: autosave")
        }
        return StoredRun(record: record, commit: commit, isLive: false)
    }

    /// The run or autosave `reference` names: autosaves by name or id prefix first, then runs.
    public func resolveRunOrAutosave(_ reference: RunRef) throws -> StoredRun {
        if case .text(let text) = reference {
            let saves = try allAutosaves()
            if let byName = saves.first(where: { $0.record.name == text }) { return byName }
            let byPrefix = saves.filter { $0.record.id.rawValue.hasPrefix(text.lowercased()) }
            if byPrefix.count == 1, (try? resolve(reference)) == nil { return byPrefix[0] }
        }
        return try resolve(reference, includeAutosaves: true)
    }
}
