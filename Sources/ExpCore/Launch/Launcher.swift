import Glibc

/// What to start and where its output goes.
public struct LaunchRequest: Sendable {
    /// The command line; `argv[0]` is resolved through the PATH of `environment` (like `execvp`).
    /// Must be non-empty.
    public var argv: [String]
    /// The child's full environment.
    public var environment: [String: String]
    public var workingDirectory: String
    /// Give the child a pseudo-terminal (the CLI sets this when exp's stdout is a TTY).
    public var usePseudoTerminal: Bool
    /// exp's own terminal descriptors (0, 1, 2 normally; tests pass pipes or files).
    public var stdinFD: Int32
    public var stdoutFD: Int32
    public var stderrFD: Int32
    /// A file that all output is appended to as it arrives (created if missing).
    public var outputLogPath: String
    /// The most bytes the log file may hold: past it, its head stays on disk and its tail is
    /// kept in memory and written when the command ends (nil: no limit).
    public var logLimit: Int?

    public init(
        argv: [String], environment: [String: String], workingDirectory: String, usePseudoTerminal: Bool,
        stdinFD: Int32, stdoutFD: Int32, stderrFD: Int32, outputLogPath: String
    ) {
        self.argv = argv
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.usePseudoTerminal = usePseudoTerminal
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.outputLogPath = outputLogPath
    }
}

/// How a launched command ended.
public struct LaunchOutcome: Sendable, Equatable {
    /// nil when the command could not be started.
    public var pid: Int32?
    /// The exit code, when it exited.
    public var exitCode: Int32?
    /// The signal number, when a signal killed it.
    public var signal: Int32?
    /// Signals exp received and passed on to the command's process group, in order.
    public var forwardedSignals: [Int32]
    /// Why it could not be started (`command not found: foo`, `permission denied: ./x`); the
    /// caller prints it.
    public var startError: String?
    /// The status exp itself should exit with: the exit code, 128+N for signal N, 127 command
    /// not found, 126 not executable (or not startable for another reason).
    public var shellStatus: Int32

    public init(
        pid: Int32?, exitCode: Int32?, signal: Int32?, forwardedSignals: [Int32], startError: String?,
        shellStatus: Int32
    ) {
        self.pid = pid
        self.exitCode = exitCode
        self.signal = signal
        self.forwardedSignals = forwardedSignals
        self.startError = startError
        self.shellStatus = shellStatus
    }

    static func notStarted(_ message: String, status: Int32) -> LaunchOutcome {
        LaunchOutcome(
            pid: nil, exitCode: nil, signal: nil, forwardedSignals: [], startError: message, shellStatus: status)
    }
}

/// Starts the user's command the way their terminal would and copies its output.
///
/// - Pseudo-terminal mode: the child runs in its own session on a new pseudo-terminal that
///   copies exp's terminal settings and window size (kept in sync on SIGWINCH). exp's stdin
///   terminal is put in raw mode while its bytes are relayed to the child, and restored after.
/// - Pipe mode: stdout and stderr are separate pipes; stdin is exp's, inherited. The child gets
///   its own process group, made the terminal's foreground group when exp's stdin is the
///   terminal and exp is in the foreground (so Ctrl-C and job control reach it, as with a shell).
///
/// SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to exp are passed on to the
/// child's process group (see `SignalRelay`). The child starts with an empty signal mask and
/// default dispositions.
///
/// It changes process-wide state while it runs (signal dispositions; the terminal's mode and
/// foreground group), so the CLI calls it from the main thread and only one launch at a time
/// may own the terminal. Signals reach it whichever thread the kernel delivers them to.
public enum Launcher {
    /// Bytes per read of the child's output.
    static let chunkSize = 128 * 1024
    /// Linux's F_SETPIPE_SZ, and the pipe size asked for (the default limit for unprivileged
    /// users, /proc/sys/fs/pipe-max-size, is 1 MiB).
    static let setPipeSize: Int32 = 1031
    static let pipeSize: Int32 = 1 << 20
    /// Most chunks read from one stream per wake-up of the copy loop.
    static let readsPerWakeUp = 8
    /// How long output is still copied after the child exited while something (a background
    /// grandchild) keeps its output open. Time spent waiting for exp's stdout to take output
    /// doesn't count: what the child wrote is still delivered to a slow reader.
    static let drainMicroseconds: Int64 = 200_000
    /// At most this much is copied after the child exited (a grandchild may write forever).
    static let drainByteLimit = 1 << 20
    /// How often the child is checked for exit while its output stays open.
    static let exitCheckMicroseconds: Int64 = 50_000

