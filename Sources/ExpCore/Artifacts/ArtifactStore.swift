internal import CLibCrypto
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A SHA-256 content hash, written as 64 lower-case hex digits.
public struct SHA256Digest: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The 64 hex digits.
    public let hex: String

    /// Parses 64 hex digits (any case); nil for anything else.
    public init?(_ text: String) {
        let lower = text.lowercased()
        guard lower.utf8.count == 64, lower.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { return nil }
        hex = lower
    }

    init(bytes: [UInt8]) {
        hex = bytes.map { String(format: "%02x", $0) }.joined()
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let digest = SHA256Digest(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256 digest: \(text)"))
        }
        self = digest
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }

    public var description: String { hex }
    /// The first 12 hex digits, for messages.
    public var short: String { String(hex.prefix(12)) }
    public static func < (lhs: SHA256Digest, rhs: SHA256Digest) -> Bool { lhs.hex < rhs.hex }
}

/// An incremental SHA-256 through OpenSSL's libcrypto (which uses the CPU's SHA extensions).
struct SHA256Hasher: ~Copyable {
    private let context: OpaquePointer

    init() {
        // Allocation failure of a few hundred bytes is not something to recover from.
        guard let context = EVP_MD_CTX_new(), EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
            fatalError("libcrypto could not set up SHA-256")
        }
        self.context = context
    }

    deinit { EVP_MD_CTX_free(context) }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    consuming func finish() -> SHA256Digest {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &output, &length)
        return SHA256Digest(bytes: Array(output.prefix(Int(length))))
    }

    /// The digest of a byte array.
    static func digest(_ bytes: [UInt8]) -> SHA256Digest {
        var hasher = SHA256Hasher()
        bytes.withUnsafeBytes { hasher.update($0) }
        return hasher.finish()
    }
}

/// How far a long copy has come, for a progress bar.
public struct ArtifactProgress: Sendable {
    /// What is being copied (a path relative to the repository root).
    public var path: String
    /// `storing` into the store, or `restoring` out of it.
    public var action: Action
    public var bytesDone: Int64
    public var totalBytes: Int64

    public enum Action: String, Sendable {
        case storing, restoring, verifying
    }
}

/// A file stored in the artifact store.
public struct StoredObject: Sendable, Equatable {
    public var digest: SHA256Digest
    public var size: Int64
    /// False when the same content was already there (nothing added).
    public var added: Bool
    /// The copy shares its blocks with the file (FICLONE), so it took no space or time.
    public var reflinked: Bool
}

/// The content-addressed artifact store: `<git common dir>/exp/objects/sha256/ab/cdef…`.
///
/// Objects are written under a temporary name and renamed into place (a crash never leaves a
/// half object under its final name), then made read-only. Copies are reflinks where the
/// filesystem can (FICLONE), plain copies otherwise, and never hard links: training code
/// rewrites checkpoints in place, which would change a hard-linked object too. Each file is
/// read once, hashed while it is copied.
public struct ArtifactStore: Sendable {
    /// `<git common dir>/exp/objects/sha256`.
    public let directory: String

    public init(directory: String) { self.directory = directory }

    public init(workspace: Workspace) { self.init(directory: workspace.stateDirectory + "/objects/sha256") }

    /// Bytes per read: large enough to keep system calls rare, small enough to stay in cache.
    static let chunkSize = 1 << 20

    /// Where the object with this digest lives (whether or not it is there).
    public func path(of digest: SHA256Digest) -> String {
        let hex = digest.hex
        return directory + "/" + hex.prefix(2) + "/" + hex.dropFirst(2)
    }

    /// Whether the object is present with the expected size.
    public func contains(_ digest: SHA256Digest, size: Int64) -> Bool {
        var info = stat()
        return stat(path(of: digest), &info) == 0 && Int64(info.st_size) == size
    }

