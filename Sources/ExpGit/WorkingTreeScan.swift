internal import CLibGit2
import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Ignore rules that come from outside the tree's own `.gitignore` files.
public struct IgnoreSources: Sendable, Equatable {
    /// `core.excludesFile` (or its XDG default), resolved by the caller; nil for none.
    public var excludesFile: String?
    /// exp's own rules (`.expignore` at the root): a path they match is left out even where
    /// git would take it. Tracked files are never left out.
    public var extraRules: [String]

    public init(excludesFile: String? = nil, extraRules: [String] = []) {
        self.excludesFile = excludesFile
        self.extraRules = extraRules
    }
}

extension Repository {
    /// Paths where the working tree differs from the index, as `git add -A` would see them.
    ///
    /// Tracked files are compared with the index's stat data (size, times, inode, mode), so an
    /// unchanged file is never read; a file whose stat data differs, or that is racily clean
    /// (changed in the same instant the index was written), is reported `modified` and left to
    /// `writeTree` to hash. Untracked files are found by walking the folders that are not
    /// ignored, with git's ignore rules (`IgnoreList`); ignored folders are never entered.
    public func workingTreeChanges(in index: IndexState, ignoring sources: IgnoreSources = IgnoreSources())
        throws(GitError) -> [WorkingTreeEntry]
    {
        let rootFD = Glibc.open(workingDirectory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else {
            throw GitError(
                operation: "could not open the working tree \(workingDirectory)",
                reason: String(cString: strerror(errno)), code: .generic, errorClass: .os)
        }
        defer { Glibc.close(rootFD) }

        var scan = TrackedScan(
            rootFD: rootFD, trustExecutableBit: try configBool("core.filemode", default: true),
            trustCtime: try configBool("core.trustctime", default: true))
        scan.indexModified = index.modified
        var result: [WorkingTreeEntry] = []
        let (tracked, entries) = scan.collect(index: index.file, into: &result)

        var walker = UntrackedWalk(tracked: tracked)
        walker.infoExclude = Self.readIgnoreList(path: commonDirectory + "/info/exclude")
        if let file = sources.excludesFile { walker.excludesFile = Self.readIgnoreList(path: file) }
        if !sources.extraRules.isEmpty {
            walker.extra = IgnoreList(base: [], text: Array(sources.extraRules.joined(separator: "\n").utf8))
        }
        // Both halves are mostly system calls: comparing tracked files with their stat data
        // and walking folders for untracked ones run side by side.
        let halves = ScanHalves()
        let frozenScan = scan
        let frozenWalker = walker
        let file = index.file
        DispatchQueue.concurrentPerform(iterations: 2) { half in
            if half == 0 {
                halves.tracked = frozenScan.compare(entries, in: file)
            } else {
                var walker = frozenWalker
                var found: [WorkingTreeEntry] = []
                walker.walk(folderFD: rootFD, folder: [], into: &found)
                halves.untracked = found
            }
        }
        result += halves.tracked
        result += halves.untracked
        result.sort { $0.path < $1.path }
        return result
    }

    private static func readIgnoreList(path: String) -> IgnoreList? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        return IgnoreList(base: [], text: readAll(fd))
    }
}

/// Reads everything from an open file descriptor.
func readAll(_ fd: Int32) -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 8192)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return bytes
}

/// What the index tracks, folder by folder, for the untracked walk.
struct TrackedPaths: Sendable {
    /// Folder (no trailing slash, "" for the root) → names of tracked files directly in it.
    var files: [String: Set<String>] = [:]
    /// Every folder that holds a tracked path at any depth.
    var folders: Set<String> = [""]
    /// Paths of submodules (gitlinks).
    var gitlinks: Set<String> = []
}

/// Compares every index entry with the file on disk.
struct TrackedScan: Sendable {
    let rootFD: Int32
    let trustExecutableBit: Bool
    let trustCtime: Bool
    /// The index file's modification time: entries not older than it are racily clean.
    var indexModified = FileTime.zero

    init(rootFD: Int32, trustExecutableBit: Bool, trustCtime: Bool) {
        self.rootFD = rootFD
        self.trustExecutableBit = trustExecutableBit
        self.trustCtime = trustCtime
    }

