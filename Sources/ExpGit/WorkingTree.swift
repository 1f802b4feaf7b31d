internal import CLibGit2

#if canImport(Glibc)
    import Glibc
#endif

/// How a path in the working tree differs from the index.
public enum WorkingTreeChange: Sendable, Equatable {
    /// Not in the index and not ignored. A path ending in `/` is a folder holding another
    /// git repository (not a registered submodule).
    case untracked
    /// In the index, with different content, mode or type on disk (a moved submodule too).
    case modified
    /// In the index, gone from disk.
    case deleted
    /// In the index with unresolved merge conflicts.
    case conflicted
}

/// One path whose working-tree state differs from the index.
public struct WorkingTreeEntry: Sendable, Equatable {
    /// Path relative to the repository root, `/`-separated.
    public var path: String
    public var change: WorkingTreeChange
}

/// An edit to apply to an in-memory copy of the index before writing a tree.
public enum IndexUpdate: Sendable, Equatable {
    /// Stage the working-tree file at this path (filters and eol conversion applied as git does).
    case add(String)
    /// Drop this path from the tree.
    case remove(String)
}

/// A path that could not be staged, and why.
public struct IndexUpdateFailure: Sendable, Equatable {
    public var path: String
    public var reason: String
}

extension Repository {
    /// Paths where the working tree differs from the index, using the index's stat data so
    /// unchanged files are not read. Untracked folders are listed file by file; ignored
    /// files (`.gitignore` at any depth, `info/exclude`, `core.excludesFile`, and
    /// `extraIgnoreRules`) are left out.
    ///
    /// - Parameter extraIgnoreRules: gitignore-syntax lines applied as if they were in
    ///   `info/exclude` for this handle only; nothing is written.
    public func workingTreeChanges(extraIgnoreRules: [String] = []) throws(GitError) -> [WorkingTreeEntry] {
        if !extraIgnoreRules.isEmpty {
            try check(
                git_ignore_add_rule(pointer, extraIgnoreRules.joined(separator: "\n")),
                "could not apply ignore rules")
        }
        var options = git_status_options()
        try check(git_status_options_init(&options, UInt32(GIT_STATUS_OPTIONS_VERSION)), "could not set up status")
        options.show = GIT_STATUS_SHOW_WORKDIR_ONLY
        options.flags =
            GIT_STATUS_OPT_INCLUDE_UNTRACKED.rawValue | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS.rawValue
            | GIT_STATUS_OPT_DISABLE_PATHSPEC_MATCH.rawValue
        var list: OpaquePointer?
        try check(git_status_list_new(&list, pointer, &options), "could not compare the working tree with the index")
        defer { git_status_list_free(list) }
        let count = git_status_list_entrycount(list)
        var result: [WorkingTreeEntry] = []
        result.reserveCapacity(count)
        for index in 0..<count {
            guard let entry = git_status_byindex(list, index), let delta = entry.pointee.index_to_workdir
            else { continue }
            let status = entry.pointee.status.rawValue
            let change: WorkingTreeChange
            if status & GIT_STATUS_CONFLICTED.rawValue != 0 {
                change = .conflicted
            } else if status & GIT_STATUS_WT_NEW.rawValue != 0 {
                change = .untracked
            } else if status & GIT_STATUS_WT_DELETED.rawValue != 0 {
                change = .deleted
            } else if status
                & (GIT_STATUS_WT_MODIFIED.rawValue | GIT_STATUS_WT_TYPECHANGE.rawValue
                    | GIT_STATUS_WT_RENAMED.rawValue) != 0
            {
                change = .modified
            } else {
                continue
            }
            let file = delta.pointee.new_file.path ?? delta.pointee.old_file.path
            guard let file else { continue }
            result.append(WorkingTreeEntry(path: String(cString: file), change: change))
        }
        return result
    }

