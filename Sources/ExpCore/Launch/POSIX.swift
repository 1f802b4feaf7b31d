import Glibc

/// glibc functions that Swift's Glibc module leaves out (they sit behind `_GNU_SOURCE` or
/// `_XOPEN_SOURCE`), looked up once by name in the running C library.
enum GNU {
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
    typealias FileActionPath =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    typealias FileActionFD = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias FDCall = @convention(c) (Int32) -> Int32
    typealias PtsnameR = @convention(c) (Int32, UnsafeMutablePointer<CChar>, Int) -> Int32

    /// `pipe2(2)`, so both ends are close-on-exec from the start.
    static let pipe2 = symbol("pipe2", as: Pipe2.self)
    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29).
    static let addChdir = symbol("posix_spawn_file_actions_addchdir_np", as: FileActionPath.self)
    /// `posix_spawn_file_actions_addtcsetpgrp_np` (glibc 2.35): the child makes its group the
    /// terminal's foreground group before exec, so it never reads the terminal from the background.
    static let addTcsetpgrp = symbol("posix_spawn_file_actions_addtcsetpgrp_np", as: FileActionFD.self)
    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34): the child closes every
    /// descriptor from this one up (ones a parent leaked without close-on-exec).
    static let addCloseFrom = symbol("posix_spawn_file_actions_addclosefrom_np", as: FileActionFD.self)
    static let grantpt = symbol("grantpt", as: FDCall.self)
    static let unlockpt = symbol("unlockpt", as: FDCall.self)
    static let ptsnameR = symbol("ptsname_r", as: PtsnameR.self)

    private static func symbol<F>(_ name: String, as type: F.Type) -> F? {
        // A nil handle is RTLD_DEFAULT: search the libraries already loaded.
        guard let address = dlsym(nil, name) else { return nil }
        return unsafeBitCast(address, to: F.self)
    }
}

/// The text for an errno value.
func errorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}

/// Calls `body` again while it fails with EINTR.
@inline(__always)
func retryingEINTR<T: BinaryInteger>(_ body: () -> T) -> T {
    while true {
        let result = body()
        if result == -1 && errno == EINTR { continue }
        return result
    }
}

/// Closes `fd`, ignoring errors (after close, even EINTR means the descriptor is gone on Linux).
func closeFD(_ fd: Int32) {
    if fd >= 0 { _ = close(fd) }
}

/// Adds `flags` to a descriptor's status flags (`O_NONBLOCK`).
func addStatusFlags(_ fd: Int32, _ flags: Int32) {
    let current = fcntl(fd, F_GETFL)
    if current >= 0 { _ = fcntl(fd, F_SETFL, current | flags) }
}

/// Whether `fd` is an open descriptor.
func isOpenFD(_ fd: Int32) -> Bool {
    fd >= 0 && fcntl(fd, F_GETFD) != -1
}

/// Moves a descriptor of ours above 0, 1 and 2, so the child's `dup2`s onto its standard
/// streams cannot overwrite a source they still need (possible when exp started with one closed).
func aboveStandardStreams(_ fd: Int32) -> Int32 {
    guard fd >= 0, fd < 3 else { return fd }
    let moved = fcntl(fd, F_DUPFD_CLOEXEC, Int32(3))
    closeFD(fd)
    return moved
}

/// Microseconds on the monotonic clock.
func monotonicMicroseconds() -> Int64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1000
}

/// A `waitpid` status, decoded (the W* macros don't import into Swift).
enum WaitStatus: Equatable {
    case exited(Int32)
    case signaled(Int32)
    case stopped(Int32)
    case other

    init(_ status: Int32) {
        let low = status & 0x7f
        if low == 0 {
            self = .exited((status >> 8) & 0xff)
        } else if low != 0x7f {
            self = .signaled(low)
        } else if status & 0xff == 0x7f {
            self = .stopped((status >> 8) & 0xff)
        } else {
            self = .other
        }
    }
}

/// NUL-terminated copies of `strings`, followed by a NULL, for `posix_spawn`'s argv and envp.
/// Freed by `freeCStrings`.
func makeCStrings(_ strings: [String]) -> [UnsafeMutablePointer<CChar>?] {
    strings.map { strdup($0) } + [nil]
}

func freeCStrings(_ pointers: [UnsafeMutablePointer<CChar>?]) {
    for pointer in pointers { free(pointer) }
}

/// The text of a NUL-terminated C string held in `buffer`.
func string(fromNulTerminated buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