    /// Reads which paths the index tracks, folder by folder, and reports conflicted paths;
    /// returns the positions of the stage-0 entries to compare with the disk.
    func collect(index: IndexFile, into result: inout [WorkingTreeEntry]) -> (TrackedPaths, [Int]) {
        var tracked = TrackedPaths()
        var toCompare: [Int] = []
        toCompare.reserveCapacity(index.entries.count)
        var currentFolder = ""
        var currentFolderBytes: ArraySlice<CChar> = []
        var currentNames = Set<String>()
        var lastConflict: String? = nil
        do {
            let paths = index.paths
            for (position, entry) in index.entries.enumerated() {
                let path = paths[entry.pathStart..<(entry.pathStart + entry.pathLength)]
                let slash = path.lastIndex(of: CChar(UInt8(ascii: "/")))
                let folderBytes = slash.map { path[path.startIndex..<$0] } ?? []
                if !folderBytes.elementsEqual(currentFolderBytes) {
                    tracked.files[currentFolder, default: []].formUnion(currentNames)
                    currentFolderBytes = folderBytes
                    currentFolder = String(decoding: folderBytes.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    currentNames = tracked.files[currentFolder] ?? []
                    var ancestor = currentFolder
                    while !ancestor.isEmpty, tracked.folders.insert(ancestor).inserted {
                        ancestor = split(ancestor).folder
                    }
                }
                let nameBytes = slash.map { path[($0 + 1)...] } ?? path
                currentNames.insert(String(decoding: nameBytes.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                if entry.mode == 0o160000 { tracked.gitlinks.insert(IndexFile.string(path)) }
                if entry.stage != 0 {
                    let pathString = IndexFile.string(path)
                    if lastConflict != pathString {
                        result.append(WorkingTreeEntry(path: pathString, change: .conflicted))
                    }
                    lastConflict = pathString
                    continue
                }
                if entry.skipWorktree { continue }
                toCompare.append(position)
            }
        }
        tracked.files[currentFolder, default: []].formUnion(currentNames)
        return (tracked, toCompare)
    }

    /// Compares the given stage-0 index entries with the files on disk.
    func compare(_ positions: [Int], in index: IndexFile) -> [WorkingTreeEntry] {
        var result: [WorkingTreeEntry] = []
        index.paths.withUnsafeBufferPointer { paths in
            guard let base = paths.baseAddress else { return }
            for position in positions {
                let entry = index.entries[position]
                let cPath = base + entry.pathStart
                var info = stat()
                if fstatat(rootFD, cPath, &info, AT_SYMLINK_NOFOLLOW) != 0 {
                    let gone = errno == ENOENT || errno == ENOTDIR
                    result.append(WorkingTreeEntry(path: String(cString: cPath), change: gone ? .deleted : .modified))
                    continue
                }
                let type = info.st_mode & S_IFMT
                if entry.mode == 0o160000 {
                    // A submodule: its checked-out commit is read when staging.
                    let path = String(cString: cPath)
                    if type == S_IFDIR && fstatat(rootFD, path + "/.git", &info, 0) == 0 {
                        result.append(WorkingTreeEntry(path: path, change: .modified))
                    }
                    continue
                }
                if type == S_IFDIR {
                    // A file that became a folder: its contents are found as untracked.
                    result.append(WorkingTreeEntry(path: String(cString: cPath), change: .deleted))
                    continue
                }
                if entry.intentToAdd || mayDiffer(entry, info) {
                    result.append(WorkingTreeEntry(path: String(cString: cPath), change: .modified))
                }
            }
        }
        return result
    }

    /// Whether the stat data on disk differs from what the index recorded, or the entry is
    /// racily clean; when false the file is certainly unchanged.
    private func mayDiffer(_ entry: IndexFile.Entry, _ info: stat) -> Bool {
        let type = info.st_mode & S_IFMT
        switch entry.mode {
        case 0o120000: if type != S_IFLNK { return true }
        case 0o100644, 0o100755:
            if type != S_IFREG { return true }
            if trustExecutableBit && ((info.st_mode & 0o100) != 0) != (entry.mode == 0o100755) { return true }
        default: return true
        }
        if entry.size != UInt32(truncatingIfNeeded: info.st_size) { return true }
        if entry.mtimeSeconds != UInt32(truncatingIfNeeded: info.st_mtim.tv_sec)
            || entry.mtimeNanoseconds != UInt32(truncatingIfNeeded: info.st_mtim.tv_nsec)
        {
            return true
        }
        if trustCtime
            && (entry.ctimeSeconds != UInt32(truncatingIfNeeded: info.st_ctim.tv_sec)
                || entry.ctimeNanoseconds != UInt32(truncatingIfNeeded: info.st_ctim.tv_nsec))
        {
            return true
        }
        if entry.ino != UInt32(truncatingIfNeeded: info.st_ino) || entry.uid != info.st_uid
            || entry.gid != info.st_gid
        {
            return true
        }
        // Racily clean: written in the same instant as (or after) the index itself.
        let seconds = Int(entry.mtimeSeconds)
        let nanoseconds = Int(entry.mtimeNanoseconds)
        return seconds > indexModified.seconds
            || (seconds == indexModified.seconds && nanoseconds >= indexModified.nanoseconds)
    }
}

/// Results of the two halves of a scan, filled from two threads (each writes its own field
/// once; `concurrentPerform` returns only after both are done).
final class ScanHalves: @unchecked Sendable {
    var tracked: [WorkingTreeEntry] = []
    var untracked: [WorkingTreeEntry] = []
}

/// Splits `a/b/c` into (`a/b`, `c`) and `c` into (``, `c`).
func split(_ path: String) -> (folder: String, name: String) {
    guard let slash = path.utf8.lastIndex(of: UInt8(ascii: "/")) else { return ("", path) }
    return (String(path[..<slash]), String(path[path.utf8.index(after: slash)...]))
}

/// Walks the folders git would look in for untracked files.
struct UntrackedWalk: Sendable {
    let tracked: TrackedPaths
    var infoExclude: IgnoreList?
    var excludesFile: IgnoreList?
    var extra: IgnoreList?
    /// `.gitignore` files of the folders being walked, root first.
    private var stack: [IgnoreList] = []

    init(tracked: TrackedPaths) { self.tracked = tracked }

    /// Whether `path` is ignored (by git's rules, or by exp's extra rules).
    func isIgnored(_ path: [UInt8], nameStart: Int, isFolder: Bool) -> Bool {
        if extra?.verdict(path: path, nameStart: nameStart, isFolder: isFolder) == true { return true }
        for list in stack.reversed() {
            if let verdict = list.verdict(path: path, nameStart: nameStart, isFolder: isFolder) { return verdict }
        }
        if let verdict = infoExclude?.verdict(path: path, nameStart: nameStart, isFolder: isFolder) { return verdict }
        return excludesFile?.verdict(path: path, nameStart: nameStart, isFolder: isFolder) ?? false
    }

    mutating func walk(folderFD: Int32, folder: [UInt8], into result: inout [WorkingTreeEntry]) {
        // Take our own descriptor: closedir closes it.
        let fd = dup(folderFD)
        guard fd >= 0, let dir = fdopendir(fd) else {
            if fd >= 0 { Glibc.close(fd) }
            return
        }
        defer { closedir(dir) }
        var entries: [(name: [UInt8], type: UInt8)] = []
        var hasIgnoreFile = false
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> [UInt8] in
                let bytes = raw.bindMemory(to: UInt8.self)
                return Array(bytes[..<(bytes.firstIndex(of: 0) ?? bytes.count)])
            }
            if name == [46] || name == [46, 46] || name == Self.dotGit { continue }
            if name == Self.dotGitignore { hasIgnoreFile = true }
            entries.append((name, entry.pointee.d_type))
        }
        let pushed = hasIgnoreFile ? pushIgnoreFile(folderFD: folderFD, folder: folder) : false
        defer { if pushed { stack.removeLast() } }

        let folderName = String(decoding: folder, as: UTF8.self)
        let trackedNames = tracked.files[folderName]
        for (name, dType) in entries {
            var path = folder
            if !path.isEmpty { path.append(UInt8(ascii: "/")) }
            let nameStart = path.count
            path.append(contentsOf: name)
            var type = dType
            if type == UInt8(DT_UNKNOWN) {
                var info = stat()
                guard fstatat(folderFD, name.map { CChar(bitPattern: $0) } + [0], &info, AT_SYMLINK_NOFOLLOW) == 0
                else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: type = UInt8(DT_DIR)
                case S_IFREG: type = UInt8(DT_REG)
                case S_IFLNK: type = UInt8(DT_LNK)
                default: continue
                }
            }
            let nameString = String(decoding: name, as: UTF8.self)
            let pathString = folder.isEmpty ? nameString : folderName + "/" + nameString
            if type == UInt8(DT_DIR) {
                if tracked.gitlinks.contains(pathString) { continue }
                if isIgnored(path, nameStart: nameStart, isFolder: true) { continue }
                let childFD = openat(
                    folderFD, name.map { CChar(bitPattern: $0) } + [0], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard childFD >= 0 else { continue }
                defer { Glibc.close(childFD) }
                if !tracked.folders.contains(pathString) {
                    var info = stat()
                    if fstatat(childFD, ".git", &info, AT_SYMLINK_NOFOLLOW) == 0 {
                        // Another repository inside this one: git adds it as a gitlink.
                        result.append(WorkingTreeEntry(path: pathString + "/", change: .untracked))
                        continue
                    }
                }
                walk(folderFD: childFD, folder: path, into: &result)
            } else if type == UInt8(DT_REG) || type == UInt8(DT_LNK) {
                if trackedNames?.contains(nameString) == true { continue }
                if isIgnored(path, nameStart: nameStart, isFolder: false) { continue }
                var info = stat()
                let size: Int64? =
                    fstatat(folderFD, name.map { CChar(bitPattern: $0) } + [0], &info, AT_SYMLINK_NOFOLLOW) == 0
                    ? Int64(info.st_size) : nil
                result.append(WorkingTreeEntry(path: pathString, change: .untracked, size: size))
            }
        }
    }

    private static let dotGit = Array(".git".utf8)
    private static let dotGitignore = Array(".gitignore".utf8)

    /// Reads this folder's `.gitignore` (never through a symlink, as git) onto the stack.
    private mutating func pushIgnoreFile(folderFD: Int32, folder: [UInt8]) -> Bool {
        let fd = openat(folderFD, ".gitignore", O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        stack.append(IgnoreList(base: folder, text: readAll(fd)))
        return true
    }
}
