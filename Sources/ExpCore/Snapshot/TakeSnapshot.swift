import ExpGit
import Foundation

extension Workspace {
    /// The snapshot policy from config: `exp.maxFileSize` and the root `.expignore`.
    public func snapshotPolicy() throws -> SnapshotPolicy {
        let maxSize = try translatingGitErrors(hint: "fix the value with `git config exp.maxFileSize 10m`") {
            try config.size("exp.maxFileSize")
        }
        var rules: [String] = []
        let ignoreFile = repository.workingDirectory + "/.expignore"
        if let text = try? String(contentsOfFile: ignoreFile, encoding: .utf8) {
            rules = text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        }
        return SnapshotPolicy(maxFileSize: maxSize ?? SnapshotPolicy.defaultMaxFileSize, ignoreRules: rules)
    }

    /// Captures the working tree as a commit without touching the index, HEAD, any branch,
    /// the stash or any file.
    ///
    /// Tracked changes, deletions and untracked, not-ignored files are taken. Untracked files
    /// that are too large or named like secrets are not, and are listed in `skipped`;
    /// untracked paths matched by `.expignore` are left out silently, as ignored files are.
    /// When the result equals HEAD's tree, HEAD itself is the snapshot.
    public func takeSnapshot(message: String = "exp snapshot") throws -> Snapshot {
        let policy = try snapshotPolicy()
        return try translatingGitErrors {
            try takeSnapshot(policy: policy, message: message)
        }
    }

    /// The current state as `exp checkout` sees it before changing anything: a snapshot that
    /// also leaves out tracked files whose changed content must never enter a commit (named like
    /// a secret, or larger than `exp.maxFileSize`), and every path in `keepingOut` (files an
    /// autosave keeps outside git). No blob is written for any file left out.
    ///
    /// Returns the snapshot and the tracked paths it left out that way.
    func takeCheckoutSnapshot(keepingOut: Set<String>) throws -> (snapshot: Snapshot, leftOutTracked: [String]) {
        let policy = try snapshotPolicy()
        return try translatingGitErrors {
            var leftOut: [String]? = []
            let snapshot = try takeSnapshot(
                policy: policy, message: "exp autosave", keepingOut: keepingOut, leftOutTracked: &leftOut)
            return (snapshot, leftOut ?? [])
        }
    }

    private func takeSnapshot(policy: SnapshotPolicy, message: String) throws -> Snapshot {
        var unused: [String]? = nil
        return try takeSnapshot(policy: policy, message: message, keepingOut: [], leftOutTracked: &unused)
    }

