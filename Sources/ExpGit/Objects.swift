internal import CLibGit2

/// A file to put in a tree written by `Repository.writeTree(files:)`.
public struct TreeFile: Sendable, Equatable {
    /// File name (no slashes).
    public var name: String
    public var blob: ObjectID

    public init(name: String, blob: ObjectID) {
        self.name = name
        self.blob = blob
    }
}

extension Repository {
    /// Writes a flat tree of regular files (mode 100644) and returns its id.
    public func writeTree(files: [TreeFile]) throws(GitError) -> ObjectID {
        var builder: OpaquePointer?
        try check(git_treebuilder_new(&builder, pointer, nil), "could not start a tree")
        defer { git_treebuilder_free(builder) }
        for file in files {
            var oid = file.blob.raw
            try check(
                git_treebuilder_insert(nil, builder, file.name, &oid, GIT_FILEMODE_BLOB),
                "could not add \(file.name) to a tree")
        }
        var tree = git_oid()
        try check(git_treebuilder_write(&tree, builder), "could not write a tree")
        return ObjectID(tree)
    }

    /// The bytes of the file at `path` in `commit`'s tree; nil when there is no such file.
    public func fileContents(atPath path: String, inCommit commit: ObjectID) throws(GitError) -> [UInt8]? {
        guard let blob = try fileID(atPath: path, inCommit: commit) else { return nil }
        return try blobContents(blob)
    }

    /// The blob id of the file at `path` in `commit`'s tree, without reading the blob; nil
    /// when there is no such file.
    public func fileID(atPath path: String, inCommit commit: ObjectID) throws(GitError) -> ObjectID? {
        var commitObject: OpaquePointer?
        var oid = commit.raw
        try check(git_commit_lookup(&commitObject, pointer, &oid), "could not read commit \(commit.short())")
        defer { git_commit_free(commitObject) }
        var tree: OpaquePointer?
        try check(git_commit_tree(&tree, commitObject), "could not read the tree of \(commit.short())")
        defer { git_tree_free(tree) }
        var entry: OpaquePointer?
        let rc = git_tree_entry_bypath(&entry, tree, path)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "could not find \(path) in \(commit.short())")
        defer { git_tree_entry_free(entry) }
        guard let blobID = git_tree_entry_id(entry) else { return nil }
        return ObjectID(blobID)
    }

    /// Whether `core.sharedRepository` asks for objects other users may write to.
    private var sharesObjects: Bool {
        var config: OpaquePointer?
        guard git_repository_config_snapshot(&config, pointer) == 0 else { return true }
        defer { git_config_free(config) }
        var value: UnsafePointer<CChar>?
        guard git_config_get_string(&value, config, "core.sharedRepository") == 0, let value else { return false }
        return !["", "false", "umask", "0", "no", "off"].contains(String(cString: value).lowercased())
    }

    /// The bytes of a blob.
    public func blobContents(_ id: ObjectID) throws(GitError) -> [UInt8] {
        var blob: OpaquePointer?
        var oid = id.raw
        try check(git_blob_lookup(&blob, pointer, &oid), "could not read blob \(id.short())")
        defer { git_blob_free(blob) }
        let size = Int(git_blob_rawsize(blob))
        guard size > 0, let raw = git_blob_rawcontent(blob) else { return [] }
        return Array(UnsafeRawBufferPointer(start: raw, count: size))
    }

    /// Writes the file at `path` as a blob, streaming it (for large logs); returns its id.
    /// A large file is hashed and compressed on all cores (`LargeBlobWriter`), unless the
    /// repository is shared (`core.sharedRepository`), whose object permissions libgit2 keeps.
    public func writeBlob(fromFile path: String) throws(GitError) -> ObjectID {
        if LargeBlobWriter.isLarge(path), !sharesObjects,
            let oid = try LargeBlobWriter(objectsDirectory: commonDirectory + "/objects").write(path: path)
        {
            return ObjectID(oid)
        }
        var oid = git_oid()
        try check(git_blob_create_from_disk(&oid, pointer, path), "could not store \(path)")
        return ObjectID(oid)
    }
}

/// What kind of object an id names.
public enum ObjectKind: String, Sendable {
    case commit, tree, blob, tag
}

extension Repository {
    /// The kind of the object `id` names; nil when the object database does not hold it
    /// (pruned, or never fetched). Reads only the object's header.
    public func kind(of id: ObjectID) -> ObjectKind? {
        var odb: OpaquePointer?
        guard git_repository_odb(&odb, pointer) == 0 else { return nil }
        defer { git_odb_free(odb) }
        var oid = id.raw
        var size = 0
        var type = GIT_OBJECT_INVALID
        guard git_odb_read_header(&size, &type, odb, &oid) == 0 else { return nil }
        switch type {
        case GIT_OBJECT_COMMIT: return .commit
        case GIT_OBJECT_TREE: return .tree
        case GIT_OBJECT_BLOB: return .blob
        case GIT_OBJECT_TAG: return .tag
        default: return nil
        }
    }
}
