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
    /// left out of snapshots: secrets, large files, `.expignore`d paths), or without writing
    /// through a symlink.
    var blocked: [UnrestoredPath] = []

    var isEmpty: Bool { write.isEmpty && delete.isEmpty }

    /// Compares the current state (`current`, a snapshot tree: what `git add -A` would stage
    /// minus what snapshots leave out) with `target`, whose every path must pass git's checks
    /// (`Repository.verifiedTreeFiles`; callers check first with `Workspace.verifiedFiles(of:)`
    /// for an error that names the run).
    ///
    /// - Parameters:
    ///   - head: HEAD's tree (nil on an unborn branch), to tell the user's changes apart.
    ///   - root: the working tree on disk, to find protected files and symlinks in the way.
    ///   - only: when given, only these paths (and the files under them) are considered.
    static func make(
        repository: Repository, current: ObjectID, target: ObjectID, head: ObjectID?, root: String,
        only: [String]?
    ) throws -> RestorePlan {
        let targetFiles = try verifiedTreeFiles(repository, target)
        let currentFiles = try translatingGitErrors { try repository.treeFiles(current) }
        let headFiles = try translatingGitErrors { try head.map { try repository.treeFiles($0) } ?? [:] }
        var plan = RestorePlan()
        let paths = Set(currentFiles.keys).union(targetFiles.keys).sorted()
        var writes: [String] = []
        for path in paths where currentFiles[path] != targetFiles[path] {
            if let only, !only.contains(where: { path == $0 || path.hasPrefix($0 + "/") || $0 == "." }) {
                continue
            }
            if targetFiles[path] != nil {
                writes.append(path)
            } else {
                plan.delete.append(path)
            }
            if currentFiles[path] != nil && currentFiles[path] != headFiles[path] {
                plan.dirty.append(path)
            }
        }
        let deleted = Set(plan.delete)
        for path in writes {
            if let reason = inTheWay(path, root: root, currentFiles: currentFiles, deleted: deleted) {
                plan.blocked.append(UnrestoredPath(path: path, reason: reason))
                plan.dirty.removeAll { $0 == path }
            } else {
                plan.write.append(path)
            }
        }
        return plan
    }

    /// Why `path` cannot be written: a file exp does not snapshot stands there, or one of its
    /// folders on disk is a file or a symlink that the restore does not remove first (exp
    /// never writes through a symlink); nil when nothing is in the way.
    private static func inTheWay(
        _ path: String, root: String, currentFiles: [String: TreeFileEntry], deleted: Set<String>
    ) -> String? {
        var components = path.split(separator: "/").map(String.init)
        let name = components.removeLast()
        var folder: NoFollowFolder
        do throws(NoFollowFolder.Failure) {
            folder = try NoFollowFolder.under(root: root, components: [], create: false)
        } catch {
            return error.reason
        }
        for component in components {
            do throws(NoFollowFolder.Failure) {
                folder = try folder.child(component, create: false)
            } catch .missing {
                return nil  // made by the restore
            } catch {
                let prefix = folder.relativePath.isEmpty ? component : folder.relativePath + "/" + component
                // Removed first by this restore, then made a folder.
                if deleted.contains(prefix) { return nil }
                if currentFiles[prefix] == nil {
                    return "\(prefix) is a file exp does not snapshot (ignored, secret, large or .expignored)"
                }
                return error.reason
            }
        }
        guard currentFiles[path] == nil, let info = folder.status(name), info.st_mode & S_IFMT != S_IFDIR else {
            return nil
        }
        return "a file exp does not snapshot (ignored, secret, large or .expignored) is there"
    }
}

/// The files of `tree` once every path has passed git's checks, as an `ExpError` otherwise:
/// "refusing to restore `subject`: `what` holds an unsafe path …", with `hint` and `reason`.
func verifiedTreeFiles(
    _ repository: Repository, _ tree: ObjectID, subject: String? = nil, what: String = "it", hint: String? = nil,
    reason: ExpError.Reason? = nil
) throws -> [String: TreeFileEntry] {
    do throws(TreeCheckError) {
        return try repository.verifiedTreeFiles(tree)
    } catch .unreadable(let error) {
        throw ExpError(error)
    } catch .unsafe(let path, let why) {
        throw ExpError(
            .corrupt,
            "refusing to restore \(subject ?? "tree \(tree.short())"): \(what) holds an unsafe path \(path) "
                + "(\(why)); nothing was written",
            hint: hint, reason: reason)
    }
}

extension Workspace {
    /// The files of `run`'s snapshot, once its snapshot tree and its base commit's tree have
    /// passed git's checks for a checkout (`Repository.verifiedTreeFiles`). Throws, before
    /// anything is written, naming the run and the first unsafe path.
    func verifiedFiles(of run: StoredRun) throws -> [String: TreeFileEntry] {
        let record = run.record
        let files = try verified(record.snapshot.tree, of: run, what: "its snapshot")
        if let base = record.base.commit, let tree = try? repository.tree(ofCommit: base) {
            _ = try verified(tree, of: run, what: "its base commit \(base.short())")
        }
        return files
    }

