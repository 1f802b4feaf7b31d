internal import CLibGit2

/// An open git repository with a working tree.
///
/// Not `Sendable`: libgit2 objects are used from one thread at a time. Open one per task.
public final class Repository {
    let pointer: OpaquePointer

    /// The folder holding this worktree's git files (`.git`, or `.git/worktrees/NAME`).
    public let gitDirectory: String
    /// The folder shared by all worktrees (`.git` of the main worktree).
    public let commonDirectory: String
    /// The root of the working tree, without a trailing slash.
    public let workingDirectory: String

    private init(pointer: OpaquePointer) throws(GitError) {
        self.pointer = pointer
        self.gitDirectory = Self.trimSlash(String(cString: git_repository_path(pointer)))
        self.commonDirectory = Self.trimSlash(String(cString: git_repository_commondir(pointer)))
        guard let workdir = git_repository_workdir(pointer) else {
            git_repository_free(pointer)
            throw GitError(
                operation: "\(gitDirectory) is a bare repository",
                reason: "exp needs a working tree; run it inside a clone that has one", code: .bareRepository,
                errorClass: .repository)
        }
        self.workingDirectory = Self.trimSlash(String(cString: workdir))
    }

    deinit { git_repository_free(pointer) }

    /// Finds the repository containing `path`, searching upward as git does.
    ///
    /// Works in linked worktrees and from any subfolder. Throws for a bare repository and when
    /// no repository is found.
    public static func discover(from path: String) throws(GitError) -> Repository {
        Runtime.ensure()
        var repo: OpaquePointer?
        let rc = git_repository_open_ext(&repo, path, 0, nil)
        if rc == GIT_ENOTFOUND.rawValue {
            throw GitError(
                operation: "not a git repository (or any parent folder): \(path)",
                reason: "", code: .notFound, errorClass: .repository)
        }
        try check(rc, "could not open the repository at \(path)")
        guard let repo else { throw GitError(operation: "could not open \(path)", reason: "", code: .generic) }
        return try Repository(pointer: repo)
    }

    /// Opens the repository at exactly `path` (a worktree root or a `.git` folder), no search.
    public static func open(at path: String) throws(GitError) -> Repository {
        Runtime.ensure()
        var repo: OpaquePointer?
        try check(
            git_repository_open_ext(&repo, path, GIT_REPOSITORY_OPEN_NO_SEARCH.rawValue, nil),
            "could not open the repository at \(path)")
        guard let repo else { throw GitError(operation: "could not open \(path)", reason: "", code: .generic) }
        return try Repository(pointer: repo)
    }

    private static func trimSlash(_ path: String) -> String {
        var path = path
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return path
    }

    // MARK: HEAD

    /// Whether HEAD names a branch that has no commit yet (a new repository).
    public var isHeadUnborn: Bool { git_repository_head_unborn(pointer) == 1 }

    /// Whether HEAD points straight at a commit instead of a branch.
    public var isHeadDetached: Bool { git_repository_head_detached(pointer) == 1 }

