import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A file an autosave keeps outside git: one that snapshots leave out (named like a secret,
/// larger than `exp.maxFileSize`, or ignored) and that stood where the checkout could change
/// it. Its bytes are copied to `<git common dir>/exp/autosaves/<autosave id>/<copy>` (mode
/// 0600), never into a git object; the autosave's record lists it in `saved-files.json`.
public struct SavedFile: Codable, Sendable, Equatable {
    /// What stood at the path.
    public enum Kind: String, Codable, Sendable {
        case file
        case symlink
    }

    /// Why snapshots leave it out.
    public enum Reason: String, Codable, Sendable {
        case secret
        case tooLarge = "too-large"
        /// Ignored by git or `.expignore`.
        case ignored
    }

    /// Path relative to the repository root.
    public var path: String
    public var kind: Kind
    /// Permission bits as octal text (`0600`); for symlinks `0777`.
    public var mode: String
    /// Size in bytes (for a symlink, of its target text).
    public var size: Int64
    public var reason: Reason
    /// File name of the copy in the autosave's folder (digits only).
    public var copy: String

    var permissions: mode_t { mode_t(mode, radix: 8).map { $0 & 0o777 } ?? 0o600 }
}

/// `saved-files.json` in an autosave's record commit.
struct SavedFilesList: Codable {
    var format = 1
    var files: [SavedFile]
}

/// How a saved file's path looks on disk now, compared with the saved copy.
enum SavedFileState: Equatable {
    /// Nothing there: the copy is put back.
    case absent
    /// The same kind, bytes and mode as the copy: nothing to do.
    case same
    /// Something else (other bytes or mode, a symlink instead of a file, …): putting the copy
    /// back would lose it.
    case different
    /// The copy is gone from the autosave's folder (an autosave made in another clone).
    case copyMissing
}

/// The out-of-git copies of autosaves, under `<git common dir>/exp/autosaves/<id>/`.
struct AutosaveFiles {
    let workspace: Workspace
    var root: String { workspace.repository.workingDirectory }
    var folder: String { workspace.stateDirectory + "/autosaves" }

    /// The record file that lists an autosave's saved files.
    static let listName = "saved-files.json"

    func folder(of id: RunID) -> String { folder + "/" + id.rawValue }

    /// The files an autosave keeps outside git ([] for runs and older autosaves). Every path is
    /// checked as a restore checks tree paths: the record may come from someone else.
    func list(of run: StoredRun) throws -> [SavedFile] {
        guard run.record.status == .autosave else { return [] }
        let bytes = try translatingGitErrors {
            try workspace.repository.fileContents(atPath: Self.listName, inCommit: run.commit)
        }
        guard let bytes else { return [] }
        let list: SavedFilesList
        do {
            list = try JSONDecoder().decode(SavedFilesList.self, from: Data(bytes))
        } catch {
            throw ExpError(
                .corrupt, "could not read \(Self.listName) of \(run.record.name): \(error)",
                hint: "the autosave may come from a newer exp; update exp")
        }
        guard list.format == 1 else {
            throw ExpError(
                .corrupt, "\(run.record.name) keeps its files in an unknown format (\(list.format))", hint: "update exp"
            )
        }
        let paths = Set(list.files.map(\.path))
        for file in list.files {
            let valid =
                PathRules.problem(path: file.path, mode: file.kind == .symlink ? 0o120000 : 0o100644) == nil
                && !file.copy.isEmpty && file.copy.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
                && !paths.contains(where: { file.path.hasPrefix($0 + "/") })
            if !valid || paths.count != list.files.count {
                throw ExpError(
                    .corrupt,
                    "\(run.record.name) lists a saved file with a bad path or copy name: \(file.path.debugDescription)",
                    hint: "this autosave was not made by exp", reason: .tamperedRun(run.record.name))
            }
        }
        return list.files
    }

    /// Copies the files at `paths` (relative to the root; regular files and symlinks) into the
    /// folder of autosave `id`: first into a temporary folder, renamed into place when all are
    /// written. Returns what was saved; [] (and no folder) when `paths` is empty.
    func save(_ paths: [(path: String, reason: SavedFile.Reason)], for id: RunID) throws -> [SavedFile] {
        guard !paths.isEmpty else { return [] }
        do {
            try FileManager.default.createDirectory(
                atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw ExpError(.io, "could not create \(folder): \(error.localizedDescription); nothing was changed")
        }
        let temporary = folder + "/.tmp-\(id.rawValue)-\(getpid())"
        let final = folder(of: id)
        guard mkdir(temporary, 0o700) == 0 else {
            throw ExpError(.io, "could not create \(temporary): \(String(cString: strerror(errno)))")
        }
        var saved: [SavedFile] = []
        do {
            for (number, item) in paths.enumerated() {
                let copy = String(number + 1)
                let source = root + "/" + item.path
                var info = stat()
                guard lstat(source, &info) == 0 else { throw Self.failure("could not read", source) }
                let destination = temporary + "/" + copy
                let size: Int64
                let kind: SavedFile.Kind
                if info.st_mode & S_IFMT == S_IFLNK {
                    let target = try Self.linkTarget(source)
                    try Self.writeNew(destination) { fd in try Self.write(fd, target, to: destination) }
                    (size, kind) = (Int64(target.count), .symlink)
                } else {
                    size = try Self.copyFile(from: source, to: destination)
                    kind = .file
                }
                let mode = kind == .symlink ? 0o777 : info.st_mode & 0o777
                saved.append(
                    SavedFile(
                        path: item.path, kind: kind, mode: "0" + String(mode, radix: 8), size: size,
                        reason: item.reason, copy: copy))
            }
            guard rename(temporary, final) == 0 else { throw Self.failure("could not rename into", final) }
        } catch let error as ExpError {
            try? FileManager.default.removeItem(atPath: temporary)
            throw ExpError(
                error.kind,
                "could not save the files snapshots leave out for the autosave: \(error.message); nothing was changed",
                hint: "make the file readable, or move it out of the way, then check out again")
        }
        return saved
    }

    /// Removes the copies of autosave `id` (nothing when it has none).
    func remove(_ id: RunID) throws {
        let path = folder(of: id)
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            throw ExpError(.io, "could not remove \(path): \(error.localizedDescription)")
        }
    }

    /// Compares what stands at a saved file's path with its copy. Throws, before anything is
    /// changed, when the copy could only go back through a symlink or over a folder.
    func state(of file: SavedFile, in id: RunID) throws -> SavedFileState {
        try checkFolders(above: file.path)
        let path = root + "/" + file.path
        let copy = folder(of: id) + "/" + file.copy
        var copyInfo = stat()
        guard lstat(copy, &copyInfo) == 0, copyInfo.st_mode & S_IFMT == S_IFREG else { return .copyMissing }
        var info = stat()
        guard lstat(path, &info) == 0 else { return .absent }
        switch info.st_mode & S_IFMT {
        case S_IFDIR:
            throw ExpError(
                .conflict, "a folder stands where \(file.path) (kept outside git by this autosave) goes back",
                hint: "move the folder away, then check out again")
        case S_IFLNK:
            guard file.kind == .symlink else { return .different }
            let target = try Self.linkTarget(path)
            return try Self.sameBytes(copy, target) ? .same : .different
        case S_IFREG:
            guard file.kind == .file, info.st_mode & 0o777 == file.permissions, Int64(info.st_size) == file.size
            else { return .different }
            return try Self.sameContent(path, copy) ? .same : .different
        default:
            return .different
        }
    }

    /// Puts a saved file back from its copy: written beside its path under a temporary name,
    /// then renamed over whatever stands there (a file or a symlink is replaced, never followed).
    func putBack(_ file: SavedFile, from id: RunID) throws {
        try checkFolders(above: file.path, creating: true)
        let path = root + "/" + file.path
        let copy = folder(of: id) + "/" + file.copy
        let temporary = (path as NSString).deletingLastPathComponent + "/.exp-restore-\(getpid())-\(file.copy)"
        unlink(temporary)
        do {
            switch file.kind {
            case .file:
                _ = try Self.copyFile(from: copy, to: temporary)
                guard chmod(temporary, file.permissions) == 0 else {
                    throw Self.failure("could not set the mode of", path)
                }
            case .symlink:
                let target = [UInt8](FileManager.default.contents(atPath: copy) ?? Data())
                guard symlink(String(decoding: target, as: UTF8.self), temporary) == 0 else {
                    throw Self.failure("could not make the symlink", path)
                }
            }
            guard rename(temporary, path) == 0 else { throw Self.failure("could not put back", path) }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Throws when a folder above `relative` is a symlink or not a folder; with `creating`,
    /// makes the missing ones.
    private func checkFolders(above relative: String, creating: Bool = false) throws {
        var prefix = ""
        for part in relative.split(separator: "/").dropLast() {
            prefix += (prefix.isEmpty ? "" : "/") + part
            let full = root + "/" + prefix
            var info = stat()
            if lstat(full, &info) != 0 {
                guard creating else { continue }
                guard mkdir(full, 0o777) == 0 else { throw Self.failure("could not create the folder", full) }
                continue
            }
            if info.st_mode & S_IFMT == S_IFLNK {
                throw ExpError(
                    .conflict,
                    "\(prefix) is a symlink; \(relative) (kept outside git by this autosave) would be written through it",
                    hint: "exp never writes through a symlink: remove \(prefix) (or move it away), then check out again"
                )
            }
            if info.st_mode & S_IFMT != S_IFDIR {
                throw ExpError(
                    .conflict, "\(prefix) is a file; \(relative) (kept outside git by this autosave) goes below it",
                    hint: "move \(prefix) away, then check out again")
            }
        }
    }

    // MARK: File helpers

    private static func failure(_ what: String, _ path: String) -> ExpError {
        ExpError(.io, "\(what) \(path): \(String(cString: strerror(errno)))")
    }

    private static func linkTarget(_ path: String) throws -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count)
        guard count >= 0 else { throw failure("could not read the symlink", path) }
        return buffer[0..<count].map { UInt8(bitPattern: $0) }
    }

    /// Creates `path` (which must not exist; mode 0600, no symlink followed) and lets `body`
    /// write it.
    private static func writeNew(_ path: String, _ body: (Int32) throws -> Void) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("could not create", path) }
        do {
            try body(fd)
        } catch {
            close(fd)
            throw error
        }
        guard close(fd) == 0 else { throw failure("could not write", path) }
    }

    /// Writes all of `bytes` (through `writeAll`), or throws naming `path`.
    private static func write(_ fd: Int32, _ bytes: some Collection<UInt8>, to path: String) throws {
        let code = Array(bytes).withUnsafeBytes { raw in
            raw.baseAddress.map { ExpCore.writeAll(fd, $0, raw.count) } ?? 0
        }
        if code != 0 {
            errno = code
            throw failure("could not write", path)
        }
    }

    /// Copies the regular file `source` (never through a symlink) to the new file
    /// `destination`, a megabyte at a time; returns the bytes copied.
    @discardableResult
    static func copyFile(from source: String, to destination: String) throws -> Int64 {
        let input = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard input >= 0 else { throw failure("could not read", source) }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw ExpError(.io, "could not copy \(source): not a regular file")
        }
        var total: Int64 = 0
        try writeNew(destination) { output in
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count >= 0 else { throw failure("could not read", source) }
                if count == 0 { break }
                try write(output, buffer[0..<count], to: destination)
                total += Int64(count)
            }
        }
        return total
    }

    /// Whether two regular files hold the same bytes (read a megabyte at a time).
    private static func sameContent(_ first: String, _ second: String) throws -> Bool {
        let one = open(first, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard one >= 0 else { throw failure("could not read", first) }
        defer { close(one) }
        let two = open(second, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard two >= 0 else { throw failure("could not read", second) }
        defer { close(two) }
        var left = [UInt8](repeating: 0, count: 1 << 20)
        var right = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = try readFull(one, &left, first)
            guard try readFull(two, &right, second) == count else { return false }
            if count == 0 { return true }
            if left[0..<count] != right[0..<count] { return false }
        }
    }

    /// Whether the file at `path` holds exactly `bytes`.
    private static func sameBytes(_ path: String, _ bytes: [UInt8]) throws -> Bool {
        guard let data = FileManager.default.contents(atPath: path) else { throw failure("could not read", path) }
        return [UInt8](data) == bytes
    }

    /// Reads until `buffer` is full or the file ends; returns the bytes read.
    private static func readFull(_ fd: Int32, _ buffer: inout [UInt8], _ path: String) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let count = buffer[filled...].withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw failure("could not read", path) }
            if count == 0 { break }
            filled += count
        }
        return filled
    }
}
