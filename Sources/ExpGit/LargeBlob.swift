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
/// The object is written to a temp file in the objects folder and renamed into place, as git
/// does; an object already there is left as it is.
struct LargeBlobWriter {
    /// Files smaller than this go through libgit2.
    static let threshold = 8 << 20
    /// Bytes per compressed piece.
    static let pieceSize = 4 << 20
    /// zlib's level 1, as git writes loose objects by default (core.looseCompression).
    static let level: Int32 = 1

    let objectsDirectory: String

    /// The blob of the file at `path`; nil when it is smaller than `threshold` or could not
    /// be read as one piece of memory (the caller then lets libgit2 write it).
    func write(path: String) throws(GitError) -> git_oid? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        let size = Int(info.st_size)
        guard size >= Self.threshold, let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED
        else { return nil }
        defer { munmap(mapped, size) }
        let content = UnsafeRawBufferPointer(start: mapped, count: size)
        let header = Array("blob \(size)\0".utf8)

        let hashing = ObjectHash(header: header, content: content)
        hashing.start()
        let compressed = try compress(header: header, content: content)
        guard let id = hashing.finish() else {
            try? FileManager.default.removeItem(atPath: compressed)
            return nil
        }
        try install(compressed, as: id)
        return id
    }

    /// Compresses `header` + `content` into a zlib stream in a temp file in the objects
    /// folder; returns its path.
    private func compress(header: [UInt8], content: UnsafeRawBufferPointer) throws(GitError) -> String {
        var template = Array((objectsDirectory + "/tmp_obj_exp_XXXXXX").utf8CString)
        let fd = mkstemp(&template)
        guard fd >= 0 else {
            throw GitError(
                operation: "could not create a temp file in \(objectsDirectory)",
                reason: String(cString: strerror(errno)),
                code: -1)
        }
        let temporary = String(cString: template)
        do throws(GitError) {
            defer { close(fd) }
            try writeAll(fd, [0x78, 0x01])  // zlib header: deflate, 32 KiB window, fastest
            var adler = header.withUnsafeBytes {
                adler32(1, $0.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt($0.count))
            }
            let first = header.withUnsafeBytes { Self.deflate($0, final: content.isEmpty) }
            guard let first else {
                throw GitError(operation: "could not compress a blob header", reason: "zlib failed", code: -1)
            }
            try writeAll(fd, first.bytes)
            let pieces = stride(from: 0, to: content.count, by: Self.pieceSize).map {
                $0..<min($0 + Self.pieceSize, content.count)
            }
            let atOnce = 2 * ProcessInfo.processInfo.activeProcessorCount
            let shared = SharedBytes(buffer: content)
            for round in stride(from: 0, to: pieces.count, by: atOnce) {
                let batch = Array(pieces[round..<min(round + atOnce, pieces.count)])
                let results = Results(count: batch.count)
                DispatchQueue.concurrentPerform(iterations: batch.count) { index in
                    let range = batch[index]
                    results.set(
                        index,
                        Self.deflate(
                            UnsafeRawBufferPointer(rebasing: shared.buffer[range]),
                            final: range.upperBound == shared.buffer.count))
                }
                for (range, piece) in zip(batch, results.values) {
                    guard let piece else {
                        throw GitError(
                            operation: "could not compress a blob of \(content.count) bytes", reason: "zlib failed",
                            code: -1)
                    }
                    try writeAll(fd, piece.bytes)
                    adler = adler32_combine(adler, piece.adler, off_t(range.count))
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

    /// One piece, raw deflate (no zlib header), ended by a sync flush or, for the last, by
    /// the final block; with the Adler-32 of its bytes.
    private static func deflate(_ input: UnsafeRawBufferPointer, final: Bool) -> (bytes: [UInt8], adler: uLong)? {
        var stream = z_stream()
        guard
            deflateInit2_(
                &stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        let bound = Int(deflateBound(&stream, uLong(input.count))) + 64
        var output = [UInt8](repeating: 0, count: bound)
        let produced: Int? = output.withUnsafeMutableBytes { out in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
            stream.avail_in = uInt(input.count)
            stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(out.count)
            let result = CLibGit2.deflate(&stream, final ? Z_FINISH : Z_SYNC_FLUSH)
            guard result == (final ? Z_STREAM_END : Z_OK), stream.avail_in == 0 else { return nil }
            return out.count - Int(stream.avail_out)
        }
        guard let produced else { return nil }
        output.removeSubrange(produced...)
        let adler = adler32(1, input.baseAddress?.assumingMemoryBound(to: Bytef.self), uInt(input.count))
        return (output, adler)
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
            throw GitError(operation: "could not write object \(hex) in \(objectsDirectory)", reason: reason, code: -1)
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
                    code: -1)
            }
            done += written
        }
    }
}

/// Bytes read by several threads at once (a mapped file nobody writes).
private struct SharedBytes: @unchecked Sendable {
    let buffer: UnsafeRawBufferPointer
}

/// SHA-1 of an object's header and bytes, on its own thread.
private final class ObjectHash: @unchecked Sendable {
    private let header: [UInt8]
    private let content: UnsafeRawBufferPointer
    private let done = DispatchSemaphore(value: 0)
    private var digest: git_oid?

    init(header: [UInt8], content: UnsafeRawBufferPointer) {
        self.header = header
        self.content = content
    }

    func start() {
        Thread { [self] in
            defer { done.signal() }
            guard let context = EVP_MD_CTX_new() else { return }
            defer { EVP_MD_CTX_free(context) }
            guard EVP_DigestInit_ex(context, EVP_sha1(), nil) == 1 else { return }
            _ = header.withUnsafeBytes { EVP_DigestUpdate(context, $0.baseAddress, $0.count) }
            if let base = content.baseAddress { _ = EVP_DigestUpdate(context, base, content.count) }
            var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
            var length: UInt32 = 0
            guard EVP_DigestFinal_ex(context, &output, &length) == 1, length == 20 else { return }
            var oid = git_oid()
            withUnsafeMutableBytes(of: &oid.id) { $0.copyBytes(from: output.prefix(20)) }
            digest = oid
        }.start()
    }

    /// Waits for the digest; nil when it could not be computed.
    func finish() -> git_oid? {
        done.wait()
        return digest
    }
}

/// Results filled from several threads, one writer per slot.
private final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [(bytes: [UInt8], adler: uLong)?]

    init(count: Int) { values = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ value: (bytes: [UInt8], adler: uLong)?) {
        lock.lock()
        values[index] = value
        lock.unlock()
    }
}