    /// Copies the file at `sourcePath` into the store, hashing what it copies. `name` is the
    /// path shown in progress reports.
    public func store(
        file sourcePath: String, name: String, progress: ((ArtifactProgress) -> Void)? = nil
    ) throws -> StoredObject {
        let source = open(sourcePath, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw Self.failure("could not read \(name)", errno) }
        defer { close(source) }
        try makeFolder(directory)
        let temporary = directory + "/tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let target = open(temporary, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard target >= 0 else { throw Self.failure("could not create a file in \(directory)", errno) }
        var keepTemporary = false
        defer { if !keepTemporary { unlink(temporary) } }
        let copied: (digest: SHA256Digest, size: Int64, reflinked: Bool)
        do {
            defer { close(target) }
            copied = try Self.copy(
                from: source, to: target, name: name, action: .storing, progress: progress,
                failure: "could not store \(name) in \(directory)")
            guard fchmod(target, 0o444) == 0 else {
                throw Self.failure("could not make the stored copy of \(name) read-only", errno)
            }
        }
        let final = path(of: copied.digest)
        if contains(copied.digest, size: copied.size) {
            // Mark it as just used, so an `exp gc` running meanwhile keeps it for this run.
            _ = utimensat(AT_FDCWD, final, nil, 0)
            return StoredObject(digest: copied.digest, size: copied.size, added: false, reflinked: copied.reflinked)
        }
        try makeFolder((final as NSString).deletingLastPathComponent)
        guard rename(temporary, final) == 0 else {
            throw Self.failure("could not move the stored copy of \(name) to \(final)", errno)
        }
        keepTemporary = true
        return StoredObject(digest: copied.digest, size: copied.size, added: true, reflinked: copied.reflinked)
    }

