internal import CLibGit2
import Dispatch

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
    /// Size in bytes for untracked files (nil otherwise).
    public var size: Int64?

    public init(path: String, change: WorkingTreeChange, size: Int64? = nil) {
        self.path = path
        self.change = change
        self.size = size
    }
}

/// An edit to apply to an in-memory copy of the index before writing a tree.
public enum IndexUpdate: Sendable, Equatable {
    /// Stage the working-tree file at this path (filters and eol conversion applied as git does).
    case add(String)
    /// Drop this path from the tree.
    case remove(String)
}

/// A tree written from the working tree.
public struct WrittenTree: Sendable {
    /// The tree of the working tree.
    public var tree: ObjectID
    /// Paths that could not be staged; the tree has what the index has for them.
    public var failures: [IndexUpdateFailure]
    /// The tree of the index alone, with the number of paths `tree` changes relative to it;
    /// nil when the index had to be edited in memory (then compare trees to count).
    public var indexTree: ObjectID?
    public var changesFromIndexTree: (modified: Int, added: Int, deleted: Int)
}

/// A C pointer handed to worker threads that only use it through thread-safe calls.
struct SendablePointer: @unchecked Sendable {
    let pointer: OpaquePointer?
    init(_ pointer: OpaquePointer?) { self.pointer = pointer }
}

/// A buffer whose slots are each written by exactly one worker thread.
struct SendableBuffer<Element>: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Element>
    init(_ buffer: UnsafeMutableBufferPointer<Element>) { self.buffer = buffer }
}

/// A path that could not be staged, and why.
public struct IndexUpdateFailure: Sendable, Equatable {
    public var path: String
    public var reason: String
}

extension Repository {
    /// Writes the tree of the on-disk index with `updates` applied, without writing the index.
    ///
    /// The index's own tree comes first (from its cache tree when valid, so nothing is
    /// rewritten); the updates are then applied to that tree, writing only the subtrees they
    /// touch. Each added file is read once, filtered as `git add` would (`.gitattributes`,
    /// eol), hashed, and written only when the object is not in the database yet. With
    /// unresolved conflicts, or a file replaced by a folder (or back), the index is edited in
    /// memory instead and reloaded afterwards. Paths that cannot be staged (unreadable,
    /// vanished, a nested repository without a commit) keep what the index has and are
    /// returned.
    public func writeTree(from index: IndexState, applying updates: [IndexUpdate]) throws(GitError) -> WrittenTree {
        if index.hasConflicts || Self.swapsFilesAndFolders(updates) {
            return try writeTreeEditingIndex(updates)
        }
        var base = git_oid()
        if !index.needsLibgit2, let root = index.file.cachedRootTree {
            base = root.raw  // the cache tree knows it: nothing to write
        } else {
            var libgit2Index: OpaquePointer?
            try check(git_repository_index(&libgit2Index, pointer), "could not read the index")
            defer { git_index_free(libgit2Index) }
            try check(git_index_read(libgit2Index, 0), "could not read the index")
            try check(git_index_write_tree(&base, libgit2Index), "could not write the tree of the index")
        }
        if updates.isEmpty {
            return WrittenTree(
                tree: ObjectID(base), failures: [], indexTree: ObjectID(base), changesFromIndexTree: (0, 0, 0))
        }
        let index = index.file
        var odb: OpaquePointer?
        try check(git_repository_odb(&odb, pointer), "could not open the object database")
        defer { git_odb_free(odb) }
        let context = try BlobContext(
            trustExecutableBit: configBool("core.filemode", default: true),
            filtersPossible: mayHaveFilters(index: index, updates: updates))

        var failures: [IndexUpdateFailure] = []
        var counts = (modified: 0, added: 0, deleted: 0)
        var paths: [String] = []
        var changes: [git_tree_update] = []
        paths.reserveCapacity(updates.count)
        changes.reserveCapacity(updates.count)
        let prehashed = context.filtersPossible || !context.trustExecutableBit ? [] : hashInParallel(updates, odb: odb)
        for (position, update) in updates.enumerated() {
            switch update {
            case .add(let path):
                var target = path
                if target.hasSuffix("/") { target.removeLast() }
                let outcome = prehashed.isEmpty ? nil : prehashed[position]
                switch outcome ?? stagedObject(target, index: index, odb: odb, context: context) {
                case .success(let (oid, mode)):
                    var oid = oid
                    if let existing = index.entry(at: target) {
                        var existingID = existing.id
                        if existing.mode == mode && git_oid_equal(&existingID, &oid) != 0 { continue }
                        counts.modified += 1
                    } else {
                        counts.added += 1
                    }
                    paths.append(target)
                    changes.append(
                        git_tree_update(
                            action: GIT_TREE_UPDATE_UPSERT, id: oid, filemode: git_filemode_t(mode), path: nil))
                case .failure(let reason):
                    failures.append(IndexUpdateFailure(path: target, reason: reason.message))
                }
            case .remove(let path):
                counts.deleted += 1
                paths.append(path)
                changes.append(
                    git_tree_update(
                        action: GIT_TREE_UPDATE_REMOVE, id: git_oid(), filemode: GIT_FILEMODE_BLOB, path: nil))
            }
        }
        var baseTree: OpaquePointer?
        try check(git_tree_lookup(&baseTree, pointer, &base), "could not read the tree of the index")
        defer { git_tree_free(baseTree) }
        // Keep every path's C string alive while libgit2 reads the update list.
        let cPaths = paths.map { strdup($0) }
        defer { cPaths.forEach { free($0) } }
        for position in changes.indices { changes[position].path = UnsafePointer(cPaths[position]) }
        var tree = git_oid()
        try check(
            git_tree_create_updated(&tree, pointer, baseTree, changes.count, changes),
            "could not write the tree of the working tree")
        return WrittenTree(
            tree: ObjectID(tree), failures: failures, indexTree: ObjectID(base), changesFromIndexTree: counts)
    }