    private func verified(_ tree: ObjectID, of run: StoredRun, what: String) throws -> [String: TreeFileEntry] {
        try verifiedTreeFiles(
            repository, tree, subject: "run \(run.record.name)", what: what,
            hint: "git would refuse this tree too: the run was not recorded by exp or was tampered with",
            reason: .tamperedRun(run.record.name))
    }
}

/// File operations of a restore, on one working tree: files are written from the target's
/// blobs as they are stored (no smudge or line-ending filters), and every folder on the way
/// is opened without following symlinks.
struct RestoreExecutor {
    let repository: Repository
    let root: String

    /// Applies `plan` with files from `target` (every path checked again); returns the paths
    /// that could not be restored.
    func apply(_ plan: RestorePlan, target: ObjectID) -> [UnrestoredPath] {
        let files: [String: TreeFileEntry]
        do {
            files = try verifiedTreeFiles(repository, target)
        } catch {
            return (plan.write + plan.delete).map { UnrestoredPath(path: $0, reason: "\(error)") }
        }
        var failed: [UnrestoredPath] = []
        // Deepest first, so folders empty out before they are removed.
        for path in plan.delete.sorted(by: { $0.count > $1.count }) {
            let parent: (folder: NoFollowFolder, name: String)
            do throws(NoFollowFolder.Failure) {
                parent = try NoFollowFolder.openParent(of: path, root: root, create: false)
            } catch .missing {
                continue
            } catch {
                failed.append(UnrestoredPath(path: path, reason: error.reason))
                continue
            }
            guard let info = parent.folder.status(parent.name) else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                // A submodule or nested repository: never removed.
                failed.append(UnrestoredPath(path: path, reason: "a nested repository is there; left in place"))
                continue
            }
            if unlinkat(parent.folder.descriptor, parent.name, 0) != 0 {
                failed.append(UnrestoredPath(path: path, reason: String(cString: strerror(errno))))
                continue
            }
            removeEmptyFolders(above: path)
        }
        for path in plan.write {
            guard let entry = files[path] else { continue }
            if let reason = write(entry, at: path) { failed.append(UnrestoredPath(path: path, reason: reason)) }
        }
        return failed
    }

    /// Writes one file of the target tree at `path`, as git would: its folders made as needed
    /// (never through a symlink), whatever file is there replaced (an empty folder gives way),
    /// then the blob's bytes, 0755 or 0644 less the umask, or a symlink; nil on success, else
    /// the reason.
    private func write(_ entry: TreeFileEntry, at path: String) -> String? {
        let parent: (folder: NoFollowFolder, name: String)
        do throws(NoFollowFolder.Failure) {
            parent = try NoFollowFolder.openParent(of: path, root: root, create: true)
        } catch {
            return error.reason
        }
        let folder = parent.folder
        let name = parent.name
        if let info = folder.status(name) {
            if info.st_mode & S_IFMT == S_IFDIR {
                // Only empty folders (left after deleting their files) give way.
                if !removeEmptyTree(name, in: folder) {
                    return "a folder holding files exp does not snapshot is there"
                }
            } else if unlinkat(folder.descriptor, name, 0) != 0 {
                // Written fresh, so the mode and the file type come from the target.
                return String(cString: strerror(errno))
            }
        }
        if entry.mode == 0o160000 {
            return mkdirat(folder.descriptor, name, 0o777) == 0 ? nil : String(cString: strerror(errno))
        }
        let bytes: [UInt8]
        do {
            bytes = try repository.blobContents(entry.id)
        } catch {
            return error.description
        }
        if entry.mode == 0o120000 {
            let target = String(decoding: bytes, as: UTF8.self)
            return symlinkat(target, folder.descriptor, name) == 0 ? nil : String(cString: strerror(errno))
        }
        let descriptor = openat(
            folder.descriptor, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
            entry.mode == 0o100755 ? 0o777 : 0o666)
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
        while let name = parts.popLast() {
            guard let folder = try? NoFollowFolder.under(root: root, components: parts, create: false),
                unlinkat(folder.descriptor, name, AT_REMOVEDIR) == 0
            else { return }
        }
    }

    /// Removes the folder `name` in `parent` when it holds only empty folders; false when
    /// anything else is inside.
    private func removeEmptyTree(_ name: String, in parent: NoFollowFolder) -> Bool {
        guard let folder = try? parent.child(name, create: false), let names = folder.names() else { return false }
        for inner in names {
            guard let info = folder.status(inner), info.st_mode & S_IFMT == S_IFDIR,
                removeEmptyTree(inner, in: folder)
            else {
                return false
            }
        }
        return unlinkat(parent.descriptor, name, AT_REMOVEDIR) == 0
    }
}
