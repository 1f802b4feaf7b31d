internal import CLibGit2

#if canImport(Glibc)
    import Glibc
#endif

/// A read-only view of git's index file (`.git/index`), parsed directly.
///
/// libgit2 verifies the file's SHA-1 and allocates every entry on load, which costs more than
/// the rest of a snapshot of a mid-sized repository; git itself skips the checksum on read.
/// This parser reads versions 2 to 4 and the cache-tree (`TREE`) extension, which is all a
/// snapshot needs. Split and sparse indexes are reported as unsupported, and callers fall
/// back to libgit2.
struct IndexFile: @unchecked Sendable {
    /// One entry's fields, as recorded.
    struct Entry {
        /// Offset and length of the path in `paths`.
        var pathStart: Int
        var pathLength: Int
        var ctimeSeconds: UInt32
        var ctimeNanoseconds: UInt32
        var mtimeSeconds: UInt32
        var mtimeNanoseconds: UInt32
        var ino: UInt32
        var mode: UInt32
        var uid: UInt32
        var gid: UInt32
        var size: UInt32
        var id: git_oid
        /// 0 for a normal entry, 1–3 for the sides of a conflict.
        var stage: UInt8
        var skipWorktree: Bool
        var intentToAdd: Bool
    }

    /// Every entry, in index order (sorted by path, then stage).
    private(set) var entries: [Entry] = []
    /// All paths, each NUL-terminated, addressed by `Entry.pathStart`.
    private(set) var paths: [CChar] = []
    /// The tree of the whole index, when the cache tree knows it.
    private(set) var cachedRootTree: ObjectID?
    /// Whether some entry is a conflict side (stage 1–3).
    private(set) var hasConflicts = false

    /// Errors that make this parser step aside for libgit2.
    enum Unsupported: Error { case unreadable, format, splitOrSparse }

