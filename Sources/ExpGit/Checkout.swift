internal import CLibGit2
import Foundation

/// One file in a flattened tree: its blob (or submodule commit) and git file mode.
public struct TreeFileEntry: Sendable, Equatable {
    public var id: ObjectID
    /// `0o100644`, `0o100755`, `0o120000` (symlink) or `0o160000` (submodule).
    public var mode: UInt32

    public init(id: ObjectID, mode: UInt32) {
        self.id = id
        self.mode = mode
    }
}

/// Why a tree cannot be checked out.
public enum TreeCheckError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A tree or object could not be read.
    case unreadable(GitError)
    /// A path git would refuse to check out (`path` quoted as git quotes it), and why.
    case unsafe(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let error): return error.description
        case .unsafe(let path, let reason): return "\(path): \(reason)"
        }
    }
}

/// Collects entries during `git_tree_walk`.
private final class TreeWalkBox {
    var entries: [String: TreeFileEntry] = [:]
}

extension Repository {
    /// The name of a git operation in progress (`merge`, `rebase`, `cherry-pick`, `revert`,
    /// `bisect`, `am`), or nil when none is.
    public func operationInProgress() -> String? {
        let state = git_repository_state(pointer)
        switch git_repository_state_t(UInt32(bitPattern: state)) {
        case GIT_REPOSITORY_STATE_NONE: break
        case GIT_REPOSITORY_STATE_MERGE: return "merge"
        case GIT_REPOSITORY_STATE_REVERT, GIT_REPOSITORY_STATE_REVERT_SEQUENCE: return "revert"
        case GIT_REPOSITORY_STATE_CHERRYPICK, GIT_REPOSITORY_STATE_CHERRYPICK_SEQUENCE: return "cherry-pick"
        case GIT_REPOSITORY_STATE_BISECT: return "bisect"
        case GIT_REPOSITORY_STATE_APPLY_MAILBOX, GIT_REPOSITORY_STATE_APPLY_MAILBOX_OR_REBASE: return "am"
        default: return "rebase"
        }
        if FileManager.default.fileExists(atPath: gitDirectory + "/BISECT_LOG")
            || FileManager.default.fileExists(atPath: commonDirectory + "/BISECT_LOG")
        {
            return "bisect"
        }
        return nil
    }

    /// Every file of `tree` (blobs, symlinks and submodule commits; no folders), by path.
    public func treeFiles(_ tree: ObjectID) throws(GitError) -> [String: TreeFileEntry] {
        var object: OpaquePointer?
        var oid = tree.raw
        try check(git_tree_lookup(&object, pointer, &oid), "could not read tree \(tree.short())")
        defer { git_tree_free(object) }
        let box = TreeWalkBox()
        let rc = withExtendedLifetime(box) {
            git_tree_walk(
                object, GIT_TREEWALK_PRE,
                { root, entry, payload in
                    guard let entry, let payload, let root else { return 0 }
                    guard git_tree_entry_type(entry) != GIT_OBJECT_TREE else { return 0 }
                    let box = Unmanaged<TreeWalkBox>.fromOpaque(payload).takeUnretainedValue()
                    let path = String(cString: root) + String(cString: git_tree_entry_name(entry))
                    box.entries[path] = TreeFileEntry(
                        id: ObjectID(git_tree_entry_id(entry)),
                        mode: UInt32(git_tree_entry_filemode(entry).rawValue))
                    return 0
                }, Unmanaged.passUnretained(box).toOpaque())
        }
        try check(rc, "could not read tree \(tree.short())")
        return box.entries
    }

    /// The most entries (files and folders, counted at every level) a restored tree may hold.
    public static let maximumTreeEntries = 2_000_000