    /// Writes the tree of the on-disk index with `updates` applied, without writing the index.
    ///
    /// The index is loaded from disk, edited in memory, turned into tree objects (subtrees the
    /// index's cache tree already knows are reused, not rewritten), then reloaded from disk so
    /// this handle forgets the edits. Paths that cannot be staged (unreadable, vanished, a
    /// nested repository without a commit) are left as the index has them and returned.
    ///
    /// Each file is read once, filtered as `git add` would (`.gitattributes`, eol), hashed,
    /// and written only when the object is not in the database yet.
    public func writeTree(applying updates: [IndexUpdate]) throws(GitError)
        -> (tree: ObjectID, failures: [IndexUpdateFailure])
    {
        var index: OpaquePointer?
        try check(git_repository_index(&index, pointer), "could not read the index")
        defer { git_index_free(index) }
        try check(git_index_read(index, 0), "could not read the index")
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, pointer), "could not open the object database")
        defer { git_odb_free(odb) }
        let trustExecutableBit = try configBool("core.filemode", default: true)
        let filtersPossible = try mayHaveFilters(index: index, updates: updates)
        var failures: [IndexUpdateFailure] = []
        if !updates.isEmpty {
            // Drop the in-memory edits afterwards: the index file was never written.
            defer { _ = git_index_read(index, 1) }
            for update in updates {
                switch update {
                case .add(let path):
                    var target = path
                    if target.hasSuffix("/") { target.removeLast() }
                    if let reason = stage(
                        target, index: index, odb: odb, trustExecutableBit: trustExecutableBit,
                        filtersPossible: filtersPossible)
                    {
                        failures.append(IndexUpdateFailure(path: target, reason: reason))
                    }
                case .remove(let path):
                    if git_index_remove_bypath(index, path) < 0 {
                        failures.append(IndexUpdateFailure(path: path, reason: lastError(-1, "").reason))
                    }
                }
            }
            var tree = git_oid()
            try check(git_index_write_tree(&tree, index), "could not write the tree of the working tree")
            return (ObjectID(tree), failures)
        }
        var tree = git_oid()
        try check(git_index_write_tree(&tree, index), "could not write the tree of the working tree")
        return (ObjectID(tree), failures)
    }

    /// A boolean from the repository's git config, or `defaultValue` when unset.
    func configBool(_ key: String, default defaultValue: Bool) throws(GitError) -> Bool {
        var config: OpaquePointer?
        try check(git_repository_config_snapshot(&config, pointer), "could not read git config")
        defer { git_config_free(config) }
        var value: Int32 = 0
        let rc = git_config_get_bool(&value, config, key)
        if rc == GIT_ENOTFOUND.rawValue { return defaultValue }
        try check(rc, "could not read \(key)")
        return value != 0
    }

    /// Files above this size are staged by libgit2's streaming path instead of being read
    /// into memory.
    private static let inMemoryLimit = 64 << 20

    /// Stages one working-tree path into `index`; returns why it could not, or nil.
    private func stage(
        _ path: String, index: OpaquePointer?, odb: OpaquePointer?, trustExecutableBit: Bool,
        filtersPossible: Bool
    ) -> String? {
        let fullPath = workingDirectory + "/" + path
        var info = stat()
        guard lstat(fullPath, &info) == 0 else { return String(cString: strerror(errno)) }
        let type = info.st_mode & S_IFMT
        let existing = git_index_get_bypath(index, path, 0)
        let conflicted = git_index_get_bypath(index, path, 1) != nil || git_index_get_bypath(index, path, 2) != nil
        guard !conflicted, type == S_IFLNK || (type == S_IFREG && Int(info.st_size) <= Self.inMemoryLimit)
        else {
            // Folders (submodules, nested repositories), conflicts and very large files.
            return git_index_add_bypath(index, path) < 0 ? lastError(-1, "").reason : nil
        }
        var oid = git_oid()
        var mode: UInt32
        if type == S_IFLNK {
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(fullPath, &target, target.count)
            guard length >= 0 else { return String(cString: strerror(errno)) }
            guard git_odb_write(&oid, odb, target, length, GIT_OBJECT_BLOB) == 0 else {
                return lastError(-1, "").reason
            }
            mode = 0o120000
        } else {
            guard let content = Self.readFile(fullPath, size: Int(info.st_size)) else {
                return String(cString: strerror(errno))
            }
            if let reason = writeBlob(content, path: path, odb: odb, filtered: filtersPossible, into: &oid) {
                return reason
            }
            let executable = info.st_mode & 0o100 != 0
            if trustExecutableBit {
                mode = executable ? 0o100755 : 0o100644
            } else if let existing, existing.pointee.mode == 0o100755 || existing.pointee.mode == 0o100644 {
                mode = existing.pointee.mode
            } else {
                mode = 0o100644
            }
        }
        var entry = git_index_entry()
        entry.ctime = git_index_time(seconds: Int32(truncatingIfNeeded: info.st_ctim.tv_sec), nanoseconds: UInt32(info.st_ctim.tv_nsec))
        entry.mtime = git_index_time(seconds: Int32(truncatingIfNeeded: info.st_mtim.tv_sec), nanoseconds: UInt32(info.st_mtim.tv_nsec))
        entry.dev = UInt32(truncatingIfNeeded: info.st_dev)
        entry.ino = UInt32(truncatingIfNeeded: info.st_ino)
        entry.uid = info.st_uid
        entry.gid = info.st_gid
        entry.file_size = UInt32(truncatingIfNeeded: info.st_size)
        entry.mode = mode
        entry.id = oid
        let rc = path.withCString { cPath in
            entry.path = cPath
            return git_index_add(index, &entry)
        }
        return rc < 0 ? lastError(rc, "").reason : nil
    }

    /// Whether any clean filter (eol conversion, `ident`, a configured filter driver) could
    /// apply to a file in this repository: true when a `.gitattributes` file is tracked or
    /// being added, an attributes file exists in `info/`, `core.attributesFile`, the XDG or the
    /// system location, or `core.autocrlf` is on. When false, files are hashed as they are,
    /// skipping an attribute lookup (a dozen system calls) per file.
    private func mayHaveFilters(index: OpaquePointer?, updates: [IndexUpdate]) throws(GitError) -> Bool {
        var config: OpaquePointer?
        try check(git_repository_config_snapshot(&config, pointer), "could not read git config")
        defer { git_config_free(config) }
        var autocrlf: UnsafePointer<CChar>?
        if git_config_get_string(&autocrlf, config, "core.autocrlf") == 0, let autocrlf {
            if !["false", "no", "off", "0"].contains(String(cString: autocrlf).lowercased()) { return true }
        }
        var attributesFile: UnsafePointer<CChar>?
        if git_config_get_string(&attributesFile, config, "core.attributesFile") == 0 { return true }
        var xdg = git_buf()
        defer { git_buf_dispose(&xdg) }
        if git_config_find_xdg(&xdg) == 0 {
            let xdgFolder = URLPath.parent(String(cString: xdg.ptr))
            if access(xdgFolder + "/attributes", F_OK) == 0 { return true }
        }
        if access("/etc/gitattributes", F_OK) == 0 || access(commonDirectory + "/info/attributes", F_OK) == 0 {
            return true
        }
        let isAttributes: (String) -> Bool = { $0 == ".gitattributes" || $0.hasSuffix("/.gitattributes") }
        for update in updates {
            if case .add(let path) = update, isAttributes(path) { return true }
        }
        for position in 0..<git_index_entrycount(index) {
            guard let entry = git_index_get_byindex(index, position), let path = entry.pointee.path else { continue }
            if strcmp(path, ".gitattributes") == 0 { return true }
            let length = strlen(path)
            if length > 15 && strcmp(path + (length - 15), "/.gitattributes") == 0 { return true }
        }
        return false
    }

    /// Writes `content` as the blob for `path` (a no-op write when the object exists),
    /// through the to-odb filters git would apply when `filtered`.
    private func writeBlob(
        _ content: [UInt8], path: String, odb: OpaquePointer?, filtered: Bool, into oid: inout git_oid
    ) -> String? {
        var filters: OpaquePointer?
        guard !filtered || git_filter_list_load(&filters, pointer, nil, path, GIT_FILTER_TO_ODB, 0) == 0 else {
            return lastError(-1, "").reason
        }
        defer { git_filter_list_free(filters) }
        if filters == nil {
            let rc = content.withUnsafeBytes { git_odb_write(&oid, odb, $0.baseAddress, $0.count, GIT_OBJECT_BLOB) }
            return rc < 0 ? lastError(rc, "").reason : nil
        }
        var output = git_buf()
        defer { git_buf_dispose(&output) }
        let applied = content.withUnsafeBytes { bytes in
            git_filter_list_apply_to_buffer(
                &output, filters, bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count)
        }
        guard applied == 0 else { return lastError(applied, "").reason }
        let rc = git_odb_write(&oid, odb, output.ptr, output.size, GIT_OBJECT_BLOB)
        return rc < 0 ? lastError(rc, "").reason : nil
    }

    /// Reads a whole file; nil (with `errno` set) when it cannot be opened or read.
    private static func readFile(_ path: String, size: Int) -> [UInt8]? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var content = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = content.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }  // the file shrank while reading
            done += n
        }
        if done < size { content.removeLast(size - done) }
        return content
    }
}

/// Path helpers that do not touch the file system.
enum URLPath {
    /// The folder part of `path` (`/a/b` for `/a/b/c`), without a trailing slash.
    static func parent(_ path: String) -> String {
        var path = path
        while path.hasSuffix("/") && path.count > 1 { path.removeLast() }
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