    /// The blob of a symlink (its target text) and mode 120000, written when missing.
    private static func symlinkBlob(_ fullPath: String, odb: OpaquePointer?) -> Result<(git_oid, UInt32), StageFailure>
    {
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink(fullPath, &target, target.count)
        guard length >= 0 else { return .failure(.errno()) }
        var oid = git_oid()
        guard git_odb_write(&oid, odb, target, length, GIT_OBJECT_BLOB) == 0 else { return .failure(.libgit2()) }
        return .success((oid, 0o120000))
    }

    /// Hashes and writes the blobs of plain files and symlinks on all cores (the object
    /// database is thread-safe; nothing else of libgit2 is touched). Entries for other paths
    /// (folders, very large files, errors) are nil, to be staged one by one afterwards.
    /// Only valid when no filter applies and the executable bit is trusted.
    private func hashInParallel(_ updates: [IndexUpdate], odb: OpaquePointer?)
        -> [Result<(git_oid, UInt32), StageFailure>?]
    {
        var outcomes = [Result<(git_oid, UInt32), StageFailure>?](repeating: nil, count: updates.count)
        let root = workingDirectory
        let database = SendablePointer(odb)
        let workers = updates.count < 64 ? 1 : max(1, min(8, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        outcomes.withUnsafeMutableBufferPointer { buffer in
            let slots = SendableBuffer(buffer)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var position = worker
                while position < updates.count {
                    if case .add(let path) = updates[position], !path.hasSuffix("/") {
                        slots.buffer[position] = Self.hashPlainFile(root + "/" + path, odb: database.pointer)
                    }
                    position += workers
                }
            }
        }
        return outcomes
    }

    /// The blob and mode for a regular file (unfiltered) or symlink, written when missing;
    /// nil for anything else, which the caller stages itself.
    private static func hashPlainFile(_ fullPath: String, odb: OpaquePointer?) -> Result<
        (git_oid, UInt32), StageFailure
    >? {
        var info = stat()
        guard lstat(fullPath, &info) == 0 else { return nil }
        var oid = git_oid()
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            guard case .success(let link) = symlinkBlob(fullPath, odb: odb) else { return nil }
            return .success(link)
        case S_IFREG where Int(info.st_size) <= inMemoryLimit:
            guard let content = readFile(fullPath, size: Int(info.st_size)) else { return nil }
            let rc = content.withUnsafeBytes { git_odb_write(&oid, odb, $0.baseAddress, $0.count, GIT_OBJECT_BLOB) }
            guard rc == 0 else { return nil }
            return .success((oid, info.st_mode & 0o100 != 0 ? 0o100755 : 0o100644))
        default:
            return nil
        }
    }

    /// Whether an added path lies under a removed one or the other way round (a file that
    /// became a folder, or a folder that became a file): tree updates cannot express that.
    private static func swapsFilesAndFolders(_ updates: [IndexUpdate]) -> Bool {
        var added = Set<String>()
        var addedFolders = Set<String>()
        var removed: [String] = []
        for update in updates {
            switch update {
            case .add(let path):
                let path = path.hasSuffix("/") ? String(path.dropLast()) : path
                added.insert(path)
                var folder = split(path).folder
                while !folder.isEmpty, addedFolders.insert(folder).inserted { folder = split(folder).folder }
            case .remove(let path):
                removed.append(path)
            }
        }
        for path in removed {
            if addedFolders.contains(path) { return true }
            var folder = split(path).folder
            while !folder.isEmpty {
                if added.contains(folder) { return true }
                folder = split(folder).folder
            }
        }
        return false
    }