    /// The commit HEAD points at; nil on an unborn branch.
    public func headCommit() throws(GitError) -> ObjectID? {
        if isHeadUnborn { return nil }
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, pointer, "HEAD")
        if rc == GIT_ENOTFOUND.rawValue || rc == GIT_EUNBORNBRANCH.rawValue { return nil }
        try check(rc, "could not resolve HEAD")
        return ObjectID(oid)
    }

    /// The full name of the branch HEAD is on (`refs/heads/main`), also when it is unborn;
    /// nil when HEAD is detached.
    public func headBranch() throws(GitError) -> String? {
        var ref: OpaquePointer?
        try check(git_reference_lookup(&ref, pointer, "HEAD"), "could not read HEAD")
        defer { git_reference_free(ref) }
        guard git_reference_type(ref) == GIT_REFERENCE_SYMBOLIC,
            let target = git_reference_symbolic_target(ref)
        else { return nil }
        return String(cString: target)
    }

    // MARK: Objects

    /// The tree of `commit`.
    public func tree(ofCommit commit: ObjectID) throws(GitError) -> ObjectID {
        var object: OpaquePointer?
        var oid = commit.raw
        try check(git_commit_lookup(&object, pointer, &oid), "could not read commit \(commit)")
        defer { git_commit_free(object) }
        return ObjectID(git_commit_tree_id(object))
    }

    /// Whether an object with this id is in the object database.
    public func contains(_ id: ObjectID) -> Bool {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, pointer) == 0 else { return false }
        defer { git_odb_free(odb) }
        var oid = id.raw
        return git_odb_exists(odb, &oid) == 1
    }

    /// The parents of `commit`, in order.
    public func parents(ofCommit commit: ObjectID) throws(GitError) -> [ObjectID] {
        var object: OpaquePointer?
        var oid = commit.raw
        try check(git_commit_lookup(&object, pointer, &oid), "could not read commit \(commit)")
        defer { git_commit_free(object) }
        return (0..<git_commit_parentcount(object)).compactMap { index in
            git_commit_parent_id(object, index).map(ObjectID.init)
        }
    }

    /// The full message of `commit`.
    public func message(ofCommit commit: ObjectID) throws(GitError) -> String {
        var object: OpaquePointer?
        var oid = commit.raw
        try check(git_commit_lookup(&object, pointer, &oid), "could not read commit \(commit)")
        defer { git_commit_free(object) }
        return git_commit_message(object).map { String(cString: $0) } ?? ""
    }

    /// Writes a commit object (no reference is moved) and returns its id.
    public func createCommit(
        tree: ObjectID, parents: [ObjectID], author: Signature, committer: Signature,
        message: String
    ) throws(GitError) -> ObjectID {
        var treeObject: OpaquePointer?
        var treeOID = tree.raw
        try check(git_tree_lookup(&treeObject, pointer, &treeOID), "could not read tree \(tree)")
        defer { git_tree_free(treeObject) }
        var parentObjects: [OpaquePointer?] = []
        defer { parentObjects.forEach { git_commit_free($0) } }
        for parent in parents {
            var object: OpaquePointer?
            var oid = parent.raw
            try check(git_commit_lookup(&object, pointer, &oid), "could not read commit \(parent)")
            parentObjects.append(object)
        }
        var result = git_oid()
        let rc: Int32
        do {
            rc = try author.withGitSignature { authorSig in
                try committer.withGitSignature { committerSig in
                    parentObjects.withUnsafeMutableBufferPointer { buffer in
                        git_commit_create(
                            &result, pointer, nil, authorSig, committerSig, nil, message, treeObject,
                            parents.count, buffer.baseAddress)
                    }
                }
            }
        } catch let error as GitError {
            throw error
        } catch {
            throw GitError(operation: "could not write commit", reason: "\(error)", code: .generic)
        }
        try check(rc, "could not write a commit for tree \(tree)")
        return ObjectID(result)
    }

    /// Writes `bytes` as a tree object exactly as given, unchecked, as
    /// `git hash-object -t tree --literally -w` does: for tests and tools that build the trees
    /// git's own commands refuse (names such as `.git` or `..`), to check that exp refuses them.
    public func writeTreeObject(literally bytes: [UInt8]) throws(GitError) -> ObjectID {
        var database: OpaquePointer?
        try check(git_repository_odb(&database, pointer), "could not open the object database")
        defer { git_odb_free(database) }
        var oid = git_oid()
        try check(
            bytes.withUnsafeBytes { git_odb_write(&oid, database, $0.baseAddress, $0.count, GIT_OBJECT_TREE) },
            "could not write a tree of \(bytes.count) bytes")
        return ObjectID(oid)
    }

    /// Writes `data` as a blob and returns its id.
    public func writeBlob(_ data: [UInt8]) throws(GitError) -> ObjectID {
        var oid = git_oid()
        try check(
            data.withUnsafeBytes { git_blob_create_from_buffer(&oid, pointer, $0.baseAddress, $0.count) },
            "could not write a blob of \(data.count) bytes")
        return ObjectID(oid)
    }
}
