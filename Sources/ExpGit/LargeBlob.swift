internal import CLibCrypto
internal import CLibGit2
import Dispatch
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Writes a large file as a loose blob using every core: the object id (SHA-1 of
/// `blob <size>\0` and the bytes) is computed on one thread while the bytes are compressed in
/// pieces on the others, each piece a raw deflate stream ended on a byte boundary (a sync
/// flush), so the pieces in order, between zlib's header and the Adler-32 of it all, are the
/// one zlib stream git reads: the way pigz compresses. libgit2 writes the same object on one
/// thread, with its collision-detecting SHA-1 (made to check objects others wrote, not ours),
/// at a few hundred MB/s.
///
/// The file is read a few pieces at a time (`pread`), so memory stays at a few tens of
/// megabytes whatever its size. The object is written to a temp file in the objects folder
/// and renamed into place, as git does; an object already there is left as it is.
struct LargeBlobWriter {
    /// Files smaller than this go through libgit2.
    static let threshold = 8 << 20
    /// Bytes per compressed piece.
    static let pieceSize = 2 << 20
    /// zlib's level 1, as git writes loose objects by default (core.looseCompression).
    static let level: Int32 = 1

    let objectsDirectory: String

    /// Whether the file at `path` is large enough to be written here.
    static func isLarge(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && Int(info.st_size) >= threshold
    }

    /// The blob of the file at `path`; nil when it is smaller than `threshold` or not a
    /// regular file (the caller then lets libgit2 write it).
    func write(path: String) throws(GitError) -> git_oid? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, Int(info.st_size) >= Self.threshold else {
            return nil
        }
        let size = Int(info.st_size)
        let header = Array("blob \(size)\0".utf8)
        let hashing = ObjectHash(header: header, fd: fd, size: size, path: path)
        hashing.start()
        let compressed: String
        do {
            compressed = try compress(header: header, fd: fd, size: size, path: path)
        } catch {
            _ = hashing.finish()
            throw error
        }
        let hashed = hashing.finish()
        guard case .success(let id) = hashed else {
            unlink(compressed)
            if case .failure(let error) = hashed { throw error }
            return nil
        }
        try install(compressed, as: id)
        return id
    }

    /// Compresses `header` and the `size` bytes of `fd` into a zlib stream in a temp file in
    /// the objects folder; returns its path.
    private func compress(header: [UInt8], fd input: Int32, size: Int, path: String) throws(GitError) -> String {
        var template = Array((objectsDirectory + "/tmp_obj_exp_XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else {
            throw GitError(
                operation: "could not create a temp file in \(objectsDirectory)",
                reason: String(cString: strerror(errno)),
                code: .generic, errorClass: .os)
        }
        let temporary = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do throws(GitError) {
            defer { close(fd) }
            try writeAll(fd, [0x78, 0x01])  // zlib header: deflate, 32 KiB window, fastest
            var adler = header.withUnsafeBytes {
                adler32(1, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt($0.count))
            }
            let first = Piece()
            first.input = header
            if let failure = first.deflate(count: header.count, final: false) {
                throw GitError(operation: "could not store \(path)", reason: failure, code: .generic, errorClass: .zlib)
            }
            try writeAll(fd, first.output)
            let pieces = stride(from: 0, to: size, by: Self.pieceSize).map { $0..<min($0 + Self.pieceSize, size) }
            // At most 16 pieces (32 MB) read at once, reused round after round.
            let slots = (0..<min(16, 2 * ProcessInfo.processInfo.activeProcessorCount)).map { _ in Piece() }
            for round in stride(from: 0, to: pieces.count, by: slots.count) {
                let batch = Array(pieces[round..<min(round + slots.count, pieces.count)])
                DispatchQueue.concurrentPerform(iterations: batch.count) { index in
                    let range = batch[index]
                    let slot = slots[index]
                    slot.failure =
                        slot.read(input, range) ?? slot.deflate(count: range.count, final: range.upperBound == size)
                }
                for (range, slot) in zip(batch, slots) {
                    if let failure = slot.failure {
                        throw GitError(
                            operation: "could not store \(path) (bytes \(range.lowerBound)..<\(range.upperBound))",
                            reason: failure, code: .generic, errorClass: .zlib)
                    }
                    try writeAll(fd, slot.output)
                    adler = adler32_combine(adler, slot.adler, off_t(range.count))
                }
            }
            try writeAll(
                fd,
                [UInt8(adler >> 24 & 0xff), UInt8(adler >> 16 & 0xff), UInt8(adler >> 8 & 0xff), UInt8(adler & 0xff)])
        } catch {
            unlink(temporary)
            throw error
        }
        return temporary
    }

    /// Renames the compressed temp file to the object's path (read-only, as git leaves it).
    private func install(_ temporary: String, as id: git_oid) throws(GitError) {
        let hex = ObjectID(id).hex
        let folder = objectsDirectory + "/" + hex.prefix(2)
        let path = folder + "/" + hex.dropFirst(2)
        mkdir(folder, 0o777)
        chmod(temporary, 0o444)
        if access(path, F_OK) == 0 {
            unlink(temporary)  // the same bytes are there already
            return
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw GitError(
                operation: "could not write object \(hex) in \(objectsDirectory)", reason: reason, code: .generic,
                errorClass: .os)
        }
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(GitError) {
        var done = 0
        while done < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, $0.count - done) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else {
                throw GitError(
                    operation: "could not write to \(objectsDirectory)", reason: String(cString: strerror(errno)),
                    code: .generic, errorClass: .os)
            }
            done += written
        }
    }
}