    /// Reads the index at `path`. A missing file is an empty index, as git treats it.
    init(path: String) throws(Unsupported) {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return }
            throw .unreadable
        }
        let data = readAll(fd)
        Glibc.close(fd)
        var failure: Unsupported?
        data.withUnsafeBytes { raw in
            do { try parse(raw) } catch { failure = error as? Unsupported ?? .format }
        }
        if let failure { throw failure }
    }

    private mutating func parse(_ raw: UnsafeRawBufferPointer) throws(Unsupported) {
        func u32(_ offset: Int) -> UInt32 { raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self).bigEndian }
        func u16(_ offset: Int) -> UInt16 { raw.loadUnaligned(fromByteOffset: offset, as: UInt16.self).bigEndian }
        guard raw.count >= 32, u32(0) == 0x4449_5243 else { throw .format }  // "DIRC"
        let version = u32(4)
        guard (2...4).contains(version) else { throw .format }
        let count = Int(u32(8))
        let end = raw.count - 20  // trailing checksum
        entries.reserveCapacity(count)
        paths.reserveCapacity(count * 24)
        var offset = 12
        var previousPath: [CChar] = []
        for _ in 0..<count {
            let base = offset
            guard base + 62 <= end else { throw .format }
            let flags = u16(offset + 60)
            var extended: UInt16 = 0
            var cursor = offset + 62
            if flags & 0x4000 != 0 {
                guard version >= 3, cursor + 2 <= end else { throw .format }
                extended = u16(cursor)
                cursor += 2
            }
            var id = git_oid()
            withUnsafeMutableBytes(of: &id) {
                $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(base + 40)..<(base + 60)]))
            }
            let pathStart = paths.count
            var pathLength: Int
            if version == 4 {
                // Prefix compression: a varint of bytes to drop from the previous path, then the rest.
                var strip = 0
                var byte = raw[cursor]
                cursor += 1
                strip = Int(byte & 0x7f)
                while byte & 0x80 != 0 {
                    guard cursor < end else { throw .format }
                    byte = raw[cursor]
                    cursor += 1
                    strip = ((strip + 1) << 7) | Int(byte & 0x7f)
                }
                guard strip <= previousPath.count else { throw .format }
                guard let nul = raw[cursor..<end].firstIndex(of: 0) else { throw .format }
                var path = Array(previousPath.prefix(previousPath.count - strip))
                path.append(contentsOf: raw[cursor..<nul].map { CChar(bitPattern: $0) })
                pathLength = path.count
                paths.append(contentsOf: path)
                previousPath = path
                cursor = nul + 1
                offset = cursor
            } else {
                pathLength = Int(flags & 0x0fff)
                if pathLength == 0x0fff {
                    guard let nul = raw[cursor..<end].firstIndex(of: 0) else { throw .format }
                    pathLength = nul - cursor
                }
                guard cursor + pathLength < end else { throw .format }
                paths.append(contentsOf: raw[cursor..<(cursor + pathLength)].map { CChar(bitPattern: $0) })
                // Entries are padded with 1–8 NULs to a multiple of 8 bytes.
                let entryLength = (cursor - base) + pathLength
                offset = base + ((entryLength + 8) & ~7)
            }
            paths.append(0)
            let stage = UInt8((flags >> 12) & 0x3)
            if stage != 0 { hasConflicts = true }
            entries.append(
                Entry(
                    pathStart: pathStart, pathLength: pathLength, ctimeSeconds: u32(base),
                    ctimeNanoseconds: u32(base + 4), mtimeSeconds: u32(base + 8), mtimeNanoseconds: u32(base + 12),
                    ino: u32(base + 20), mode: u32(base + 24), uid: u32(base + 28), gid: u32(base + 32),
                    size: u32(base + 36), id: id, stage: stage, skipWorktree: extended & 0x4000 != 0,
                    intentToAdd: extended & 0x2000 != 0))
        }
        // Extensions: four-byte signature, four-byte length, data.
        while offset + 8 <= end {
            let signature = u32(offset)
            let length = Int(u32(offset + 4))
            let body = offset + 8
            guard body + length <= end else { throw .format }
            switch signature {
            case 0x5452_4545:  // "TREE"
                cachedRootTree = Self.rootOfCacheTree(UnsafeRawBufferPointer(rebasing: raw[body..<(body + length)]))
            case 0x6c69_6e6b, 0x7364_6972:  // "link" (split index), "sdir" (sparse index)
                throw .splitOrSparse
            default:
                break
            }
            offset = body + length
        }
    }

    /// The root tree id from a `TREE` extension, when the root is valid (entry count ≥ 0).
    private static func rootOfCacheTree(_ data: UnsafeRawBufferPointer) -> ObjectID? {
        // Root record: "" NUL, entry count (ASCII, -1 when invalid), SP, subtree count, LF, id.
        guard let nul = data.firstIndex(of: 0), nul == 0,
            let newline = data[(nul + 1)...].firstIndex(of: UInt8(ascii: "\n"))
        else { return nil }
        let counts = String(decoding: data[(nul + 1)..<newline], as: UTF8.self).split(separator: " ")
        guard counts.count == 2, let entryCount = Int(counts[0]), entryCount >= 0, newline + 21 <= data.count
        else { return nil }
        var id = git_oid()
        withUnsafeMutableBytes(of: &id) {
            $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: data[(newline + 1)..<(newline + 21)]))
        }
        return ObjectID(id)
    }
}