    /// Starts the command, copies output until it ends, and returns how it ended.
    ///
    /// `onStart` is called once with the child's pid right after it starts (exp writes it to its
    /// live run file). `onOutput` receives every chunk of output (stdout and stderr, in arrival
    /// order) after it was written out and logged; it is called on the launcher's thread, so keep
    /// it cheap. The chunk's memory is reused after it returns.
    public static func run(
        _ request: LaunchRequest, onStart: (Int32) -> Void, onOutput: (UnsafeRawBufferPointer) -> Void
    ) -> LaunchOutcome {
        guard let name = request.argv.first else {
            return .notStarted("command not found: (no command given)", status: 127)
        }
        let directory = absoluteDirectory(request.workingDirectory)
        var info = stat()
        if stat(directory, &info) != 0 {
            return .notStarted(
                "could not enter working directory \(request.workingDirectory): \(errorText(errno))", status: 126)
        }
        if info.st_mode & S_IFMT != S_IFDIR {
            return .notStarted(
                "could not enter working directory \(request.workingDirectory): \(errorText(ENOTDIR))", status: 126)
        }
        let executable: String
        switch CommandPath.resolve(name, searchPath: request.environment["PATH"], workingDirectory: directory) {
        case .found(let path): executable = path
        case .notFound: return .notStarted("command not found: \(name)", status: 127)
        case .notExecutable: return .notStarted("permission denied: \(name)", status: 126)
        }

        let logFD = retryingEINTR {
            open(request.outputLogPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        }
        guard logFD >= 0 else {
            return .notStarted("could not open output log \(request.outputLogPath): \(errorText(errno))", status: 126)
        }
        defer { closeFD(logFD) }
        guard let relay = SignalRelay() else {
            return .notStarted("could not set up signal forwarding", status: 126)
        }
        var launch = Launch(
            request: request, executable: executable, directory: directory, logFD: logFD, signals: relay.readFD,
            ignoredSignals: relay.ignoredOnEntry)
        let outcome = launch.run(
            receiveSignals: { relay.receive($0) }, onStart: onStart, onOutput: onOutput)
        // Give the terminal back while SIGTTOU is still ignored: exp is in the background until
        // then, and tcsetpgrp from the background would stop it.
        launch.finish()
        _ = consume relay
        return outcome
    }

    private static func absoluteDirectory(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        return CommandPath.absolute(path.isEmpty ? "." : path, in: string(fromNulTerminated: buffer))
    }
}

/// glibc's `POSIX_SPAWN_SETSID` (0x80), hidden behind `_GNU_SOURCE`.
private let spawnSetSID: Int32 = 0x80

/// One launch in progress: the child's streams, exp's terminal, and the copy loop.
private struct Launch {
    let request: LaunchRequest
    let executable: String
    let directory: String
    let logFD: Int32
    let signalFD: Int32
    let ignoredSignals: Set<Int32>

    /// Output streams, in the order they are read when both are ready.
    var streams: [OutputStream] = []
    var pty: PseudoTerminal?
    /// The child's ends of the pipes, closed once it started.
    var childEnds: [Int32] = []

    let stdinIsTerminal: Bool
    /// exp's stdin is the terminal and exp's group is its foreground group.
    let inForeground: Bool
    /// Pipe mode with the terminal given to the child's group (and job control followed).
    var handsOverTerminal = false
    /// Whether the child's group holds the terminal right now.
    var childHasTerminal = false
    var savedTerminal: termios?
    var terminalIsRaw = false

    var pid: Int32 = 0
    var forwarded: [Int32] = []
    let log: OutputLog

    init(
        request: LaunchRequest, executable: String, directory: String, logFD: Int32, signals: Int32,
        ignoredSignals: Set<Int32>
    ) {
        self.request = request
        self.executable = executable
        self.directory = directory
        self.logFD = logFD
        self.log = OutputLog(fd: logFD, limit: request.logLimit)
        self.signalFD = signals
        self.ignoredSignals = ignoredSignals
        stdinIsTerminal = isatty(request.stdinFD) == 1
        inForeground = stdinIsTerminal && tcgetpgrp(request.stdinFD) == getpgrp()
    }

