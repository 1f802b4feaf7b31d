import Glibc
import Synchronization

/// The signals `exp run` passes on to the command's process group.
let forwardedSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]

/// How many launches may relay signals at once in one process.
private let relaySlotCount = 64

/// The write end of each active relay's pipe, -1 when the slot is free. The signal handler
/// reads these, so they are atomics in memory that is never freed.
private nonisolated(unsafe) let relaySlots: UnsafeMutablePointer<Atomic<Int32>> = {
    let slots = UnsafeMutablePointer<Atomic<Int32>>.allocate(capacity: relaySlotCount)
    for index in 0..<relaySlotCount {
        (slots + index).initialize(to: Atomic(-1))
    }
    return slots
}()

/// The signal handler: writes the signal number as one byte to every active relay's pipe.
/// Only async-signal-safe calls (an atomic load, `write`), and errno is left as it was.
private func relaySignal(_ signal: Int32) {
    let savedErrno = errno
    var byte = UInt8(truncatingIfNeeded: signal)
    for index in 0..<relaySlotCount {
        let fd = relaySlots[index].load(ordering: .acquiring)
        if fd >= 0 { _ = write(fd, &byte, 1) }
    }
    errno = savedErrno
}

/// What the process-wide handlers replaced, kept while any relay is active.
private struct RelayState {
    /// Each slot's pipe, made on first use and never closed, so a handler that read a slot
    /// just before it was freed can only write into a pipe that is still ours.
    var pipes: [(read: Int32, write: Int32)?] = Array(repeating: nil, count: relaySlotCount)
    var inUse = Array(repeating: false, count: relaySlotCount)
    var activeCount = 0
    var savedActions: [(signal: Int32, action: sigaction)] = []
    var ignoredOnEntry: Set<Int32> = []
}

private let relayState = Mutex(RelayState())

/// Receives the signals exp should pass on, as bytes on a pipe the launcher polls.
///
/// A process-wide handler (installed by the first active relay, the previous dispositions put
/// back by the last) writes each signal to every active relay's pipe. A handler rather than a
/// blocked mask and `signalfd` because a Swift process has threads we did not start (Dispatch,
/// the test runner): a signal blocked only on the launcher's thread would be delivered to one of
/// them and, with its default action, end the whole process. A handler catches it on whatever
/// thread receives it.
///
/// While any relay is active exp also ignores SIGPIPE (a reader that went away shows up as
/// EPIPE instead of killing exp mid-run) and SIGTTOU (exp may write to, or hand back, a terminal
/// whose foreground group is the command's), and catches SIGWINCH. Forwarded signals that exp
/// was already ignoring when the first relay started (`nohup`, a background job of a
/// non-interactive shell) stay ignored and are not forwarded; the child inherits the ignore,
/// as it would from a shell.
struct SignalRelay: ~Copyable {
    /// Readable when signals arrived; each byte is a signal number.
    let readFD: Int32
    /// Forwarded signals exp ignored on entry: left ignored, for the child too.
    let ignoredOnEntry: Set<Int32>
    private let slot: Int

    /// Activates a relay, or nil when no pipe could be made or all slots are busy.
    init?() {
        // Make sure the slot table exists before any handler can run.
        _ = relaySlots
        let claimed: (slot: Int, read: Int32, write: Int32, ignored: Set<Int32>)? = relayState.withLock { state in
            guard let slot = state.inUse.firstIndex(of: false) else { return nil }
            if state.pipes[slot] == nil {
                guard let pipe2 = GNU.pipe2 else { return nil }
                var fds: [Int32] = [-1, -1]
                guard pipe2(&fds, O_CLOEXEC | O_NONBLOCK) == 0 else { return nil }
                state.pipes[slot] = (aboveStandardStreams(fds[0]), aboveStandardStreams(fds[1]))
            }
            guard let pipe = state.pipes[slot] else { return nil }
            // Bytes a handler wrote just as the slot's last user let go are not ours.
            var scratch = [UInt8](repeating: 0, count: 256)
            while read(pipe.read, &scratch, scratch.count) > 0 {}
            state.inUse[slot] = true
            relaySlots[slot].store(pipe.write, ordering: .releasing)
            if state.activeCount == 0 { Self.installHandlers(&state) }
            state.activeCount += 1
            return (slot, pipe.read, pipe.write, state.ignoredOnEntry)
        }
        guard let claimed else { return nil }
        slot = claimed.slot
        readFD = claimed.read
        ignoredOnEntry = claimed.ignored
    }

    deinit {
        relayState.withLock { state in
            relaySlots[slot].store(-1, ordering: .releasing)
            state.inUse[slot] = false
            state.activeCount -= 1
            if state.activeCount == 0 {
                for saved in state.savedActions.reversed() {
                    var action = saved.action
                    sigaction(saved.signal, &action, nil)
                }
                state.savedActions = []
                state.ignoredOnEntry = []
            }
        }
    }

    /// Calls `body` with each signal that arrived since the last call, in order.
    func receive(_ body: (Int32) -> Void) {
        var bytes = [UInt8](repeating: 0, count: 64)
        while true {
            let count = read(readFD, &bytes, bytes.count)
            if count <= 0 {
                if count == -1 && errno == EINTR { continue }
                return
            }
            for byte in bytes[0..<count] { body(Int32(byte)) }
        }
    }

    private static func installHandlers(_ state: inout RelayState) {
        var handler = sigaction()
        handler.__sigaction_handler.sa_handler = relaySignal
        handler.sa_flags = SA_RESTART
        sigemptyset(&handler.sa_mask)
        var ignore = sigaction()
        ignore.__sigaction_handler.sa_handler = SIG_IGN
        sigemptyset(&ignore.sa_mask)

        for signal in forwardedSignals + [SIGWINCH, SIGPIPE, SIGTTOU] {
            var previous = sigaction()
            sigaction(signal, nil, &previous)
            if forwardedSignals.contains(signal) && isIgnore(previous) {
                state.ignoredOnEntry.insert(signal)
                continue
            }
            state.savedActions.append((signal, previous))
            if signal == SIGPIPE || signal == SIGTTOU {
                sigaction(signal, &ignore, nil)
            } else {
                sigaction(signal, &handler, nil)
            }
        }
    }

    private static func isIgnore(_ action: sigaction) -> Bool {
        let current = unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self)
        return current == unsafeBitCast(SIG_IGN, to: Int.self)
    }
}