extension IndexFile {
    /// A path from `paths` as a Swift string.
    static func string(_ bytes: ArraySlice<CChar>) -> String {
        String(decoding: bytes.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The stage-0 entry for `path`, by binary search (entries are sorted by path bytes).
    func entry(at path: String) -> Entry? {
        let key = Array(path.utf8)
        return paths.withUnsafeBufferPointer { buffer -> Entry? in
            guard let base = buffer.baseAddress else { return nil }
            var low = 0
            var high = entries.count
            while low < high {
                let middle = (low + high) / 2
                let entry = entries[middle]
                let order = key.withUnsafeBufferPointer { k -> Int32 in
                    let common = min(k.count, entry.pathLength)
                    let c = k.baseAddress.map { memcmp(base + entry.pathStart, $0, common) } ?? 0
                    if c != 0 { return c }
                    return entry.pathLength < k.count ? -1 : (entry.pathLength > k.count ? 1 : 0)
                }
                if order == 0 {
                    // Conflict sides share the path; stage 0 sorts first but may be absent.
                    var first = middle
                    while first > 0, entries[first - 1].pathLength == entry.pathLength,
                        memcmp(base + entries[first - 1].pathStart, base + entry.pathStart, entry.pathLength) == 0
                    {
                        first -= 1
                    }
                    return entries[first].stage == 0 ? entries[first] : nil
                }
                if order < 0 { low = middle + 1 } else { high = middle }
            }
            return nil
        }
    }
}

/// The index as it was read once for a snapshot: what exp scans against and builds on.
public struct IndexState: Sendable {
    let file: IndexFile
    /// The index file's modification time (for racily clean entries).
    let modified: FileTime
    /// Whether libgit2 must be used instead (split or sparse index, unreadable file).
    let needsLibgit2: Bool

    /// Whether the index records unresolved conflicts.
    public var hasConflicts: Bool { file.hasConflicts }

    /// The blob and mode the index records at `path` (stage 0); nil when it has none.
    public func file(at path: String) -> TreeFileEntry? {
        file.entry(at: path).map { TreeFileEntry(id: ObjectID($0.id), mode: $0.mode) }
    }
}

/// A file time with nanoseconds, as `stat` gives it.
struct FileTime: Sendable, Equatable {
    var seconds: Int
    var nanoseconds: Int

    static let zero = FileTime(seconds: 0, nanoseconds: 0)

    init(seconds: Int, nanoseconds: Int) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    init(_ time: timespec) { self.init(seconds: Int(time.tv_sec), nanoseconds: Int(time.tv_nsec)) }
}

extension Repository {
    /// Reads this worktree's index once, for `workingTreeChanges` and `writeTree`.
    ///
    /// - Parameter file: another index file to read (what `GIT_INDEX_FILE` names while git
    ///   runs a commit hook); nil for the worktree's own `index`.
    public func readIndex(file: String? = nil) throws(GitError) -> IndexState {
        let path = file ?? gitDirectory + "/index"
        var info = stat()
        let modified = stat(path, &info) == 0 ? FileTime(info.st_mtim) : FileTime.zero
        do {
            return IndexState(file: try IndexFile(path: path), modified: modified, needsLibgit2: false)
        } catch .splitOrSparse {
            // libgit2 1.5 cannot read these either.
            throw GitError(
                operation: "could not read the index \(path)",
                reason: "it is a split or sparse index, which exp cannot read yet; run "
                    + "`git update-index --no-split-index` (or `git sparse-checkout disable`) and try again",
                code: .generic, errorClass: .index)
        } catch {
            return try readIndexWithLibgit2(modified: modified, file: file)
        }
    }

    /// Loads the index through libgit2 and copies its entries, for the layouts `IndexFile`
    /// does not read.
    private func readIndexWithLibgit2(modified: FileTime, file: String?) throws(GitError) -> IndexState {
        var index: OpaquePointer?
        if let file {
            try check(git_index_open(&index, file), "could not read the index \(file)")
        } else {
            try check(git_repository_index(&index, pointer), "could not read the index")
        }
        defer { git_index_free(index) }
        try check(git_index_read(index, 0), "could not read the index")
        var file = IndexFile()
        for position in 0..<git_index_entrycount(index) {
            guard let entry = git_index_get_byindex(index, position), let path = entry.pointee.path else { continue }
            let e = entry.pointee
            let stage = UInt8((UInt32(e.flags) & UInt32(GIT_INDEX_ENTRY_STAGEMASK)) >> 12)
            let extended = UInt32(e.flags_extended)
            file.append(
                path: path,
                IndexFile.Entry(
                    pathStart: 0, pathLength: 0, ctimeSeconds: UInt32(bitPattern: e.ctime.seconds),
                    ctimeNanoseconds: e.ctime.nanoseconds, mtimeSeconds: UInt32(bitPattern: e.mtime.seconds),
                    mtimeNanoseconds: e.mtime.nanoseconds, ino: e.ino, mode: e.mode, uid: e.uid, gid: e.gid,
                    size: e.file_size, id: e.id, stage: stage,
                    skipWorktree: extended & UInt32(GIT_INDEX_ENTRY_SKIP_WORKTREE.rawValue) != 0,
                    intentToAdd: extended & UInt32(GIT_INDEX_ENTRY_INTENT_TO_ADD.rawValue) != 0))
        }
        return IndexState(file: file, modified: modified, needsLibgit2: true)
    }
}

extension IndexFile {
    /// An empty index, filled by `append`.
    init() {}

    /// Adds an entry (used when copying entries out of libgit2).
    mutating func append(path: UnsafePointer<CChar>, _ entry: Entry) {
        var entry = entry
        entry.pathStart = paths.count
        entry.pathLength = strlen(path)
        paths.append(contentsOf: UnsafeBufferPointer(start: path, count: entry.pathLength))
        paths.append(0)
        if entry.stage != 0 { hasConflicts = true }
        entries.append(entry)
    }
}
