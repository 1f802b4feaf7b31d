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
    /// What brings back the state before this checkout: the autosave, or the run or autosave
    /// the working tree still equalled (then nothing needed saving); nil when nothing changed.
    public var wayBack: StoredRun?
    /// Files the autosave keeps outside git (secrets, large and ignored files that stood where
    /// the checkout could change them), and the folder with their copies.
    public var savedFiles: [SavedFile] = []
    public var savedFilesFolder: String?
    public var head: CheckoutHead
    /// A note for the user (e.g. the base branch has moved on, so HEAD is detached).
    public var note: String?
    /// Set when HEAD is detached because the run's base branch has moved on or is gone: the
    /// branch it started on (a new branch can name the detached state).
    public var branchMovedOn: String?
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
            throw ExpError(
                .usage, "a new worktree and a list of paths cannot be asked for together",
                hint: "ask for one or the other",
                reason: .cannotCombine(.folder, .paths))
        }
        if let into = request.into {
            return try checkoutIntoWorktree(run, folder: into, branch: request.branch)
        }
        // Every path of the run's trees passes git's checks before anything is written.
        _ = try verifiedFiles(of: run)
        if let operation = repository.operationInProgress() {
            throw ExpError(
                .conflict, "a \(operation) is in progress; checking out a run now could lose its state",
                hint: "finish it or abort it first (`git \(operation) --continue` or `git \(operation) --abort`)")
        }
        let only = try request.paths.isEmpty ? nil : repositoryPaths(request.paths, in: run)
        if only != nil && request.branch != nil {
            throw ExpError(
                .usage, "a new branch and a list of paths cannot be asked for together",
                hint: "ask for one or the other",
                reason: .cannotCombine(.branch, .paths))
        }
        if let branch = request.branch { try validateNewBranch(branch) }
        if only == nil, run.record.base.commit == nil, request.branch == nil {
            let branch = run.record.base.branch ?? "main"
            if let name = ReferenceName("refs/heads/" + branch),
                try translatingGitErrors({ try repository.resolve(name) }) != nil
            {
                throw ExpError(
                    .conflict, "run \(run.record.name) started before the first commit, and \(branch) has commits now",
                    hint: "check it out on a new, empty branch", reason: .needsNewBranch(run: run.record.name))
            }
        }

        let files = AutosaveFiles(workspace: self)
        let inScope = { (path: String) in
            only.map { $0.contains { path == $0 || path.hasPrefix($0 + "/") || $0 == "." } } ?? true
        }
        let targetSaved = try files.list(of: run).filter { inScope($0.path) }
        // The state the last checkout brought: while the tree still equals it, it is the way back.
        let previous = lastCheckout()
        let last =
            only == nil
            ? previous.flatMap { $0.target == run.record.id.rawValue ? nil : store.stored(id: $0.target) } : nil
        let lastSaved = try last.map { try files.list(of: $0) } ?? []
        let savedPaths = Set(targetSaved.map(\.path))
        let (current, leftOutTracked) = try takeCheckoutSnapshot(
            keepingOut: savedPaths.union(lastSaved.map(\.path)).union(previous?.kept ?? []))
        let headTree = try translatingGitErrors { try current.parent.map { try repository.tree(ofCommit: $0) } }
        var plan = try RestorePlan.make(
            repository: repository, current: current.tree, target: run.record.snapshot.tree, head: headTree,
            root: repository.workingDirectory, only: only)
        if only == nil { try refuseToDropStagedWork(current: current.tree, head: headTree) }
        // Saved files go back from their copies, not from the tree.
        plan.write.removeAll(where: savedPaths.contains)
        plan.delete.removeAll(where: savedPaths.contains)
        plan.dirty.removeAll(where: savedPaths.contains)
        plan.blocked.removeAll { savedPaths.contains($0.path) }
        let (currentFiles, headFiles, targetFiles) = try translatingGitErrors {
            (
                try repository.treeFiles(current.tree), try headTree.map { try repository.treeFiles($0) } ?? [:],
                try repository.treeFiles(run.record.snapshot.tree)
            )
        }
        // Tracked files changed on disk whose content stays out of git (secrets, large files):
        // restored like any tracked file, their content kept outside git by the autosave. Those
        // the last checkout left in place (they were left out then, and git tracks them only
        // since its index reset) stay as they are.
        let kept = Set(previous?.kept ?? [])
        for path in leftOutTracked where !savedPaths.contains(path) && inScope(path) {
            if kept.contains(path) {
                if targetFiles[path] == nil {
                    plan.blocked.append(UnrestoredPath(path: path, reason: "a file exp keeps out of git is there"))
                }
                continue
            }
            plan.blocked.removeAll { $0.path == path }
            if let entry = targetFiles[path] {
                if worktreeFile(at: path, holds: entry) { continue }
                plan.write.append(path)
            } else {
                plan.delete.append(path)
            }
            plan.dirty.append(path)
        }
        let savedStates = try targetSaved.map { ($0, try files.state(of: $0, in: run.record.id)) }
        // A different file where a saved one goes back is work to keep, unless HEAD has it.
        let savedDirty = savedStates.filter { file, state in
            state == .different && !(currentFiles[file.path] != nil && currentFiles[file.path] == headFiles[file.path])
        }.map(\.0.path)

        // Nothing is lost when this checkout changes no file, or when the tree is exactly the
        // state the last checkout brought (that run or autosave brings it back).
        let changesNothing =
            plan.write.isEmpty && plan.delete.isEmpty
            && savedStates.allSatisfy { $0.1 == .same || $0.1 == .copyMissing }
        let reproducedBy =
            changesNothing
            ? nil
            : try last.flatMap { last in
                try reproduces(
                    last, saved: lastSaved, current: current.tree, head: headTree, savedDirty: savedDirty,
                    leftOutTracked: leftOutTracked.filter { !kept.contains($0) && !savedPaths.contains($0) })
                    ? last : nil
            }
        var dirty = changesNothing || reproducedBy != nil ? [] : (plan.dirty + savedDirty).sorted()
        if only == nil, let head = current.parent, head != run.record.base.commit || request.branch != nil,
            repository.isHeadDetached, !(try translatingGitErrors { try repository.isReachableFromReferences(head) })
        {
            dirty.append("HEAD (commit \(head.short()) is on no branch)")
        }
        if !dirty.isEmpty && !request.force {
            throw ExpError(
                .conflict,
                "checking out \(run.record.name) would change \(dirty.count) path\(dirty.count == 1 ? "" : "s") with uncommitted work",
                hint: "save your current state as an autosave first; checking the autosave out brings it back",
                reason: .checkoutBlocked(run: run.record.name, paths: dirty))
        }
        var autosave: StoredRun?
        var saved: [SavedFile] = []
        if request.force && (!dirty.isEmpty || !(changesNothing || reproducedBy != nil)) {
            let touched = plan.write + plan.delete + plan.blocked.map(\.path) + targetSaved.map(\.path)
            (autosave, saved) = try store.createAutosave(
                current, saving: try leftOutFiles(at: touched, current: currentFiles, skipped: current.skipped))
        }
        do {
            var result = try applyCheckout(
                run, plan: plan, only: only, branch: request.branch, autosave: autosave, saved: savedStates)
            result.wayBack = autosave ?? reproducedBy
            result.savedFiles = saved
            result.savedFilesFolder = saved.isEmpty ? nil : autosave.map { files.folder(of: $0.record.id) }
            if only == nil {
                // A checkout that changed nothing keeps the way back printed before it.
                let carried = changesNothing && result.wayBack == nil ? previous : nil
                try? recordLastCheckout(
                    LastCheckout(
                        worktree: repository.workingDirectory, target: run.record.id.rawValue,
                        wayBack: result.wayBack?.record.id.rawValue ?? carried?.wayBack,
                        printedAt: result.wayBack != nil ? context.now() : carried?.printedAt,
                        kept: result.notRestored.map(\.path).filter { path in
                            var info = stat()
                            return lstat(repository.workingDirectory + "/" + path, &info) == 0
                        }))
            }
            return result
        } catch let error as ExpError {
            guard let autosave else { throw error }
            throw ExpError(
                error.kind, error.message, hint: "your state before the checkout is saved as \(autosave.record.name)",
                reason: .savedBeforeFailure(autosave: autosave.record.name))
        }
    }

    /// Whether checking out `last` now would change no file: then it brings back the current
    /// state, and no autosave is needed. Different files standing where the target's saved
    /// files go back must be among `last`'s own saved files, unchanged, and tracked files left
    /// out of the current tree (`leftOutTracked`) must hold `last`'s content.
    private func reproduces(
        _ last: StoredRun, saved: [SavedFile], current: ObjectID, head: ObjectID?, savedDirty: [String],
        leftOutTracked: [String]
    ) throws -> Bool {
        let plan = try RestorePlan.make(
            repository: repository, current: current, target: last.record.snapshot.tree, head: head,
            root: repository.workingDirectory, only: nil)
        let savedPaths = Set(saved.map(\.path))
        guard plan.write.allSatisfy(savedPaths.contains), plan.delete.allSatisfy(savedPaths.contains) else {
            return false
        }
        let files = AutosaveFiles(workspace: self)
        for file in saved where (try? files.state(of: file, in: last.record.id)) != .same { return false }
        let lastFiles = try translatingGitErrors { try repository.treeFiles(last.record.snapshot.tree) }
        for path in leftOutTracked where !savedPaths.contains(path) {
            guard let entry = lastFiles[path], worktreeFile(at: path, holds: entry) else { return false }
        }
        return savedDirty.allSatisfy(savedPaths.contains)
    }

    /// The files snapshots leave out that stand at `paths` or at a folder above one of them:
    /// what an autosave must keep outside git so that its way back finds them again.
    private func leftOutFiles(at paths: [String], current: [String: TreeFileEntry], skipped: [SkippedFile]) throws
        -> [(path: String, reason: SavedFile.Reason)]
    {
        let policy = try snapshotPolicy()
        let unreadable = Set(skipped.filter { $0.reason == .unreadable }.map(\.path))
        var seen = Set<String>()
        var found: [(path: String, reason: SavedFile.Reason)] = []
        for path in paths {
            let parts = path.split(separator: "/")
            for end in 1...max(parts.count, 1) {
                let candidate = parts.prefix(end).joined(separator: "/")
                guard seen.insert(candidate).inserted, current[candidate] == nil, !unreadable.contains(candidate)
                else { continue }
                var info = stat()
                guard lstat(repository.workingDirectory + "/" + candidate, &info) == 0 else { continue }
                let type = info.st_mode & S_IFMT
                guard type == S_IFREG || type == S_IFLNK else { continue }
                let reason: SavedFile.Reason =
                    SnapshotPolicy.looksSecret(candidate)
                    ? .secret : Int64(info.st_size) > policy.maxFileSize ? .tooLarge : .ignored
                found.append((candidate, reason))
            }
        }
        return found.sorted { $0.path < $1.path }
    }

    private func applyCheckout(
        _ run: StoredRun, plan: RestorePlan, only: [String]?, branch: String?, autosave: StoredRun?,
        saved: [(SavedFile, SavedFileState)]
    ) throws -> CheckoutResult {
        let target = run.record.snapshot.tree
        let executor = RestoreExecutor(repository: repository, root: repository.workingDirectory)
        var failed = executor.apply(plan, target: target)
        var changed = (plan.write + plan.delete).filter { path in !failed.contains { $0.path == path } }
        let files = AutosaveFiles(workspace: self)
        for (file, state) in saved {
            switch state {
            case .same: continue
            case .copyMissing:
                failed.append(
                    UnrestoredPath(
                        path: file.path, reason: "its copy is not in \(files.folder(of: run.record.id)); left as it is")
                )
            case .absent, .different:
                do {
                    try files.putBack(file, from: run.record.id)
                    changed.append(file.path)
                } catch let error as ExpError {
                    failed.append(UnrestoredPath(path: file.path, reason: error.message))
                }
            }
        }
        var result = CheckoutResult(
            run: run, autosave: autosave, head: .unchanged, note: nil, changed: changed.sorted(),
            notRestored: (plan.blocked + failed).sorted { $0.path < $1.path }, worktree: repository.workingDirectory)
        guard only == nil else { return result }
        let base = run.record.base
        try translatingGitErrors {
            try repository.resetIndex(to: try base.commit.map { try repository.tree(ofCommit: $0) })
        }
        (result.head, result.note, result.branchMovedOn) = try moveHead(repository, base: base, newBranch: branch)
        return result
    }

    /// Points HEAD of `repo` at the run's base: a new branch, the base branch when it still
    /// points at the base commit, else detached. Returns the new HEAD, a note for the user, and
    /// the base branch when HEAD is detached because that branch has moved on or is gone.
    private func moveHead(_ repo: Repository, base: RunRecord.Base, newBranch: String?) throws -> (
        CheckoutHead, String?, String?
    ) {
        try translatingGitErrors {
            guard let commit = base.commit else {
                let branch = newBranch ?? base.branch ?? "main"
                try repo.setHead(branch: "refs/heads/" + branch)
                return (.unborn(branch), nil, nil)
            }
            if let newBranch {
                try repo.createBranch(newBranch, at: commit)
                try repo.setHead(branch: "refs/heads/" + newBranch)
                return (.branch(newBranch), nil, nil)
            }
            if let branch = base.branch, let name = ReferenceName("refs/heads/" + branch) {
                let tip = try repo.resolve(name)
                if tip == commit {
                    do {
                        try repo.setHead(branch: name.rawValue)
                        return (.branch(branch), nil, nil)
                    } catch {
                        // Checked out in another worktree: git refuses to share a branch.
                        try repo.setHeadDetached(at: commit)
                        return (.detached(commit), "HEAD is detached at \(commit.short()): \(error)", nil)
                    }
                }
                try repo.setHeadDetached(at: commit)
                let why = tip == nil ? "no longer exists" : "has moved on"
                return (
                    .detached(commit),
                    "branch \(branch) \(why); HEAD is detached at \(commit.short())", branch
                )
            }
            try repo.setHeadDetached(at: commit)
            return (.detached(commit), nil, nil)
        }
    }

    /// Adds a linked worktree at `folder` with the run's code, leaving this worktree alone.
    func checkoutIntoWorktree(_ run: StoredRun, folder: String, branch: String?) throws -> CheckoutResult {
        guard let commit = run.record.base.commit else {
            throw ExpError(
                .conflict, "run \(run.record.name) started before the first commit; it cannot get its own worktree",
                hint: "check it out in this worktree", reason: .needsThisWorktree(run: run.record.name))
        }
        let path = folder.hasPrefix("/") ? folder : context.workingDirectory + "/" + folder
        _ = try verifiedFiles(of: run)
        if let names = try? FileManager.default.contentsOfDirectory(atPath: path), !names.isEmpty {
            throw ExpError(.conflict, "\(path) exists and is not empty", hint: "choose a new or empty folder")
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
        var linkedContext = context
        linkedContext.workingDirectory = path
        let linked = try Workspace(context: linkedContext)
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
                throw ExpError(.usage, "\(given) is outside the repository", hint: "name paths inside \(root)")
            }
            let known =
                relative == "." || files[relative] != nil || files.keys.contains { $0.hasPrefix(relative + "/") }
                || FileManager.default.fileExists(atPath: root + "/" + relative)
            if !known {
                throw ExpError(
                    .notFound, "\(given) is not in run \(run.record.name)",
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
                .conflict, "the index has unresolved conflicts",
                hint: "resolve them (or `git reset`) first, then check out")
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
            .conflict,
            "staged changes differ from your files and would be lost:\n"
                + staged.prefix(20).map { "  " + $0 }.joined(separator: "\n"),
            hint: "commit them, or `git stash` them, first (an autosave keeps files, not the index)")
    }

    private func validateNewBranch(_ branch: String) throws {
        guard let name = ReferenceName("refs/heads/" + branch) else {
            throw ExpError(.usage, "'\(branch)' is not a valid branch name")
        }
        if try translatingGitErrors({ try repository.resolve(name) }) != nil {
            throw ExpError(.conflict, "branch \(branch) already exists", hint: "choose another branch name")
        }
    }
}

