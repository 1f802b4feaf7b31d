import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Replacing a file whole, so a reader sees the old content or the new one, never half: the
/// one atomic write of the package (live run files, `metrics.jsonl`, hook scripts, a commit
/// message, a rerun's owner file).
enum FileReplacement {
    /// Writes `bytes` to a temp file beside `path` (mode `mode`), then renames it over `path`.
    /// Throws an `ExpError` naming `what` and the reason.
    static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o644, what: String) throws {
        let bytes = Array(bytes)
        try write(to: path, mode: mode, what: what) { flush in
            try bytes.withUnsafeBytes { try flush($0) }
        }
    }

    /// Writes a file through a temp file beside `path` renamed into place; `produce` hands its
    /// bytes, in order, to the function it is given (so a large file never lies whole in memory).
    ///
    /// No fsync: what this writes is recreated or re-read anyway after a crash, and an fsync per
    /// write costs milliseconds. On failure the temp file is removed and `path` is as it was.
    static func write(
        to path: String, mode: mode_t = 0o644, what: String,
        _ produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void
    ) throws {
        let temporary = path + ".exp-tmp-\(getpid())"
        func failure(_ code: Int32) -> ExpError {
            unlink(temporary)
            return ExpError(.io, "could not write \(what) at \(path): \(String(cString: strerror(code)))")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure(errno) }
        do {
            try produce { raw in
                guard let base = raw.baseAddress else { return }
                let code = writeAll(fd, base, raw.count)
                if code != 0 { throw failure(code) }
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        // The mode given to open() is filtered by the umask; hook scripts must be executable.
        guard fchmod(fd, mode) == 0 else {
            let code = errno
            close(fd)
            throw failure(code)
        }
        guard close(fd) == 0 else { throw failure(errno) }
        guard rename(temporary, path) == 0 else { throw failure(errno) }
    }
}

/// Writes all `count` bytes, resuming after EINTR, partial writes and EAGAIN on a non-blocking
/// descriptor: the one `writeAll` of the package. Returns 0, or the errno that stopped it.
func writeAll(_ fd: Int32, _ base: UnsafeRawPointer, _ count: Int) -> Int32 {
    var offset = 0
    while offset < count {
        let written = write(fd, base + offset, count - offset)
        if written > 0 {
            offset += written
            continue
        }
        if written == 0 { return EIO }
        let code = errno
        switch code {
        case EINTR:
            continue
        case EAGAIN, EWOULDBLOCK:
            var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&entry, 1, -1)
        default:
            return code
        }
    }
    return 0
}