/// One piece being compressed: its bytes, its raw deflate stream (ended by a sync flush or,
/// for the last, the final block) and their Adler-32. Used by one thread at a time; its
/// buffers are kept for the next piece.
private final class Piece: @unchecked Sendable {
    var input: [UInt8] = []
    var output: [UInt8] = []
    var adler: uLong = 1
    /// Why the last piece could not be read or compressed.
    var failure: String?

    /// Reads `range` of the file into `input`; returns why it could not.
    func read(_ fd: Int32, _ range: Range<Int>) -> String? {
        if input.count < range.count { input = [UInt8](repeating: 0, count: range.count) }
        return input.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < range.count {
                let got = pread(fd, buffer.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
                if got < 0 && errno == EINTR { continue }
                if got < 0 { return String(cString: strerror(errno)) }
                if got == 0 { return "the file got shorter while it was read" }
                done += got
            }
            return nil
        }
    }

    /// Compresses the first `count` bytes of `input` into `output`; returns why it could not.
    func deflate(count: Int, final: Bool) -> String? {
        var stream = z_stream()
        let started = deflateInit2_(
            &stream, LargeBlobWriter.level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
            Int32(MemoryLayout<z_stream>.size))
        guard started == Z_OK else { return "zlib could not start (error \(started))" }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(count))) + 64
        if output.count < bound {
            output += repeatElement(0, count: bound - output.count)  // the capacity is kept from piece to piece
        } else {
            output.removeSubrange(bound...)
        }
        var result = Z_OK
        let produced: Int? = input.withUnsafeMutableBytes { source in
            output.withUnsafeMutableBytes { out in
                stream.next_in = source.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_in = uInt(count)
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                result = CLibGit2.deflate(&stream, final ? Z_FINISH : Z_SYNC_FLUSH)
                guard result == (final ? Z_STREAM_END : Z_OK), stream.avail_in == 0 else { return nil }
                return out.count - Int(stream.avail_out)
            }
        }
        guard let produced else { return "zlib could not compress (error \(result))" }
        output.removeSubrange(produced...)
        adler = input.withUnsafeBytes { adler32(1, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(count)) }
        return nil
    }
}

/// SHA-1 of an object's header and a file's bytes, on its own thread.
private final class ObjectHash: @unchecked Sendable {
    private let header: [UInt8]
    private let fd: Int32
    private let size: Int
    private let path: String
    private let done = DispatchSemaphore(value: 0)
    private var digest: Result<git_oid, GitError>?

    init(header: [UInt8], fd: Int32, size: Int, path: String) {
        self.header = header
        self.fd = fd
        self.size = size
        self.path = path
    }

    func start() {
        Thread { [self] in
            defer { done.signal() }
            digest = compute()
        }.start()
    }

    /// The digest, or why the file could not be read; nil when libcrypto has no SHA-1 to
    /// give (libgit2 then writes the blob).
    private func compute() -> Result<git_oid, GitError>? {
        guard let context = EVP_MD_CTX_new() else { return nil }
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestInit_ex(context, EVP_sha1(), nil) == 1 else { return nil }
        _ = header.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset = 0
        while offset < size {
            let got = buffer.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress, min($0.count, size - offset), off_t(offset))
            }
            if got < 0 && errno == EINTR { continue }
            guard got > 0 else {
                let reason = got < 0 ? String(cString: strerror(errno)) : "the file got shorter while it was read"
                return .failure(
                    GitError(operation: "could not read \(path)", reason: reason, code: .generic, errorClass: .os))
            }
            _ = buffer.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, got) }
            offset += got
        }
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &output, &length) == 1, length == 20 else { return nil }
        var oid = git_oid()
        withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: output.prefix(20)) }
        return .success(oid)
    }

    /// Waits for the digest.
    func finish() -> Result<git_oid, GitError>? {
        done.wait()
        return digest
    }
}