    /// Writes the object `digest` to `relativePath` under `root` (through a temporary file
    /// beside it, renamed into place only once the copied bytes hash to `digest`; its folders
    /// never reached through a symlink), with modification time `mtime` when given.
    /// `beforeReplacing` runs once the copy is verified, just before the rename (to move an old
    /// file aside). Throws, leaving the destination as it was, when the object is missing or
    /// corrupt or a folder on the way is a symlink.
    public func restore(
        _ digest: SHA256Digest, to relativePath: String, under root: String, name: String, mtime: Date? = nil,
        progress: ((ArtifactProgress) -> Void)? = nil, beforeReplacing: (() throws -> Void)? = nil
    ) throws {
        let destination = root + "/" + relativePath
        let objectPath = path(of: digest)
        let source = open(objectPath, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else {
            throw ExpError(
                .notFound,
                "the stored copy of \(name) (sha256 \(digest.short)) is not in the artifact store: "
                    + "\(objectPath): \(String(cString: strerror(errno)))",
                hint: "it was removed by a garbage collection, or never stored here (runs pulled from another machine)")
        }
        defer { close(source) }
        // The root is the user's choice (`--into`); below it, folders are opened (made) one by
        // one without following a symlink.
        try makeFolder(root)
        let parent: (folder: NoFollowFolder, name: String)
        do throws(NoFollowFolder.Failure) {
            parent = try NoFollowFolder.openParent(of: relativePath, root: root, create: true)
        } catch {
            throw ExpError(
                .io, "could not restore \(name): \(error.reason)", hint: "nothing was written at \(destination)")
        }
        let folder = parent.folder.descriptor
        let temporary = ".\(parent.name).exp-tmp-\(getpid())"
        let target = openat(folder, temporary, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o666)
        guard target >= 0 else { throw Self.failure("could not create a temporary file beside \(destination)", errno) }
        var renamed = false
        defer { if !renamed { unlinkat(folder, temporary, 0) } }
        let copied: (digest: SHA256Digest, size: Int64, reflinked: Bool)
        do {
            defer { close(target) }
            copied = try Self.copy(
                from: source, to: target, name: name, action: .restoring, progress: progress,
                failure: "could not write \(destination)")
            if let mtime {
                let seconds = mtime.timeIntervalSince1970.rounded(.down)
                let stamp = timespec(
                    tv_sec: time_t(seconds), tv_nsec: Int((mtime.timeIntervalSince1970 - seconds) * 1e9))
                var times = [stamp, stamp]
                _ = futimens(target, &times)
            }
        }
        guard copied.digest == digest else {
            throw ExpError(
                .corrupt,
                "the stored copy of \(name) is corrupt: expected sha256 \(digest.hex), its content hashes to "
                    + "\(copied.digest.hex) (\(objectPath)); \(destination) was left as it was",
                hint: "the object was changed or damaged on disk; remove it (it cannot be repaired from here) "
                    + "and restore the file from elsewhere")
        }
        try beforeReplacing?()
        guard renameat(folder, temporary, folder, parent.name) == 0 else {
            throw Self.failure("could not move the restored \(name) to \(destination)", errno)
        }
        renamed = true
    }

    /// The SHA-256 of a file's content (read once).
    public static func hash(file path: String) throws -> (digest: SHA256Digest, size: Int64) {
        let source = open(path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw failure("could not read \(path)", errno) }
        defer { close(source) }
        _ = posix_fadvise(source, 0, 0, POSIX_FADV_SEQUENTIAL)
        var hasher = SHA256Hasher()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let count = read(source, buffer.baseAddress, chunkSize)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw failure("could not read \(path)", errno) }
            if count == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            size += Int64(count)
        }
        return (hasher.finish(), size)
    }

    /// Every object in the store, with its size.
    public func allObjects() -> [(digest: SHA256Digest, size: Int64, modified: Date)] {
        var objects: [(digest: SHA256Digest, size: Int64, modified: Date)] = []
        guard let folders = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        for folder in folders.sorted() where folder.utf8.count == 2 {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory + "/" + folder) else {
                continue
            }
            for name in names.sorted() {
                guard let digest = SHA256Digest(folder + name) else { continue }
                var info = stat()
                guard stat(directory + "/" + folder + "/" + name, &info) == 0 else { continue }
                objects.append(
                    (digest, Int64(info.st_size), Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))))
            }
        }
        return objects
    }

    /// Temporary files left by copies that never finished (a killed exp), with their age.
    func leftoverTemporaries() -> [(path: String, size: Int64, modified: Date)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasPrefix("tmp-") }.compactMap { name in
            var info = stat()
            guard stat(directory + "/" + name, &info) == 0 else { return nil }
            return (
                directory + "/" + name, Int64(info.st_size),
                Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec))
            )
        }
    }

    /// Removes one object (and its folder when that becomes empty).
    public func remove(_ digest: SHA256Digest) throws {
        let objectPath = path(of: digest)
        guard unlink(objectPath) == 0 || errno == ENOENT else {
            throw Self.failure("could not remove \(objectPath)", errno)
        }
        rmdir((objectPath as NSString).deletingLastPathComponent)  // fails, harmlessly, unless empty
    }

    // MARK: Copying

    /// Copies `source` to `target` from the start: a reflink when the filesystem can (then the
    /// copy is read back to hash it), else reads each chunk once, hashes it and writes it.
    private static func copy(
        from source: Int32, to target: Int32, name: String, action: ArtifactProgress.Action,
        progress: ((ArtifactProgress) -> Void)?, failure message: String
    ) throws -> (digest: SHA256Digest, size: Int64, reflinked: Bool) {
        var info = stat()
        guard fstat(source, &info) == 0 else { throw failure(message, errno) }
        let total = Int64(info.st_size)
        var report = ArtifactProgress(path: name, action: action, bytesDone: 0, totalBytes: total)
        var hasher = SHA256Hasher()
        var done: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
        defer { buffer.deallocate() }
        // A reflink shares the source's blocks; hashing the copy (not the source, which a live
        // training process may still be rewriting) keeps object and digest consistent.
        let reflinked = total > 0 && exp_reflink(target, source) == 0
        let reader = reflinked ? target : source
        if reflinked { report.action = .verifying }
        _ = posix_fadvise(reader, 0, 0, POSIX_FADV_SEQUENTIAL)
        var lastReport: Int64 = 0
        while true {
            let count =
                reflinked
                ? pread(reader, buffer.baseAddress, chunkSize, off_t(done))
                : read(reader, buffer.baseAddress, chunkSize)
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw failure(message, errno) }
            if count == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<count])
            hasher.update(chunk)
            if !reflinked, let base = chunk.baseAddress {
                let code = writeAll(target, base, chunk.count)
                if code != 0 { throw failure(message, code) }
            }
            done += Int64(count)
            if let progress, done - lastReport >= 16 << 20 {
                lastReport = done
                report.bytesDone = done
                progress(report)
            }
        }
        if let progress {
            report.bytesDone = done
            progress(report)
        }
        return (hasher.finish(), done, reflinked)
    }

    private func makeFolder(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ExpError(.io, "could not create \(path): \(error.localizedDescription)")
        }
    }

    static func failure(_ message: String, _ code: Int32) -> ExpError {
        let full = code == ENOSPC
        return ExpError(
            .io, "\(message): \(String(cString: strerror(code)))",
            hint: full ? "the disk is full; free space (a garbage collection removes objects no run uses)" : nil,
            reason: full ? .diskFull : nil)
    }
}
