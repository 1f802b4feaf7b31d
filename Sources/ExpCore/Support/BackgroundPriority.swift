#if canImport(Glibc)
    import Glibc
#endif

/// exp's own recurring work beside a running command (watching metric files, taking in
/// output scalars, writing live summaries) yields the CPU to the command: the thread doing
/// it lowers its scheduling priority, and what it starts inherits that.
enum BackgroundPriority {
    /// The nice value of exp's helper threads (19 is the lowest priority).
    static let niceness: Int32 = 10

    /// Lowers the calling thread's priority (on Linux, nice values belong to threads). A
    /// failure only means the work competes as before.
    static func lowerCurrentThread() {
        #if os(Linux)
            // The thread's id, from /proc/thread-self -> "<pid>/task/<tid>" (gettid is not
            // visible to Swift here).
            var link = [CChar](repeating: 0, count: 64)
            let length = readlink("/proc/thread-self", &link, link.count - 1)
            guard length > 0,
                let thread = String(decoding: link.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                    .split(separator: "/").last.flatMap({ id_t($0) })
            else { return }
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, niceness)
        #endif
    }
}
