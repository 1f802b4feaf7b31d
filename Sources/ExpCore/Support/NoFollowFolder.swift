import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A folder under a root, opened one level at a time with `openat(O_NOFOLLOW)`, as git
/// checks each leading folder before it writes a file: whatever exp writes or removes
/// through it never goes through a symlink, whether the symlink was on disk before or was
/// made by the same restore.
final class NoFollowFolder {
    /// The open folder.
    let descriptor: Int32
    /// Its path relative to the root (`""` for the root), for messages.
    let relativePath: String

    private init(descriptor: Int32, relativePath: String) {
        self.descriptor = descriptor
        self.relativePath = relativePath
    }

    deinit { close(descriptor) }

    /// Why a folder could not be opened without following a symlink.
    enum Failure: Error, Equatable {
        /// `path` (relative to the root) is a symlink.
        case symlink(String)
        /// `path` is there but is not a folder.
        case notAFolder(String)
        /// `path` does not exist (and was not to be made).
        case missing(String)
        /// Another system error on `path`.
        case system(String, Int32)

        /// The failure in words, for `UnrestoredPath` and errors.
        var reason: String {
            switch self {
            case .symlink(let path): return "\(path) is a symlink; exp never writes through one"
            case .notAFolder(let path): return "\(path) is a file, not a folder"
            case .missing(let path): return "\(path) does not exist"
            case .system(let path, let code): return "\(path): \(String(cString: strerror(code)))"
            }
        }
    }

    /// Opens the folder `components` under `root` (the root itself is followed: the user chose
    /// it; it must exist), refusing any symlink below it. With `create`, missing folders are
    /// made (0777 less the umask) on the way.
    static func under(root: String, components: [String], create: Bool) throws(Failure) -> NoFollowFolder {
        let rootDescriptor = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootDescriptor >= 0 else { throw errno == ENOENT ? .missing(root) : .system(root, errno) }
        var folder = NoFollowFolder(descriptor: rootDescriptor, relativePath: "")
        for component in components {
            folder = try folder.child(component, create: create)
        }
        return folder
    }

    /// Opens the folder of a slash-separated relative path (all but its last component), and
    /// returns it with the last component's name.
    static func openParent(of path: String, root: String, create: Bool) throws(Failure) -> (
        folder: NoFollowFolder, name: String
    ) {
        var components = path.split(separator: "/").map(String.init)
        let name = components.popLast() ?? ""
        return (try under(root: root, components: components, create: create), name)
    }

    /// The folder `name` inside this one, never through a symlink; made first when missing
    /// and `create`.
    func child(_ name: String, create: Bool) throws(Failure) -> NoFollowFolder {
        let path = relativePath.isEmpty ? name : relativePath + "/" + name
        var descriptor = openat(self.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if descriptor < 0 && errno == ENOENT && create {
            if mkdirat(self.descriptor, name, 0o777) != 0 && errno != EEXIST { throw .system(path, errno) }
            descriptor = openat(self.descriptor, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard descriptor >= 0 else {
            let code = errno
            if code == ENOENT { throw .missing(path) }
            if code == ELOOP || code == ENOTDIR {
                var info = stat()
                if fstatat(self.descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK {
                    throw .symlink(path)
                }
                throw .notAFolder(path)
            }
            throw .system(path, code)
        }
        return NoFollowFolder(descriptor: descriptor, relativePath: path)
    }

    /// `lstat` of `name` in this folder; nil when nothing is there.
    func status(_ name: String) -> stat? {
        var info = stat()
        return fstatat(descriptor, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? info : nil
    }

    /// Names in this folder (without `.` and `..`).
    func names() -> [String]? {
        let copy = dup(descriptor)
        guard copy >= 0, let stream = fdopendir(copy) else { return nil }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw.bindMemory(to: CChar.self).baseAddress.map { String(cString: $0) } ?? ""
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