    mutating func run(
        receiveSignals: ((Int32) -> Void) -> Void, onStart: (Int32) -> Void,
        onOutput: (UnsafeRawBufferPointer) -> Void
    ) -> LaunchOutcome {
        do {
            try openStreams()
        } catch {
            return .notStarted(error.message, status: 126)
        }
        prepareTerminal()
        if let failure = spawn() { return failure }
        pty?.closeSlave()
        for fd in childEnds { closeFD(fd) }
        childEnds = []
        if handsOverTerminal {
            // The child did this too before exec; doing it here as well closes any gap, as shells do.
            _ = retryingEINTR { tcsetpgrp(request.stdinFD, pid) }
            childHasTerminal = true
        }
        onStart(pid)
        let status = copyUntilExit(receiveSignals: receiveSignals, onOutput: onOutput)
        return outcome(status)
    }

    // MARK: Setup

    private mutating func openStreams() throws(LaunchSetupError) {
        if request.usePseudoTerminal {
            let settingsFrom: Int32? =
                stdinIsTerminal ? request.stdinFD : (isatty(request.stdoutFD) == 1 ? request.stdoutFD : nil)
            let terminal = try PseudoTerminal(copyingSettingsFrom: settingsFrom, sizeFrom: request.stdoutFD)
            pty = terminal
            streams = [
                OutputStream(fd: terminal.master, destination: request.stdoutFD, closesOnBrokenDestination: false)
            ]
            return
        }
        for destination in [request.stdoutFD, request.stderrFD] {
            guard let pipe2 = GNU.pipe2 else { throw LaunchSetupError("could not create a pipe: pipe2 is missing") }
            var fds: [Int32] = [-1, -1]
            guard pipe2(&fds, O_CLOEXEC) == 0 else {
                throw LaunchSetupError("could not create a pipe: \(errorText(errno))")
            }
            let readEnd = aboveStandardStreams(fds[0])
            let writeEnd = aboveStandardStreams(fds[1])
            addStatusFlags(readEnd, O_NONBLOCK)
            // A larger pipe (1 MiB, where the system allows it) lets a chatty command write on
            // while exp copies: fewer wake-ups for both. Failing only keeps the default.
            _ = fcntl(writeEnd, Launcher.setPipeSize, Launcher.pipeSize)
            streams.append(OutputStream(fd: readEnd, destination: destination, closesOnBrokenDestination: true))
            childEnds.append(writeEnd)
        }
    }

    private mutating func prepareTerminal() {
        guard inForeground else { return }
        var settings = termios()
        guard tcgetattr(request.stdinFD, &settings) == 0 else { return }
        savedTerminal = settings
        if request.usePseudoTerminal {
            var raw = settings
            cfmakeraw(&raw)
            terminalIsRaw = retryingEINTR { tcsetattr(request.stdinFD, TCSANOW, &raw) } == 0
        } else {
            handsOverTerminal = true
        }
    }