    /// The slow, general path: stage each update into the in-memory index with libgit2's own
    /// `add_bypath` (which also resolves conflicts), write its tree, and reload the index
    /// from disk so this handle forgets the edits.
    private func writeTreeEditingIndex(_ updates: [IndexUpdate]) throws(GitError) -> WrittenTree {
        var index: OpaquePointer?
        try check(git_repository_index(&index, pointer), "could not read the index")
        defer { git_index_free(index) }
        try check(git_index_read(index, 0), "could not read the index")
        var failures: [IndexUpdateFailure] = []
        defer { if !updates.isEmpty { _ = git_index_read(index, 1) } }
        for update in updates {
            switch update {
            case .add(let path):
                var target = path
                if target.hasSuffix("/") { target.removeLast() }
                if git_index_add_bypath(index, target) < 0 {
                    failures.append(IndexUpdateFailure(path: target, reason: lastError(-1, "").reason))
                }
            case .remove(let path):
                if git_index_remove_bypath(index, path) < 0 {
                    failures.append(IndexUpdateFailure(path: path, reason: lastError(-1, "").reason))
                }
            }
        }
        var tree = git_oid()
        try check(git_index_write_tree(&tree, index), "could not write the tree of the working tree")
        return WrittenTree(tree: ObjectID(tree), failures: failures, indexTree: nil, changesFromIndexTree: (0, 0, 0))
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

    /// Files above this size are hashed by libgit2's streaming path instead of being read
    /// into memory.
    private static let inMemoryLimit = 64 << 20

    /// Settings that decide how a working-tree file becomes a blob.
    struct BlobContext {
        var trustExecutableBit: Bool
        var filtersPossible: Bool
    }

    /// Why a path could not be staged.
    struct StageFailure: Error {
        var message: String
        static func errno() -> StageFailure { StageFailure(message: String(cString: strerror(Glibc.errno))) }
        static func libgit2() -> StageFailure { StageFailure(message: lastError(-1, "").reason) }
    }

    /// The object and mode `git add` would record for the working-tree `path`: a blob for a
    /// file or symlink (written when missing), the checked-out commit for a folder holding a
    /// repository.
    private func stagedObject(_ path: String, index: IndexFile, odb: OpaquePointer?, context: BlobContext)
        -> Result<(git_oid, UInt32), StageFailure>
    {
        let fullPath = workingDirectory + "/" + path
        var info = stat()
        guard lstat(fullPath, &info) == 0 else { return .failure(.errno()) }
        var oid = git_oid()
        switch info.st_mode & S_IFMT {
        case S_IFLNK:
            return Self.symlinkBlob(fullPath, odb: odb)
        case S_IFREG:
            if Int(info.st_size) > Self.inMemoryLimit {
                guard git_blob_create_from_workdir(&oid, pointer, path) == 0 else { return .failure(.libgit2()) }
            } else {
                guard let content = Self.readFile(fullPath, size: Int(info.st_size)) else { return .failure(.errno()) }
                if let reason = writeBlob(content, path: path, odb: odb, filtered: context.filtersPossible, into: &oid)
                {
                    return .failure(StageFailure(message: reason))
                }
            }
            let executable = info.st_mode & 0o100 != 0
            if context.trustExecutableBit { return .success((oid, executable ? 0o100755 : 0o100644)) }
            if let existing = index.entry(at: path), existing.mode == 0o100755 || existing.mode == 0o100644 {
                return .success((oid, existing.mode))
            }
            return .success((oid, 0o100644))
        case S_IFDIR:
            // A submodule or a repository inside this one: record its checked-out commit.
            var repo: OpaquePointer?
            guard git_repository_open(&repo, fullPath) == 0 else { return .failure(.libgit2()) }
            defer { git_repository_free(repo) }
            guard git_reference_name_to_id(&oid, repo, "HEAD") == 0 else {
                return .failure(StageFailure(message: "\(path) does not have a commit checked out"))
            }
            return .success((oid, 0o160000))
        default:
            return .failure(StageFailure(message: "not a regular file, symlink or repository"))
        }
    }

    /// Whether any clean filter (eol conversion, `ident`, a configured filter driver) could
    /// apply to a file in this repository: true when a `.gitattributes` file is tracked or
    /// being added, an attributes file exists in `info/`, `core.attributesFile`, the XDG or the
    /// system location, or `core.autocrlf` is on. When false, files are hashed as they are,
    /// skipping an attribute lookup (a dozen system calls) per file.
    func mayHaveFilters(index: IndexFile, updates: [IndexUpdate]) throws(GitError) -> Bool {
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
        let name = Array(".gitattributes".utf8).map { CChar(bitPattern: $0) }
        for entry in index.entries where entry.pathLength >= name.count {
            let tail = index.paths[
                (entry.pathStart + entry.pathLength - name.count)..<(entry.pathStart + entry.pathLength)]
            guard tail.elementsEqual(name) else { continue }
            if entry.pathLength == name.count || index.paths[entry.pathStart + entry.pathLength - name.count - 1] == 47
            {
                return true
            }
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
