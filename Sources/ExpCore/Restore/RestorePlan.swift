import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A path `exp checkout` could not bring back, and why.
public struct UnrestoredPath: Sendable, Equatable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// What a restore will do to a working tree: the paths to write from the target tree, the
/// paths to delete, and which of those hold the user's uncommitted work.
struct RestorePlan {
    /// Paths whose file in the target tree is written.
    var write: [String] = []
    /// Paths (files of the current state) removed because the target has none there.
    var delete: [String] = []
    /// Paths among `write` and `delete` whose current content differs from HEAD's: changing
    /// them loses work unless it is saved first.
    var dirty: [String] = []
    /// Paths that cannot be restored without touching a file exp never touches (ignored, or
    /// left out of snapshots: secrets, large files, `.expignore`d paths).
    var blocked: [UnrestoredPath] = []

    var isEmpty: Bool { write.isEmpty && delete.isEmpty }

    /// Compares the current state (`current`, a snapshot tree: what `git add -A` would stage
    /// minus what snapshots leave out) with `target`.
    ///
    /// - Parameters:
    ///   - head: HEAD's tree (nil on an unborn branch), to tell the user's changes apart.
    ///   - root: the working tree on disk, to find protected files in the way.
    ///   - only: when given, only these paths (and the files under them) are considered.
    static func make(
        repository: Repository, current: ObjectID, target: ObjectID, head: ObjectID?, root: String,
        only: [String]?
    ) throws -> RestorePlan {
        let currentFiles = try translatingGitErrors { try repository.treeFiles(current) }
        let targetFiles = try translatingGitErrors { try repository.treeFiles(target) }
        let headFiles = try translatingGitErrors { try head.map { try repository.treeFiles($0) } ?? [:] }
        var plan = RestorePlan()
        let paths = Set(currentFiles.keys).union(targetFiles.keys).sorted()
        for path in paths where currentFiles[path] != targetFiles[path] {
            if let only, !only.contains(where: { path == $0 || path.hasPrefix($0 + "/") || $0 == "." }) {
                continue
            }
            if targetFiles[path] != nil {
                if currentFiles[path] == nil,
                    let reason = protectedInTheWay(path, root: root, currentFiles: currentFiles)
                {
                    plan.blocked.append(UnrestoredPath(path: path, reason: reason))
                    continue
                }
                plan.write.append(path)
            } else {
                plan.delete.append(path)
            }
            if currentFiles[path] != nil && currentFiles[path] != headFiles[path] {
                plan.dirty.append(path)
            }
        }
        return plan
    }

    /// Why a file that is not part of the current state stands where `path` must go (or
    /// where one of its folders must go); nil when nothing does.
    private static func protectedInTheWay(_ path: String, root: String, currentFiles: [String: TreeFileEntry])
        -> String?
    {
        var info = stat()
        if lstat(root + "/" + path, &info) == 0 && info.st_mode & S_IFMT != S_IFDIR {
            return "a file exp does not snapshot (ignored, secret, large or .expignored) is there"
        }
        var prefix = ""
        for part in path.split(separator: "/").dropLast() {
            prefix += (prefix.isEmpty ? "" : "/") + part
            if lstat(root + "/" + prefix, &info) == 0 && info.st_mode & S_IFMT != S_IFDIR
                && currentFiles[prefix] == nil
            {
                return "\(prefix) is a file exp does not snapshot (ignored, secret, large or .expignored)"
            }
        }
        return nil
    }
}

/// File operations of a restore, on one working tree: files are written from the target's
/// blobs as they are stored (no smudge or line-ending filters).
struct RestoreExecutor {
    let repository: Repository
    let root: String

    /// Applies `plan` with files from `target`; returns the paths that could not be restored.
    func apply(_ plan: RestorePlan, target: ObjectID) -> [UnrestoredPath] {
        var failed: [UnrestoredPath] = []
        // Deepest first, so folders empty out before they are removed.
        for path in plan.delete.sorted(by: { $0.count > $1.count }) {
            let full = root + "/" + path
            var info = stat()
            guard lstat(full, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                // A submodule or nested repository: never removed.
                failed.append(UnrestoredPath(path: path, reason: "a nested repository is there; left in place"))
                continue
            }
            if unlink(full) != 0 {
                failed.append(UnrestoredPath(path: path, reason: String(cString: strerror(errno))))
                continue
            }
            removeEmptyFolders(above: path)
        }
        var writable: [String] = []
        for path in plan.write {
            let full = root + "/" + path
            var info = stat()
            if lstat(full, &info) == 0 {
                if info.st_mode & S_IFMT == S_IFDIR {
                    // Only empty folders (left after deleting their files) give way.
                    if !removeEmptyTree(full) {
                        failed.append(
                            UnrestoredPath(path: path, reason: "a folder holding files exp does not snapshot is there"))
                        continue
                    }
                } else if unlink(full) != 0 {
                    // Written fresh, so the mode and the file type come from the target.
                    failed.append(UnrestoredPath(path: path, reason: String(cString: strerror(errno))))
                    continue
                }
            }
            writable.append(path)
        }
        let files: [String: TreeFileEntry]
        do {
            files = try repository.treeFiles(target)
        } catch {
            return failed + writable.map { UnrestoredPath(path: $0, reason: error.description) }
        }
        for path in writable {
            guard let entry = files[path] else { continue }
            if let reason = write(entry, at: path) { failed.append(UnrestoredPath(path: path, reason: reason)) }
        }
        return failed
    }

    /// Writes one file of the target tree where nothing is (its folders made as needed), as
    /// git would: the blob's bytes, 0755 or 0644 less the umask, or a symlink; nil on success,
    /// else the reason.
    private func write(_ entry: TreeFileEntry, at path: String) -> String? {
        let full = root + "/" + path
        let folder = (full as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            return "could not create its folder: \(error.localizedDescription)"
        }
        if entry.mode == 0o160000 {
            return mkdir(full, 0o777) == 0 ? nil : String(cString: strerror(errno))
        }
        let bytes: [UInt8]
        do {
            bytes = try repository.blobContents(entry.id)
        } catch {
            return error.description
        }
        if entry.mode == 0o120000 {
            let target = String(decoding: bytes, as: UTF8.self)
            return symlink(target, full) == 0 ? nil : String(cString: strerror(errno))
        }
        let descriptor = open(full, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, entry.mode == 0o100755 ? 0o777 : 0o666)
        guard descriptor >= 0 else { return String(cString: strerror(errno)) }
        defer { close(descriptor) }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return String(cString: strerror(errno))
            }
            written += count
        }
        return nil
    }

    /// Removes the folders above `path` that are now empty, up to the root.
    private func removeEmptyFolders(above path: String) {
        var parts = path.split(separator: "/").map(String.init)
        parts.removeLast()
        while !parts.isEmpty {
            if rmdir(root + "/" + parts.joined(separator: "/")) != 0 { return }
            parts.removeLast()
        }
    }

    /// Removes `folder` when it holds only empty folders; false when anything else is inside.
    private func removeEmptyTree(_ folder: String) -> Bool {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return false }
        for name in names {
            var info = stat()
            let full = folder + "/" + name
            guard lstat(full, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, removeEmptyTree(full) else {
                return false
            }
        }
        return rmdir(folder) == 0
    }
}