    /// Starts the child; returns the outcome when it could not be started.
    private mutating func spawn() -> LaunchOutcome? {
        guard let addChdir = GNU.addChdir else {
            return .notStarted("could not start \(request.argv[0]): posix_spawn cannot change directory", status: 126)
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        _ = addChdir(&actions, directory)
        if let pty {
            // Opened after setsid, without O_NOCTTY: the slave becomes the controlling terminal.
            posix_spawn_file_actions_addopen(&actions, 0, pty.slavePath, O_RDWR, 0)
            posix_spawn_file_actions_adddup2(&actions, 0, 1)
            posix_spawn_file_actions_adddup2(&actions, 0, 2)
        } else {
            if request.stdinFD != 0 && isOpenFD(request.stdinFD) {
                posix_spawn_file_actions_adddup2(&actions, request.stdinFD, 0)
            }
            posix_spawn_file_actions_adddup2(&actions, childEnds[0], 1)
            posix_spawn_file_actions_adddup2(&actions, childEnds[1], 2)
            if handsOverTerminal, let addTcsetpgrp = GNU.addTcsetpgrp {
                _ = addTcsetpgrp(&actions, 0)
            }
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        // Every signal back to its default, glibc's internal ones (32, 33) included: sigfillset
        // leaves those out, and glibc before 2.38 then sets them to SIG_IGN in the child, which
        // survives exec. Signals exp was started ignoring stay ignored, as a shell leaves them.
        var defaults = sigset_t()
        withUnsafeMutableBytes(of: &defaults) { _ = $0.initializeMemory(as: UInt8.self, repeating: 0xff) }
        for signal in ignoredSignals { sigdelset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if pty != nil {
            flags |= spawnSetSID
        } else {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))

        let environment = makeCStrings(request.environment.map { "\($0.key)=\($0.value)" })
        defer { freeCStrings(environment) }
        var arguments = makeCStrings(request.argv)
        defer { freeCStrings(arguments) }
        var child: pid_t = 0
        var result = posix_spawn(&child, executable, &actions, &attributes, arguments, environment)
        if result == ENOEXEC {
            // A script without a #! line: run it with /bin/sh, as execvp and shells do.
            freeCStrings(arguments)
            arguments = makeCStrings(["/bin/sh", executable] + request.argv.dropFirst())
            result = posix_spawn(&child, "/bin/sh", &actions, &attributes, arguments, environment)
        }
        guard result != 0 else {
            pid = child
            return nil
        }
        return .notStarted(
            Self.startErrorText(result, name: request.argv[0], path: executable),
            status: result == ENOENT && !fileExists(executable) ? 127 : 126)
    }

    private static func startErrorText(_ code: Int32, name: String, path: String) -> String {
        switch code {
        case ENOENT:
            // The file is there, so what is missing is its #! interpreter.
            return fileExists(path) ? "bad interpreter: \(name)" : "no such file or directory: \(name)"
        case EACCES, EPERM: return "permission denied: \(name)"
        case ENOTDIR: return "not a directory: \(name)"
        default: return "could not start \(name): \(errorText(code))"
        }
    }

    // MARK: Copying

    /// Copies output, relays stdin and forwards signals until the child exited and its output
    /// ended (or `drainMicroseconds` passed after it exited). Returns its wait status.
    private mutating func copyUntilExit(
        receiveSignals: ((Int32) -> Void) -> Void, onOutput: (UnsafeRawBufferPointer) -> Void
    ) -> WaitStatus {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Launcher.chunkSize, alignment: 64)
        defer { buffer.deallocate() }
        var input = StdinRelay(
            fd: relaysStdin ? request.stdinFD : -1, isTerminal: stdinIsTerminal, master: pty?.master ?? -1)
        defer { input.deallocate() }

        var status: WaitStatus?
        var drainEnds: Int64 = 0
        var drainedBytes = 0
        var lastCheck = monotonicMicroseconds()
        var idleWait: Int64 = 1000
        var entries: [pollfd] = []
        entries.reserveCapacity(5)

        while true {
            let now = monotonicMicroseconds()
            let outputOpen = streams.contains { $0.fd >= 0 }
            if status == nil && (!outputOpen || now - lastCheck >= Launcher.exitCheckMicroseconds) {
                lastCheck = now
                if let ended = checkChild() {
                    status = ended
                    drainEnds = now + Launcher.drainMicroseconds
                    input.stop()
                }
            }
            if status != nil && (!outputOpen || now >= drainEnds || drainedBytes >= Launcher.drainByteLimit) { break }

            let timeout: Int64
            if status != nil {
                timeout = drainEnds - now
            } else if outputOpen {
                timeout = lastCheck + Launcher.exitCheckMicroseconds - now
            } else {
                // Output ended: the child is about to be reapable (or closed its output and runs on).
                timeout = idleWait
                idleWait = min(idleWait * 2, Launcher.exitCheckMicroseconds)
            }

            entries.removeAll(keepingCapacity: true)
            entries.append(pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0))
            for stream in streams {
                entries.append(pollfd(fd: stream.fd, events: Int16(POLLIN), revents: 0))  // fd -1 is skipped
            }
            let inputEntry = entries.count
            entries.append(input.readEntry)
            entries.append(input.writeEntry)
            // Round up, so a wait never becomes a busy loop of zero timeouts.
            let ready = poll(&entries, nfds_t(entries.count), Int32(max(0, (timeout + 999) / 1000)))
            if ready <= 0 { continue }  // timeout, or EINTR from a signal we caught

            if entries[0].revents != 0 {
                receiveSignals { signal in handle(signal: signal, exited: status != nil) }
            }
            for index in streams.indices where entries[1 + index].revents != 0 {
                // While full chunks keep coming, read on without another poll (the fd is
                // non-blocking): one system call fewer per chunk for chatty commands.
                for _ in 0..<Launcher.readsPerWakeUp {
                    let copied = copyChunk(
                        from: index, buffer: buffer, measuringStall: status != nil, onOutput: onOutput)
                    if status != nil {
                        drainEnds += copied.stalled
                        drainedBytes += copied.bytes
                    }
                    if !copied.filled || streams[index].fd < 0 { break }
                }
            }
            if entries[inputEntry].revents != 0 { input.readStdin() }
            if entries[inputEntry + 1].revents != 0 { input.flush() }
        }
        for index in streams.indices { streams[index].close() }
        return status ?? .other
    }

