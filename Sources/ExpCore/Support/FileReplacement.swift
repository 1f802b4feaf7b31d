import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Replacing a file whole, so a reader sees the old content or the new one, never half.
enum FileReplacement {
    /// Writes `bytes` to a temp file beside `path` (mode `mode`), then renames it over `path`.
    /// No fsync: what this writes (live run files, hook scripts, a commit message) is
    /// recreated or re-read anyway after a crash, and an fsync per write costs milliseconds.
    /// Throws an `ExpError` naming `what` and the reason.
    static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o644, what: String) throws {
        let temporary = path + ".exp-tmp-\(getpid())"
        func fail() -> ExpError {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            return ExpError(.io, "could not write \(what) at \(path): \(reason)")
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw fail() }
        let bytes = Array(bytes)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                let error = fail()
                close(fd)
                throw error
            }
            written += count
        }
        // The mode given to open() is filtered by the umask; hook scripts must be executable.
        guard fchmod(fd, mode) == 0, close(fd) == 0, rename(temporary, path) == 0 else { throw fail() }
    }
}