extension RunStore {
    /// `refs/exp/autosave/`.
    public static let autosavePrefix = "refs/exp/autosave/"

    /// Saves `snapshot` (the current state) as an autosave: a run-like record commit with
    /// status `autosave` on `refs/exp/autosave/<id>`.
    ///
    /// The files at `saving` (left out of snapshots) are copied outside git first, under
    /// `<git common dir>/exp/autosaves/<id>/`, and listed in the record's `saved-files.json`.
    func createAutosave(_ snapshot: Snapshot, saving: [(path: String, reason: SavedFile.Reason)] = []) throws
        -> (StoredRun, [SavedFile])
    {
        let now = workspace.context.now()
        let id = try newRunID(at: now)
        let files = AutosaveFiles(workspace: workspace)
        let saved = try files.save(saving, for: id)
        let record = RunRecord(
            id: id, name: "autosave-" + id.short, status: .autosave, message: "saved before exp checkout",
            exitCode: nil, signal: nil, error: nil, argv: [], cwd: workspace.relativeWorkingDirectory(), startedAt: now,
            endedAt: now, durationSeconds: 0, host: workspace.context.host, user: workspace.context.user,
            base: RunRecord.Base(commit: snapshot.parent, branch: snapshot.branch),
            snapshot: RunRecord.SnapshotSummary(snapshot), params: [:], environment: nil, variables: [:], metrics: [:],
            skippedMetricLines: 0, links: RunRecord.Links(), reproduces: nil, supervisor: nil)
        var recordFiles: [String: BlobSource] = [LiveFolder.metricsFile: .bytes([]), LiveFolder.outputFile: .bytes([])]
        if !saved.isEmpty {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            recordFiles[AutosaveFiles.listName] = .bytes(
                [UInt8](try encoder.encode(SavedFilesList(files: saved))) + [UInt8(ascii: "\n")])
        }
        do {
            let commit = try writeRecordCommit(record, files: recordFiles)
            guard let name = ReferenceName(Self.autosavePrefix + id.rawValue) else {
                throw ExpError(.internal, "could not name the autosave \(id)")
            }
            try translatingGitErrors {
                try repository.updateReference(name, to: commit, expecting: nil, message: "exp checkout: autosave")
            }
            return (StoredRun(record: record, commit: commit, isLive: false), saved)
        } catch {
            try? files.remove(id)
            throw error
        }
    }

    /// The run or autosave with exactly this id, read from its ref; nil when there is none.
    func stored(id text: String) -> StoredRun? {
        guard let id = RunID(text) else { return nil }
        for prefix in [Self.autosavePrefix, Self.refPrefix] {
            guard let name = ReferenceName(prefix + id.rawValue),
                let commit = try? repository.resolve(name), let record = try? record(at: commit)
            else { continue }
            return StoredRun(record: record, commit: commit, isLive: false)
        }
        return nil
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
