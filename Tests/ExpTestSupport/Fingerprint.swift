import Foundation

/// Everything a snapshot must never change: the bytes of the index, HEAD, every ref and
/// reflog, and every worktree file's content and mode (and symlink target).
public struct RepoFingerprint: Equatable, CustomStringConvertible {
    public var entries: [String: String]

    /// Reads the fingerprint of the repository at `root` whose git folder is `gitDir`.
    public init(root: String, gitDir: String) throws {
        var entries: [String: String] = [:]
        let fm = FileManager.default
        for name in ["index", "HEAD", "packed-refs", "ORIG_HEAD", "FETCH_HEAD", "MERGE_HEAD"] {
            let path = gitDir + "/" + name
            if let data = fm.contents(atPath: path) { entries["git:" + name] = Self.digest(data) }
        }
        for sub in ["refs", "logs"] {
            let base = gitDir + "/" + sub
            guard let walker = fm.enumerator(atPath: base) else { continue }
            while let relative = walker.nextObject() as? String {
                let path = base + "/" + relative
                var isDir: ObjCBool = false
                if fm.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue,
                    let data = fm.contents(atPath: path)
                {
                    entries["git:\(sub)/\(relative)"] = Self.digest(data)
                }
            }
        }
        try Self.walk(root: root, relative: "", into: &entries)
        self.entries = entries
    }

    private static func walk(root: String, relative: String, into entries: inout [String: String]) throws {
        let folder = relative.isEmpty ? root : root + "/" + relative
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            if relative.isEmpty && name == ".git" { continue }
            let rel = relative.isEmpty ? name : relative + "/" + name
            let path = root + "/" + rel
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let mode = String(info.st_mode, radix: 8)
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                entries["dir:" + rel] = mode
                if FileManager.default.fileExists(atPath: path + "/.git") { continue }
                try walk(root: root, relative: rel, into: &entries)
            case S_IFLNK:
                entries["link:" + rel] = (try? FileManager.default.destinationOfSymbolicLink(atPath: path)) ?? "?"
            default:
                let data = FileManager.default.contents(atPath: path) ?? Data()
                entries["file:" + rel] = mode + " " + digest(data)
            }
        }
    }

    /// A cheap content digest (FNV-1a 64 plus length): enough to tell files apart in tests.
    static func digest(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16) + "/" + String(data.count)
    }

    public var description: String {
        entries.keys.sorted().map { "\($0) = \(entries[$0]!)" }.joined(separator: "\n")
    }

    /// Keys whose values differ between two fingerprints (for readable failures).
    public func differences(from other: RepoFingerprint) -> [String] {
        Set(entries.keys).union(other.entries.keys).sorted().filter { entries[$0] != other.entries[$0] }
    }
}