    /// Every file of `tree`, like `treeFiles(_:)`, once every level of it has passed git's
    /// checks for a checkout (`PathRules`): each name is safe to write, no name appears twice
    /// in one folder (nor differs only by case from a symlink beside it, which would alias
    /// on a case-insensitive disk), and no path is longer than the system can write.
    ///
    /// Throws `TreeCheckError.unsafe` naming the first bad path (as git quotes it), having
    /// looked at nothing but objects.
    public func verifiedTreeFiles(_ tree: ObjectID, maximumEntries: Int = maximumTreeEntries) throws(TreeCheckError)
        -> [String: TreeFileEntry]
    {
        var files: [String: TreeFileEntry] = [:]
        var pending: [(tree: ObjectID, prefix: [UInt8])] = [(tree, [])]
        var visited = 0
        while let (current, prefix) = pending.popLast() {
            var object: OpaquePointer?
            var oid = current.raw
            let looked = git_tree_lookup(&object, pointer, &oid)
            if looked < 0 {
                let name = prefix.isEmpty ? "tree \(current.short())" : PathRules.quoted(Array(prefix.dropLast()))
                throw .unreadable(lastError(looked, "could not read \(name)"))
            }
            defer { git_tree_free(object) }
            var seen = Set<String>()
            var symlinks: [String] = []
            var lowercased: [String: Int] = [:]
            for index in 0..<git_tree_entrycount(object) {
                guard let entry = git_tree_entry_byindex(object, index), let raw = git_tree_entry_name(entry) else {
                    continue
                }
                // A small tree can name one subtree many times over (a "tree bomb"): bound the walk.
                visited += 1
                if visited > maximumEntries {
                    throw .unsafe(
                        path: PathRules.quoted(prefix.isEmpty ? Array("/".utf8) : Array(prefix.dropLast())),
                        reason: "a tree of more than \(maximumEntries) entries (the same folder repeated?)")
                }
                let name = Array(UnsafeBufferPointer(start: raw, count: strlen(raw))).map { UInt8(bitPattern: $0) }
                let type = git_tree_entry_type(entry)
                let mode = UInt32(git_tree_entry_filemode(entry).rawValue)
                let path = prefix + name
                if let problem = PathRules.problem(name: name, mode: mode) {
                    throw .unsafe(path: PathRules.quoted(path), reason: problem)
                }
                if path.count > PathRules.maximumPathLength {
                    throw .unsafe(
                        path: PathRules.quoted(path), reason: "a path longer than \(PathRules.maximumPathLength) bytes")
                }
                // Valid UTF-8: checked by PathRules.
                let text = String(decoding: name, as: UTF8.self)
                // Set<String> compares canonically equivalent names (NFC and NFD) as equal, as
                // a normalizing disk would.
                guard seen.insert(text).inserted else {
                    throw .unsafe(path: PathRules.quoted(path), reason: "a name that appears twice in one folder")
                }
                lowercased[text.lowercased(), default: 0] += 1
                let fullPath = String(decoding: path, as: UTF8.self)
                switch (type, mode) {
                case (GIT_OBJECT_TREE, 0o040000):
                    pending.append((ObjectID(git_tree_entry_id(entry)), path + [0x2F]))
                case (GIT_OBJECT_BLOB, 0o100644), (GIT_OBJECT_BLOB, 0o100755), (GIT_OBJECT_BLOB, 0o120000),
                    (GIT_OBJECT_COMMIT, 0o160000):
                    if mode == 0o120000 { symlinks.append(text) }
                    files[fullPath] = TreeFileEntry(id: ObjectID(git_tree_entry_id(entry)), mode: mode)
                default:
                    throw .unsafe(
                        path: PathRules.quoted(path),
                        reason: "an entry of mode \(String(mode, radix: 8)) git cannot check out")
                }
            }
            for link in symlinks where (lowercased[link.lowercased()] ?? 0) > 1 {
                throw .unsafe(
                    path: PathRules.quoted(prefix + Array(link.utf8)),
                    reason: "a symlink whose name differs only in case from another entry beside it")
            }
        }
        return files
    }

    /// The tree the index would commit (objects are written, the index file is not); nil
    /// when the index has conflicts. `file` reads another index file (`GIT_INDEX_FILE`).
    public func indexTree(file: String? = nil) throws(GitError) -> ObjectID? {
        let index = try readIndex(file: file)
        if index.hasConflicts { return nil }
        return try writeTree(from: index, applying: []).tree
    }

    /// Whether `commit` is reachable from a branch, a tag or any `refs/exp/` reference (so
    /// moving a detached HEAD away from it loses nothing).
    public func isReachableFromReferences(_ commit: ObjectID) throws(GitError) -> Bool {
        var tips: [git_oid] = []
        for glob in ["refs/heads/*", "refs/tags/*", "refs/exp/*"] {
            for reference in try references(matching: glob) {
                if reference.target == commit { return true }
                tips.append(reference.target.raw)
            }
        }
        guard !tips.isEmpty else { return false }
        var oid = commit.raw
        let rc = git_graph_reachable_from_any(pointer, &oid, &tips, tips.count)
        try check(rc, "could not tell whether \(commit.short()) is on a branch")
        return rc == 1
    }

    /// Replaces the index with `tree` (the empty index for nil) and writes it through
    /// libgit2's lock file.
    public func resetIndex(to tree: ObjectID?) throws(GitError) {
        var index: OpaquePointer?
        try check(git_repository_index(&index, pointer), "could not open the index")
        defer { git_index_free(index) }
        if let tree {
            var object: OpaquePointer?
            var oid = tree.raw
            try check(git_tree_lookup(&object, pointer, &oid), "could not read tree \(tree.short())")
            defer { git_tree_free(object) }
            try check(git_index_read_tree(index, object), "could not read tree \(tree.short()) into the index")
        } else {
            try check(git_index_clear(index), "could not clear the index")
        }
        try check(git_index_write(index), "could not write the index")
    }

    /// Points HEAD at the branch `name` (a full name, `refs/heads/main`).
    public func setHead(branch name: String) throws(GitError) {
        try check(git_repository_set_head(pointer, name), "could not point HEAD at \(name)")
    }

    /// Detaches HEAD at `commit`.
    public func setHeadDetached(at commit: ObjectID) throws(GitError) {
        var oid = commit.raw
        try check(
            git_repository_set_head_detached(pointer, &oid), "could not detach HEAD at \(commit.short())")
    }

    /// Creates the branch `name` (short name) at `commit`; fails when it exists.
    public func createBranch(_ name: String, at commit: ObjectID) throws(GitError) {
        var object: OpaquePointer?
        var oid = commit.raw
        try check(git_commit_lookup(&object, pointer, &oid), "could not read commit \(commit.short())")
        defer { git_commit_free(object) }
        var branch: OpaquePointer?
        try check(git_branch_create(&branch, pointer, name, object, 0), "could not create branch \(name)")
        git_reference_free(branch)
    }
}