    private var relaysStdin: Bool {
        // A terminal exp doesn't hold in the foreground is not read: that would stop exp (SIGTTIN).
        pty != nil && isOpenFD(request.stdinFD) && (!stdinIsTerminal || inForeground)
    }

    /// Reads one chunk from stream `index` (straight into the log's memory where it can) and
    /// copies it to the log, its destination and `onOutput`. Returns the bytes copied, whether
    /// the read filled its buffer (more may be waiting), and how long writing to the
    /// destination blocked (when `measuringStall`).
    private mutating func copyChunk(
        from index: Int, buffer: UnsafeMutableRawBufferPointer, measuringStall: Bool,
        onOutput: (UnsafeRawBufferPointer) -> Void
    ) -> (bytes: Int, filled: Bool, stalled: Int64) {
        let target = log.readTarget(scratch: buffer)
        let count = read(streams[index].fd, target.baseAddress, target.count)
        if count < 0 {
            let code = errno
            if code == EINTR || code == EAGAIN || code == EWOULDBLOCK { return (0, false, 0) }
            // EIO is how a pseudo-terminal master reports that the last slave holder is gone.
            streams[index].close()
            return (0, false, 0)
        }
        if count == 0 {
            streams[index].close()
            return (0, false, 0)
        }
        let chunk = UnsafeRawBufferPointer(rebasing: target[0..<count])
        guard let base = chunk.baseAddress else { return (0, false, 0) }
        // The log first: a terminal that stalls must not hold back the record.
        log.append(chunk)
        var stalled: Int64 = 0
        if streams[index].destinationOpen {
            let started = measuringStall ? monotonicMicroseconds() : 0
            let error = writeAll(streams[index].destination, base, count)
            if measuringStall { stalled = monotonicMicroseconds() - started }
            if error != 0 {
                streams[index].destinationOpen = false
                // Whoever read our stdout went away: let the child find out on its next write.
                if error == EPIPE && streams[index].closesOnBrokenDestination { streams[index].close() }
            }
        }
        onOutput(chunk)
        return (count, count == target.count, stalled)
    }

    private mutating func handle(signal: Int32, exited: Bool) {
        if signal == SIGWINCH {
            pty?.copyWindowSize(from: request.stdoutFD)
            return
        }
        guard forwardedSignals.contains(signal), !exited else { return }
        if kill(-pid, signal) == 0 { forwarded.append(signal) }
    }

    /// Reaps the child if it ended; follows it when it stops under job control.
    private mutating func checkChild() -> WaitStatus? {
        var raw: Int32 = 0
        let result = waitpid(pid, &raw, WNOHANG | (handsOverTerminal ? WUNTRACED : 0))
        if result == 0 { return nil }
        if result < 0 {
            // ECHILD: someone else reaped it (SIGCHLD ignored); nothing more to learn.
            return errno == EINTR ? nil : .other
        }
        let status = WaitStatus(raw)
        if case .stopped = status {
            suspendWithChild()
            return nil
        }
        return status
    }

    /// The child was stopped from the terminal (Ctrl-Z): stop exp's own group too, so the shell
    /// sees the job stop, and when continued, continue the child (in the foreground if exp is).
    private mutating func suspendWithChild() {
        if childHasTerminal {
            _ = retryingEINTR { tcsetpgrp(request.stdinFD, getpgrp()) }
            childHasTerminal = false
        }
        _ = kill(0, SIGTSTP)
        // Here after SIGCONT.
        if tcgetpgrp(request.stdinFD) == getpgrp() {
            _ = retryingEINTR { tcsetpgrp(request.stdinFD, pid) }
            childHasTerminal = true
        }
        _ = kill(-pid, SIGCONT)
    }

    private func outcome(_ status: WaitStatus) -> LaunchOutcome {
        var outcome = LaunchOutcome(
            pid: pid, exitCode: nil, signal: nil, forwardedSignals: forwarded, startError: nil, shellStatus: 1)
        switch status {
        case .exited(let code):
            outcome.exitCode = code
            outcome.shellStatus = code
        case .signaled(let signal):
            outcome.signal = signal
            outcome.shellStatus = 128 + signal
        case .stopped, .other:
            break
        }
        if handsOverTerminal, case .signaled = status, var saved = savedTerminal {
            // A shell puts the terminal back the way it was when a job dies of a signal.
            _ = retryingEINTR { tcsetattr(request.stdinFD, TCSADRAIN, &saved) }
        }
        return outcome
    }