    /// With `leftOutTracked` non-nil, tracked files changed on disk that look secret or are too
    /// large are left out of the tree (and listed there); paths in `keepingOut` are never staged.
    private func takeSnapshot(
        policy: SnapshotPolicy, message: String, keepingOut: Set<String>, leftOutTracked: inout [String]?
    ) throws -> Snapshot {
        let repo = repository
        let head = try repo.headCommit()
        let branch = try repo.headBranch().map { $0.replacingOccurrences(of: "refs/heads/", with: "") }
        let index = try repo.readIndex()
        let changes = try repo.workingTreeChanges(
            in: index,
            ignoring: IgnoreSources(excludesFile: excludesFile(), extraRules: policy.ignoreRules))
        var updates: [IndexUpdate] = []
        var skipped: [SkippedFile] = []
        updates.reserveCapacity(changes.count)
        for change in changes {
            // Tracked files the scan could not rule out as changed: compared with the index's
            // blob here, without writing one, when their content must not enter git.
            let keptOut = keepingOut.contains(change.path)
            if change.change == .modified && (keptOut || leftOutTracked != nil),
                keptOut || SnapshotPolicy.looksSecret(change.path) || (fileSize(change.path) ?? 0) > policy.maxFileSize,
                let entry = index.file(at: change.path), worktreeFile(at: change.path, holds: entry)
            {
                continue
            }
            if keptOut {
                // Never staged; a tracked file drops out of the tree, as a deleted one would.
                if change.change != .untracked { updates.append(.remove(change.path)) }
                continue
            }
            switch change.change {
            case .modified where leftOutTracked != nil:
                let size = fileSize(change.path)
                if SnapshotPolicy.looksSecret(change.path) {
                    skipped.append(SkippedFile(path: change.path, size: size, reason: .secret))
                } else if let size, size > policy.maxFileSize {
                    skipped.append(SkippedFile(path: change.path, size: size, reason: .tooLarge))
                } else {
                    updates.append(.add(change.path))
                    continue
                }
                updates.append(.remove(change.path))
                leftOutTracked?.append(change.path)
            case .modified, .conflicted:
                updates.append(.add(change.path))
            case .deleted:
                updates.append(.remove(change.path))
            case .untracked:
                if change.path.hasSuffix("/") {  // a nested repository: added as a gitlink
                    updates.append(.add(change.path))
                    continue
                }
                let size = change.size
                if SnapshotPolicy.looksSecret(change.path) {
                    skipped.append(SkippedFile(path: change.path, size: size, reason: .secret))
                } else if let size, size > policy.maxFileSize {
                    skipped.append(SkippedFile(path: change.path, size: size, reason: .tooLarge))
                } else {
                    updates.append(.add(change.path))
                }
            }
        }

        let written = try repo.writeTree(from: index, applying: updates)
        let tree = written.tree
        for failure in written.failures {
            skipped.append(
                SkippedFile(
                    path: failure.path, size: fileSize(failure.path), reason: .unreadable,
                    detail: failure.reason))
        }
        skipped.sort { $0.path < $1.path }

        let headTree = try head.map { try repo.tree(ofCommit: $0) }
        let counts: ChangeCounts
        if let indexTree = written.indexTree, indexTree == headTree || (headTree == nil && indexTree == .emptyTree) {
            // The index matches HEAD (the usual case): the updates are the whole difference.
            let changes = written.changesFromIndexTree
            counts = ChangeCounts(modified: changes.modified, added: changes.added, deleted: changes.deleted)
        } else {
            counts = try repo.changeCounts(from: headTree, to: tree)
        }
        if let head, headTree == tree {
            return Snapshot(
                commit: head, tree: tree, parent: head, branch: branch, clean: true, counts: counts,
                skipped: skipped)
        }
        let signature = try committer()
        let commit = try repo.createCommit(
            tree: tree, parents: head.map { [$0] } ?? [], author: signature, committer: signature,
            message: message + "\n")
        return Snapshot(
            commit: commit, tree: tree, parent: head, branch: branch, clean: false, counts: counts,
            skipped: skipped)
    }

    /// The user's global ignore file: `core.excludesFile` (with `~/` expanded), else
    /// `$XDG_CONFIG_HOME/git/ignore`, else `~/.config/git/ignore`, as git looks for it.
    func excludesFile() throws -> String? {
        let home = context.environment["HOME"]
        if var path = try translatingGitErrors({ try config.string("core.excludesFile") }) {
            if path.hasPrefix("~/"), let home { path = home + path.dropFirst() }
            return path
        }
        if let xdg = context.environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return xdg + "/git/ignore" }
        return home.map { $0 + "/.config/git/ignore" }
    }

    /// Whether the file at `path` in the worktree is exactly `entry` (type, executable bit and
    /// bytes), compared without writing anything to the object database; the file is read only
    /// when its size is the blob's.
    func worktreeFile(at path: String, holds entry: TreeFileEntry) -> Bool {
        let full = repository.workingDirectory + "/" + path
        var info = stat()
        guard lstat(full, &info) == 0 else { return false }
        switch entry.mode {
        case 0o120000:
            guard info.st_mode & S_IFMT == S_IFLNK, let blob = try? repository.blobContents(entry.id) else {
                return false
            }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let count = readlink(full, &buffer, buffer.count)
            return count >= 0 && buffer[0..<count].map { UInt8(bitPattern: $0) } == blob
        case 0o100644, 0o100755:
            guard info.st_mode & S_IFMT == S_IFREG, (info.st_mode & 0o100 != 0) == (entry.mode == 0o100755),
                let blob = try? repository.blobContents(entry.id), Int(info.st_size) == blob.count,
                let data = FileManager.default.contents(atPath: full)
            else { return false }
            return [UInt8](data) == blob
        default:
            return false
        }
    }

    private func fileSize(_ path: String) -> Int64? {
        var info = stat()
        guard lstat(repository.workingDirectory + "/" + path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }
}
