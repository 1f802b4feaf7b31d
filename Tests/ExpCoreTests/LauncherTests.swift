import ExpCore
import Foundation
import Glibc
import Synchronization
import Testing

/// A temporary folder, removed when the value goes away.
private final class ScratchFolder {
    let path: String

    init() throws {
        let template = NSTemporaryDirectory() + "exp-launcher-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard mkdtemp(&bytes) != nil else { throw POSIXError(.EIO) }
        // Resolve symlinks (/tmp may be one) so `pwd -P` can be compared with it.
        path =
            URL(fileURLWithPath: String(decoding: bytes.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self))
            .resolvingSymlinksInPath().path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { "\(path)/\(name)" }

    func write(_ name: String, _ text: String, mode: Int = 0o644) throws {
        try text.write(toFile: file(name), atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file(name))
    }

    func read(_ name: String) -> Data { FileManager.default.contents(atPath: file(name)) ?? Data() }
    func text(_ name: String) -> String { String(decoding: read(name), as: UTF8.self) }
}

/// What a launch left behind: how it ended, what reached exp's stdout and stderr, and the log.
private struct Launched {
    var outcome: LaunchOutcome
    var scratch: ScratchFolder
    var startedPID: Int32?
    var chunkBytes: Int

    var stdout: String { scratch.text("stdout") }
    var stderr: String { scratch.text("stderr") }
    var log: String { scratch.text("output.log") }
}

private let hermeticPath = "/usr/local/bin:/usr/bin:/bin"

/// A byte count shared with a reader thread.
private final class ByteCount: Sendable {
    private let total = Atomic<Int>(0)
    var value: Int { total.load(ordering: .acquiring) }
    func add(_ count: Int) { total.add(count, ordering: .releasing) }
}

/// Runs `argv` through the launcher with exp's stdout and stderr going to files (or the given
/// descriptors) and stdin from /dev/null (or `stdinFD`).
private func launch(
    _ argv: [String], pseudoTerminal: Bool = false, environment: [String: String] = ["PATH": hermeticPath],
    in scratch: ScratchFolder, directory: String? = nil, stdinFD: Int32? = nil, stdoutFD: Int32? = nil,
    logLimit: Int? = nil, onOutput: (UnsafeRawBufferPointer) -> Void = { _ in }
) throws -> Launched {
    let stdout = open(scratch.file("stdout"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    let stderr = open(scratch.file("stderr"), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
    defer {
        close(stdout)
        close(stderr)
        close(null)
    }
    try #require(stdout >= 0 && stderr >= 0 && null >= 0)
    var request = LaunchRequest(
        argv: argv, environment: environment, workingDirectory: directory ?? scratch.path,
        usePseudoTerminal: pseudoTerminal, stdinFD: stdinFD ?? null, stdoutFD: stdoutFD ?? stdout, stderrFD: stderr,
        outputLogPath: scratch.file("output.log"))
    request.logLimit = logLimit
    var startedPID: Int32?
    var chunkBytes = 0
    let outcome = Launcher.run(
        request, onStart: { startedPID = $0 },
        onOutput: { chunk in
            chunkBytes += chunk.count
            onOutput(chunk)
        })
    return Launched(outcome: outcome, scratch: scratch, startedPID: startedPID, chunkBytes: chunkBytes)
}

/// Reads what is in a pipe without waiting for more.
private func drain(_ fd: Int32) -> String {
    addNonBlocking(fd)
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { break }
        data += buffer[0..<count]
    }
    return String(decoding: data, as: UTF8.self)
}

private func addNonBlocking(_ fd: Int32) {
    _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
}

/// The launcher changes process-wide state (signal handlers) and one test signals the whole
/// test process, so these run one at a time.
/// Suites that start commands inside the test process. The launcher installs process-wide
/// signal handlers and passes a received signal to every command it is running, so these
/// suites must not overlap: they are nested in one serialized suite.
@Suite(.serialized)
struct InProcessLaunches {}

extension InProcessLaunches {
    @Suite("Launcher runs commands as the terminal would", .serialized)
    struct LauncherTests {
        @Test func passesTheExitCodeThrough() throws {
            let scratch = try ScratchFolder()
            let result = try launch(["sh", "-c", "exit 3"], in: scratch)
            #expect(result.outcome.exitCode == 3)
            #expect(result.outcome.signal == nil)
            #expect(result.outcome.shellStatus == 3)
            #expect(result.outcome.startError == nil)
            #expect(result.outcome.pid != nil)
            #expect(result.startedPID == result.outcome.pid)
            #expect(result.outcome.forwardedSignals == [])
        }

        @Test func reportsDeathBySignal() throws {
            let scratch = try ScratchFolder()
            let result = try launch(["sh", "-c", "kill -TERM $$"], in: scratch)
            #expect(result.outcome.signal == SIGTERM)
            #expect(result.outcome.exitCode == nil)
            #expect(result.outcome.shellStatus == 143)
        }

        @Test func keepsStdoutAndStderrApartAndLogsBoth() throws {
            let scratch = try ScratchFolder()
            let result = try launch(["sh", "-c", "echo to-out; echo to-err >&2"], in: scratch)
            #expect(result.stdout == "to-out\n")
            #expect(result.stderr == "to-err\n")
            #expect(result.log.split(separator: "\n").sorted() == ["to-err", "to-out"])
            #expect(result.chunkBytes == result.log.utf8.count)
        }

        @Test func logsInterleavedOutputInArrivalOrder() throws {
            let scratch = try ScratchFolder()
            let script = """
                import sys, time
                for i in range(6):
                    print(f"line{i}", file=sys.stdout if i % 2 == 0 else sys.stderr, flush=True)
                    time.sleep(0.03)
                """
            let result = try launch(["python3", "-c", script], in: scratch)
            #expect(result.outcome.exitCode == 0)
            #expect(result.log == (0..<6).map { "line\($0)\n" }.joined())
            #expect(result.stdout == "line0\nline2\nline4\n")
            #expect(result.stderr == "line1\nline3\nline5\n")
        }

        @Test func missingCommandIs127() throws {
            let scratch = try ScratchFolder()
            let result = try launch(["exp-no-such-command-xyz", "--flag"], in: scratch)
            #expect(result.outcome.pid == nil)
            #expect(result.startedPID == nil)
            #expect(result.outcome.startError == "command not found: exp-no-such-command-xyz")
            #expect(result.outcome.shellStatus == 127)
            #expect(result.stdout.isEmpty && result.stderr.isEmpty)

            let missingPath = try launch(["./not-here"], in: scratch)
            #expect(missingPath.outcome.startError == "no such file or directory: ./not-here")
            #expect(missingPath.outcome.shellStatus == 127)
        }

        @Test func nonExecutableFileIs126() throws {
            let scratch = try ScratchFolder()
            try scratch.write("script", "#!/bin/sh\necho ran\n", mode: 0o644)
            let byPath = try launch(["./script"], in: scratch)
            #expect(byPath.outcome.pid == nil)
            #expect(byPath.outcome.startError == "permission denied: ./script")
            #expect(byPath.outcome.shellStatus == 126)

            let onSearchPath = try launch(["script"], environment: ["PATH": scratch.path], in: scratch)
            #expect(onSearchPath.outcome.startError == "permission denied: script")
            #expect(onSearchPath.outcome.shellStatus == 126)

            try scratch.write("broken", "#!/no/such/interpreter\n", mode: 0o755)
            let badInterpreter = try launch(["./broken"], in: scratch)
            #expect(badInterpreter.outcome.startError == "bad interpreter: ./broken")
            #expect(badInterpreter.outcome.shellStatus == 126)
        }

        @Test func scriptWithoutShebangRunsWithSh() throws {
            let scratch = try ScratchFolder()
            try scratch.write("plain", "echo plain-script \"$1\"\n", mode: 0o755)
            let result = try launch(["./plain", "arg"], in: scratch)
            #expect(result.outcome.exitCode == 0)
            #expect(result.stdout == "plain-script arg\n")
        }

        @Test func resolvesTheCommandThroughTheChildsPath() throws {
            let scratch = try ScratchFolder()
            try FileManager.default.createDirectory(atPath: scratch.file("bin"), withIntermediateDirectories: true)
            try scratch.write("bin/exp-test-tool", "#!/bin/sh\necho tool \"$@\"\n", mode: 0o755)
            let result = try launch(
                ["exp-test-tool", "a b"], environment: ["PATH": "\(scratch.file("bin")):\(hermeticPath)"], in: scratch)
            #expect(result.stdout == "tool a b\n")
        }

        @Test func passesExactlyTheGivenEnvironment() throws {
            let scratch = try ScratchFolder()
            // A variable this test process has but the request leaves out must not reach the child.
            // (Not one the shell sets by itself, such as PWD.)
            let shellSets: Set<String> = [
                "PATH", "PWD", "OLDPWD", "SHLVL", "_", "IFS", "PS1", "PS2", "PS4", "PPID", "OPTIND", "",
            ]
            let inherited = try #require(
                ProcessInfo.processInfo.environment.keys.sorted().first { !shellSets.contains($0) })
            let result = try launch(
                ["sh", "-c", "echo \"set=$EXP_TEST_VALUE other=${\(inherited)-unset}\""],
                environment: ["PATH": hermeticPath, "EXP_TEST_VALUE": "a=b c"], in: scratch)
            #expect(result.stdout == "set=a=b c other=unset\n")
        }

        @Test func runsInTheWorkingDirectory() throws {
            let scratch = try ScratchFolder()
            try FileManager.default.createDirectory(atPath: scratch.file("sub"), withIntermediateDirectories: true)
            try scratch.write("sub/here", "#!/bin/sh\npwd -P\n", mode: 0o755)
            let result = try launch(["./here"], in: scratch, directory: scratch.file("sub"))
            #expect(result.stdout == scratch.file("sub") + "\n")

            let missing = try launch(["true"], in: scratch, directory: scratch.file("gone"))
            #expect(missing.outcome.pid == nil)
            #expect(missing.outcome.startError?.hasPrefix("could not enter working directory") == true)
        }

        @Test func childStartsWithEmptyMaskAndDefaultDispositions() throws {
            let scratch = try ScratchFolder()
            // Block a signal on this thread and ignore one process-wide: neither may reach the child,
            // except a forwarded signal that exp itself was started ignoring (as under nohup).
            var block = sigset_t()
            sigemptyset(&block)
            sigaddset(&block, SIGALRM)
            var previousMask = sigset_t()
            pthread_sigmask(SIG_BLOCK, &block, &previousMask)
            var ignore = sigaction()
            ignore.__sigaction_handler.sa_handler = SIG_IGN
            var previousUSR2 = sigaction()
            sigaction(SIGUSR2, &ignore, &previousUSR2)
            defer {
                sigaction(SIGUSR2, &previousUSR2, nil)
                pthread_sigmask(SIG_SETMASK, &previousMask, nil)
            }
            let result = try launch(["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"], in: scratch)
            let usr2Bit = String(1 << (SIGUSR2 - 1), radix: 16)
            let ignored = String(repeating: "0", count: 16 - usr2Bit.count) + usr2Bit
            #expect(result.stdout == "SigBlk:\t0000000000000000\nSigIgn:\t\(ignored)\n")
        }

        @Test func leaksNoDescriptorsIntoTheChild() throws {
            let script = """
                import os
                for name in sorted(os.listdir("/proc/self/fd"), key=int):
                    try:
                        print(name, os.readlink("/proc/self/fd/" + name))
                    except OSError:
                        pass
                """
            for pseudoTerminal in [false, true] {
                let scratch = try ScratchFolder()
                let result = try launch(["python3", "-c", script], pseudoTerminal: pseudoTerminal, in: scratch)
                var targets: [Int: String] = [:]
                for line in result.log.split(whereSeparator: \.isNewline) {
                    let parts = line.split(separator: " ", maxSplits: 1)
                    if parts.count == 2, let fd = Int(parts[0]) { targets[fd] = String(parts[1]) }
                }
                // The child's stdout and stderr: a pipe (whose read end is exp's) or the pseudo-terminal.
                let streams = Set([1, 2].compactMap { targets[$0] })
                #expect(streams.count == (pseudoTerminal ? 1 : 2))
                for (fd, target) in targets where fd > 2 {
                    #expect(!streams.contains(target), "fd \(fd) leaked exp's end of \(target)")
                    #expect(
                        !target.contains("output.log") && !target.contains("ptmx") && !target.hasPrefix("/dev/pts"),
                        "fd \(fd) leaked \(target)")
                }
            }
        }

        @Test func pseudoTerminalGivesTheChildATerminal() throws {
            let scratch = try ScratchFolder()
            var stdinPipe: [Int32] = [-1, -1]
            var stdoutPipe: [Int32] = [-1, -1]
            try #require(pipe(&stdinPipe) == 0 && pipe(&stdoutPipe) == 0)
            defer { for fd in stdinPipe + stdoutPipe { close(fd) } }
            close(stdinPipe[1])
            stdinPipe[1] = -1
            let script =
                "import sys, os; print(sys.stdout.isatty(), os.isatty(0)); os.close(os.open('/dev/tty', os.O_RDWR))"
            let result = try launch(
                ["python3", "-c", script], pseudoTerminal: true, in: scratch, stdinFD: stdinPipe[0],
                stdoutFD: stdoutPipe[1]
            )
            #expect(result.outcome.exitCode == 0)
            // A terminal turns "\n" into "\r\n".
            #expect(result.log == "True True\r\n")
            #expect(drain(stdoutPipe[0]) == "True True\r\n")
        }

        @Test func pseudoTerminalRelaysPipedStdinAndItsEnd() throws {
            let scratch = try ScratchFolder()
            var stdinPipe: [Int32] = [-1, -1]
            try #require(pipe(&stdinPipe) == 0)
            defer { close(stdinPipe[0]) }
            _ = "first line\nrest".withCString { write(stdinPipe[1], $0, strlen($0)) }
            close(stdinPipe[1])
            let script = """
                import sys
                line = sys.stdin.readline()
                rest = sys.stdin.read()
                print("line=%r rest=%r" % (line, rest))
                """
            let result = try launch(
                ["python3", "-c", script], pseudoTerminal: true, in: scratch, stdinFD: stdinPipe[0])
            #expect(result.outcome.exitCode == 0)
            // The terminal echoes what it is given, then the child's line.
            #expect(result.log.hasSuffix("line='first line\\n' rest='rest'\r\n"))
        }

        @Test func pseudoTerminalTakesExpsWindowSize() throws {
            let scratch = try ScratchFolder()
            var master: Int32 = -1
            var slave: Int32 = -1
            var size = winsize(ws_row: 33, ws_col: 101, ws_xpixel: 0, ws_ypixel: 0)
            try #require(openpty(&master, &slave, nil, nil, &size) == 0)
            defer {
                close(master)
                close(slave)
            }
            let result = try launch(["stty", "size"], pseudoTerminal: true, in: scratch, stdoutFD: slave)
            #expect(result.outcome.exitCode == 0)
            #expect(result.log == "33 101\r\n")
        }

        @Test func copiesLargeOutputCompletely() throws {
            let scratch = try ScratchFolder()
            let size = 50_000_000
            let result = try launch(["head", "-c", "\(size)", "/dev/urandom"], in: scratch)
            #expect(result.outcome.exitCode == 0)
            let stdout = scratch.read("stdout")
            let log = scratch.read("output.log")
            #expect(stdout.count == size)
            #expect(log.count == size)
            let same = stdout.withUnsafeBytes { out in
                log.withUnsafeBytes { memcmp(out.baseAddress!, $0.baseAddress!, size) == 0 }
            }
            #expect(same, "the log differs from what reached stdout")
            #expect(result.chunkBytes == size)
        }

        @Test func cappedLogKeepsItsHeadAndExactlyTheNewestTail() throws {
            let scratch = try ScratchFolder()
            // 40 MB of numbered lines: the tail ring (limit less the 1 MiB head) wraps several
            // times, and output is read straight into it.
            let limit = 5_000_000
            var seen: [UInt8] = []
            let result = try launch(
                ["python3", "-c", "import sys\nfor i in range(4_000_000): sys.stdout.write('%09d\\n' % i)"],
                environment: ProcessInfo.processInfo.environment, in: scratch, logLimit: limit,
                onOutput: { seen += $0 })
            #expect(result.outcome.exitCode == 0)
            let stdout = scratch.read("stdout")
            #expect(stdout.count == 40_000_000)
            #expect(Data(seen) == stdout, "every chunk reached onOutput, in order")
            let head = 1 << 20
            let tail = limit - head
            let log = scratch.read("output.log")
            #expect(log.prefix(head) == stdout.prefix(head))
            #expect(log.suffix(tail) == stdout.suffix(tail))
            let marker = String(decoding: log.dropFirst(head).dropLast(tail), as: UTF8.self)
            #expect(
                marker == "\n[exp: \(stdout.count - head - tail) bytes of output left out here; the log was "
                    + "\(stdout.count) bytes, over exp.maxLogSize]\n")
        }

        @Test func pipeModeGivesTheChildALargePipe() throws {
            let scratch = try ScratchFolder()
            let maximum =
                Int(
                    (try? String(contentsOfFile: "/proc/sys/fs/pipe-max-size", encoding: .utf8))?
                        .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
            // F_GETPIPE_SZ of the child's stdout and stderr.
            let result = try launch(
                ["python3", "-c", "import fcntl, sys\nprint(fcntl.fcntl(1, 1032), fcntl.fcntl(2, 1032))"],
                environment: ProcessInfo.processInfo.environment, in: scratch)
            #expect(result.outcome.exitCode == 0)
            let expected = maximum >= 1 << 20 || getuid() == 0 ? 1 << 20 : 65536
            #expect(result.stdout == "\(expected) \(expected)\n")
        }

        @Test func appendsToAnExistingLog() throws {
            let scratch = try ScratchFolder()
            try scratch.write("output.log", "before\n")
            let result = try launch(["echo", "after"], in: scratch)
            #expect(result.log == "before\nafter\n")
        }

        @Test func childDiesOfSIGPIPEWhenExpsReaderIsGone() throws {
            let scratch = try ScratchFolder()
            var fds: [Int32] = [-1, -1]
            try #require(pipe(&fds) == 0)
            close(fds[0])
            defer { close(fds[1]) }
            let result = try launch(["yes"], in: scratch, stdoutFD: fds[1])
            #expect(result.outcome.signal == SIGPIPE)
            #expect(result.outcome.shellStatus == 128 + SIGPIPE)
        }

        @Test func forwardsSignalsSentToExp() throws {
            let scratch = try ScratchFolder()
            // Bounded, so a broken forwarder fails the test instead of hanging it.
            let script = """
                trap 'echo got-usr1; exit 7' USR1
                echo ready
                i=0
                while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
                exit 99
                """
            var sent = false
            let result = try launch(["sh", "-c", script], in: scratch) { chunk in
                guard !sent, String(decoding: chunk, as: UTF8.self).contains("ready") else { return }
                sent = true
                // From another thread, to the whole process: whichever thread the kernel picks, it
                // must reach the launcher and not end the test process.
                Thread { kill(getpid(), SIGUSR1) }.start()
            }
            #expect(sent)
            #expect(result.log.contains("got-usr1"))
            #expect(result.outcome.exitCode == 7)
            #expect(result.outcome.forwardedSignals == [SIGUSR1])
        }

        @Test func forwardsSignalsFromOtherProcesses() throws {
            let scratch = try ScratchFolder()
            // The child itself sends SIGINT to its parent (this test process, standing in for exp):
            // uncaught, SIGINT would end the test run; forwarded, it comes back to the child's group.
            let script = """
                trap 'echo got-int; exit 5' INT
                kill -INT $PPID
                i=0
                while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
                exit 99
                """
            let result = try launch(["sh", "-c", script], in: scratch)
            #expect(result.log == "got-int\n")
            #expect(result.outcome.exitCode == 5)
            #expect(result.outcome.forwardedSignals == [SIGINT])
        }

        /// How long the launch takes past the child's end is measured by `bench/time-boxes.sh`;
        /// here the outcome: every byte arrives, and the launch ends while the grandchild still
        /// holds the terminal (a hung launch fails the time limit).
        @Test(.timeLimit(.minutes(1))) func slowReaderGetsAllOutputWhileAGrandchildHoldsTheTerminal() throws {
            let scratch = try ScratchFolder()
            var fds: [Int32] = [-1, -1]
            try #require(pipe(&fds) == 0)
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            // One page of pipe (F_SETPIPE_SZ), so the reader below sets the pace.
            _ = fcntl(fds[1], 1031, Int32(4096))
            let readEnd = fds[0]
            let received = ByteCount()
            let finished = DispatchSemaphore(value: 0)
            Thread {
                // About 12 KB/s: what the pseudo-terminal still holds when the child exits takes far
                // longer than the 200 ms drain to get out, so that time must not count.
                var buffer = [UInt8](repeating: 0, count: 1024)
                while case let count = read(readEnd, &buffer, buffer.count), count > 0 {
                    received.add(count)
                    usleep(80_000)
                }
                finished.signal()
            }.start()
            let size = 16_000
            // The grandchild ignores the hangup the terminal sends when the child (its session
            // leader) exits, so the terminal stays open after the child is gone.
            let grandchild = scratch.path + "/grandchild.pid"
            let script =
                "sh -c 'trap \"\" HUP; echo $$ > \(grandchild); exec sleep 60' & "
                + "head -c \(size) /dev/zero | tr '\\0' x; while [ ! -s \(grandchild) ]; do sleep 0.01; done"
            let result = try launch(["sh", "-c", script], pseudoTerminal: true, in: scratch, stdoutFD: fds[1])
            let pid = try #require(
                Int32(scratch.text("grandchild.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
            // Still there when the launch returned: it did not wait for the grandchild.
            #expect(kill(pid, 0) == 0, "the launch waited for the grandchild to end")
            kill(pid, SIGKILL)
            close(fds[1])
            finished.wait()
            close(readEnd)
            #expect(result.outcome.exitCode == 0)
            #expect(scratch.read("output.log").count == size)
            #expect(received.value == size)
        }

        /// The launch ends with the child, not with a grandchild it left in the background
        /// (bench/time-boxes.sh measures how soon); a hung launch fails the time limit.
        @Test(.timeLimit(.minutes(1))) func backgroundGrandchildDoesNotHoldTheLaunchOpen() throws {
            let scratch = try ScratchFolder()
            let grandchild = scratch.path + "/grandchild.pid"
            let script = "(sleep 60 & echo $! > \(grandchild)); echo done"
            let result = try launch(["sh", "-c", script], in: scratch)
            #expect(result.outcome.exitCode == 0)
            #expect(result.log == "done\n")
            let pid = try #require(
                Int32(scratch.text("grandchild.pid").trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(kill(pid, 0) == 0, "the launch waited for the background grandchild to end")
            kill(pid, SIGKILL)
        }
    }
}