    /// Gives back everything: the terminal's mode and foreground group, and the descriptors.
    mutating func finish() {
        log.finish()
        if terminalIsRaw, var saved = savedTerminal {
            _ = retryingEINTR { tcsetattr(request.stdinFD, TCSADRAIN, &saved) }
            terminalIsRaw = false
        }
        if childHasTerminal {
            _ = retryingEINTR { tcsetpgrp(request.stdinFD, getpgrp()) }
            childHasTerminal = false
        }
        for index in streams.indices { streams[index].close() }
        for fd in childEnds { closeFD(fd) }
        childEnds = []
        // The master was the first stream and is closed with the streams above; closing it
        // again here would close whatever descriptor another thread opened under its number.
        pty?.closeSlave()
    }
}

private func fileExists(_ path: String) -> Bool {
    var info = stat()
    return stat(path, &info) == 0
}

/// One stream of the child's output and where it is copied.
private struct OutputStream {
    /// exp's read end, -1 once closed.
    var fd: Int32
    var destination: Int32
    /// Cleared after a write to `destination` failed; the log still gets the output.
    var destinationOpen = true
    /// Pipe mode: when the destination's reader is gone, close our end so the child gets
    /// SIGPIPE on its next write, as it would writing there itself.
    var closesOnBrokenDestination: Bool

    init(fd: Int32, destination: Int32, closesOnBrokenDestination: Bool) {
        self.fd = fd
        self.destination = destination
        self.closesOnBrokenDestination = closesOnBrokenDestination
    }

    mutating func close() {
        closeFD(fd)
        fd = -1
    }
}

/// Pseudo-terminal mode: copies exp's stdin to the master without ever blocking the loop.
private struct StdinRelay {
    /// exp's stdin, -1 when not relaying (any more).
    private var fd: Int32
    private let isTerminal: Bool
    private let master: Int32
    private var pending: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var atLineStart = true

    init(fd: Int32, isTerminal: Bool, master: Int32) {
        self.fd = fd
        self.isTerminal = isTerminal
        self.master = master
        pending = UnsafeMutableRawBufferPointer.allocate(byteCount: 16 * 1024, alignment: 16)
    }

    /// Wait for stdin only when the previous bytes are all delivered.
    var readEntry: pollfd {
        pollfd(fd: fd >= 0 && start == end ? fd : -1, events: Int16(POLLIN), revents: 0)
    }

    var writeEntry: pollfd {
        pollfd(fd: start < end ? master : -1, events: Int16(POLLOUT), revents: 0)
    }

    mutating func readStdin() {
        guard fd >= 0 else { return }
        let count = read(fd, pending.baseAddress, pending.count)
        if count > 0 {
            start = 0
            end = count
            atLineStart = pending[count - 1] == UInt8(ascii: "\n")
            flush()
            return
        }
        if count < 0 && (errno == EINTR || errno == EAGAIN) { return }
        fd = -1
        if !isTerminal {
            // Piped stdin ended: let the child read end-of-file, as it would from the pipe.
            let eof = endOfFileBytes()
            for (offset, byte) in eof.enumerated() { pending[offset] = byte }
            start = 0
            end = eof.count
            flush()
        }
    }

    mutating func flush() {
        while start < end {
            let written = write(master, pending.baseAddress! + start, end - start)
            if written > 0 {
                start += written
            } else if written < 0 && errno == EINTR {
                continue
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                return
            } else {
                start = end
                fd = -1
            }
        }
    }

    /// Stops reading stdin (the child is gone; what the user types now is not for it).
    mutating func stop() {
        fd = -1
        start = end
    }

    /// The VEOF character when the pseudo-terminal is in canonical mode, twice mid-line.
    private func endOfFileBytes() -> [UInt8] {
        var settings = termios()
        guard tcgetattr(master, &settings) == 0, settings.c_lflag & tcflag_t(ICANON) != 0 else { return [] }
        let eof = withUnsafeBytes(of: settings.c_cc) { $0[Int(VEOF)] }
        return atLineStart ? [eof] : [eof, eof]
    }

    func deallocate() {
        pending.deallocate()
    }
}
