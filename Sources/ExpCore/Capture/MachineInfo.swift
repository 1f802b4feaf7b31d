import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The machine a run ran on, as recorded in run.json.
public struct MachineInfo: Codable, Sendable, Equatable {
    /// The operating system: `PRETTY_NAME` from `/etc/os-release` (`Debian GNU/Linux 12
    /// (bookworm)`), else uname's system name (`Darwin`).
    public var os: String
    /// The kernel release (`uname -r`), e.g. `6.1.0-18-amd64`.
    public var kernel: String
    /// The machine architecture (`uname -m`), e.g. `x86_64`, `aarch64`.
    public var architecture: String
    /// Online CPUs.
    public var cpus: Int
    /// Physical memory in bytes.
    public var memoryBytes: Int64
    /// The host name exp records (`ExpContext.host`: `EXP_HOST`, else the machine's name).
    public var hostname: String
    /// The user exp records (`ExpContext.user`: `EXP_USER`, else `USER`, `LOGNAME`, the
    /// account name).
    public var user: String
    /// Python version (`3.11.7`) when the command runs Python, asked from that interpreter.
    public var python: String?
    /// GPUs reported by `nvidia-smi`; empty when there is none or no `nvidia-smi`.
    public var gpus: [GPU]
    /// `CUDA_VISIBLE_DEVICES` as exp saw it.
    public var cudaVisibleDevices: String?

    /// One GPU, as `nvidia-smi` reports it.
    public struct GPU: Codable, Sendable, Equatable {
        /// Product name, e.g. `NVIDIA H100 80GB HBM3`.
        public var name: String
        /// Total memory in MiB, when reported.
        public var memoryMiB: Int?
        /// Driver version, e.g. `550.54.15`, when reported.
        public var driver: String?

        public init(name: String, memoryMiB: Int? = nil, driver: String? = nil) {
            self.name = name
            self.memoryMiB = memoryMiB
            self.driver = driver
        }

        enum CodingKeys: String, CodingKey {
            case name, driver
            case memoryMiB = "memory_mib"
        }
    }

    /// run.json spells keys in snake case (docs/run-format.md).
    enum CodingKeys: String, CodingKey {
        case os, kernel, architecture, cpus, hostname, user, python, gpus
        case memoryBytes = "memory_bytes"
        case cudaVisibleDevices = "cuda_visible_devices"
    }

    public init(
        os: String, kernel: String, architecture: String, cpus: Int, memoryBytes: Int64, hostname: String,
        user: String, python: String? = nil, gpus: [GPU] = [], cudaVisibleDevices: String? = nil
    ) {
        self.os = os
        self.kernel = kernel
        self.architecture = architecture
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.hostname = hostname
        self.user = user
        self.python = python
        self.gpus = gpus
        self.cudaVisibleDevices = cudaVisibleDevices
    }
}

extension MachineInfo {
    /// Time box for `nvidia-smi`.
    static let gpuQueryTimeout: Double = 2
    /// Time box for everything `collect` waits for.
    static let collectTimeout: Double = 2.5

    /// What the system says about itself, apart from what `collect` asks commands: the raw
    /// inputs of `MachineInfo`, read by `current()`; tests pass fixed ones.
    public struct SystemFacts: Sendable, Equatable {
        /// The text of `/etc/os-release` (else `/usr/lib/os-release`) when it names the system.
        public var osRelease: String?
        /// uname's system name (`Linux`, `Darwin`).
        public var kernelName: String
        /// uname's release (`6.1.0-18-amd64`).
        public var release: String
        /// uname's machine (`x86_64`).
        public var machine: String
        /// Online CPUs.
        public var cpus: Int
        /// Physical memory in bytes.
        public var memoryBytes: Int64

        public init(
            osRelease: String?, kernelName: String, release: String, machine: String, cpus: Int, memoryBytes: Int64
        ) {
            self.osRelease = osRelease
            self.kernelName = kernelName
            self.release = release
            self.machine = machine
            self.cpus = cpus
            self.memoryBytes = memoryBytes
        }

        /// This machine's facts.
        public static func current() -> SystemFacts {
            let names = MachineInfo.unameFields()
            return SystemFacts(
                osRelease: ["/etc/os-release", "/usr/lib/os-release"].lazy.compactMap {
                    try? String(contentsOfFile: $0, encoding: .utf8)
                }.first { MachineInfo.parseOSRelease($0) != nil },
                kernelName: names.sysname, release: names.release, machine: names.machine,
                cpus: max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))), memoryBytes: MachineInfo.physicalMemory())
        }
    }

    /// Collects it. `argv` is the user's command (to find a Python interpreter); `environment`
    /// is exp's environment (`PATH`, `CUDA_VISIBLE_DEVICES`, and what the Python interpreter and
    /// `nvidia-smi` run with); `host` and `user` are the context's (`ExpContext.host`, `.user`);
    /// `system` the facts of this machine (fixed ones in tests).
    ///
    /// `nvidia-smi` and the Python version query run side by side; `collect` never takes more
    /// than about 2.5 s, and a command over its time box is killed (with anything it started).
    public static func collect(
        argv: [String], environment: [String: String], host: String, user: String,
        system: SystemFacts = .current()
    ) -> MachineInfo {
        let clock = ContinuousClock()
        let start = clock.now
        let path = environment["PATH"]
        // Start both commands first so their time boxes overlap.
        let smi = resolveExecutable("nvidia-smi", searchPath: path).flatMap {
            Subprocess.start(
                $0, ["--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
                environment: environment)
        }
        let python = pythonInterpreter(argv: argv, environment: environment).flatMap {
            Subprocess.start(
                $0, ["-c", "import sys; print('.'.join(str(n) for n in sys.version_info[:3]))"],
                environment: environment)
        }

        var info = MachineInfo(
            os: system.osRelease.flatMap(parseOSRelease) ?? system.kernelName, kernel: system.release,
            architecture: system.machine, cpus: system.cpus, memoryBytes: system.memoryBytes, hostname: host,
            user: user, cudaVisibleDevices: environment["CUDA_VISIBLE_DEVICES"])

        if let smi, let result = smi.finish(deadline: start + .seconds(gpuQueryTimeout)), result.status == 0 {
            info.gpus = parseNvidiaSmi(String(decoding: result.output, as: UTF8.self))
        }
        if let python, let result = python.finish(deadline: start + .seconds(collectTimeout)),
            result.status == 0 || result.status == nil
        {
            info.python = parsePythonVersion(String(decoding: result.output, as: UTF8.self))
        }
        return info
    }

    /// The Python interpreter the command runs: `argv[0]` named `python`, `python3`,
    /// `python3.11` …, resolved through `PATH` from `environment`, or a path to one (a relative
    /// path counts from the current folder). nil for any other command, and when it can't be
    /// found. Wrappers (`uv run`, `poetry run`, `torchrun`) are not followed.
    public static func pythonInterpreter(argv: [String], environment: [String: String]) -> String? {
        guard let program = argv.first, Params.isPythonProgram(program) else { return nil }
        return resolveExecutable(program, searchPath: environment["PATH"])
    }

    /// `python -m pip freeze` of that interpreter, run with `environment` (plus
    /// `PIP_DISABLE_PIP_VERSION_CHECK=1`, `PIP_NO_INPUT=1`) and killed after `timeout`
    /// seconds; nil on failure or timeout.
    public static func pipFreeze(python: String, environment: [String: String], timeout: Double = 20)
        -> String?
    {
        var environment = environment
        environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        environment["PIP_NO_INPUT"] = "1"
        let deadline = ContinuousClock.now + .seconds(timeout)
        guard let process = Subprocess.start(python, ["-m", "pip", "freeze"], environment: environment),
            let result = process.finish(deadline: deadline), result.status == 0
        else { return nil }
        return String(decoding: result.output, as: UTF8.self)
    }

    /// Environment variables to record: `CUDA_VISIBLE_DEVICES` plus the names in `extraNames`
    /// (from `exp.env`; may be simple globs like `WANDB_*`, with `*`, `?` and `[…]`).
    ///
    /// Never a name that looks secret, i.e. contains `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD`,
    /// `KEY` or `CREDENTIAL` in any case, even when named explicitly; and values that look
    /// like credentials (a URL's password, a token) are masked (`CredentialMask`).
    public static func recordedEnvironment(_ environment: [String: String], extraNames: [String])
        -> [String: String]
    {
        let patterns = ["CUDA_VISIBLE_DEVICES"] + extraNames.filter { !$0.isEmpty }
        var recorded: [String: String] = [:]
        for (name, value) in environment where !looksSecret(name) {
            if patterns.contains(where: { fnmatch($0, name, 0) == 0 }) {
                recorded[name] = CredentialMask.masking(value)
            }
        }
        return recorded
    }

    // MARK: - Helpers (internal for tests)

    /// Whether an environment variable's name suggests it holds a secret.
    static func looksSecret(_ name: String) -> Bool {
        let upper = name.uppercased()
        return ["TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL"].contains { upper.contains($0) }
    }

    /// Parses `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`:
    /// one GPU a line, `name, MiB, driver`. `[N/A]` or unparsable fields become nil.
    static func parseNvidiaSmi(_ output: String) -> [GPU] {
        output.split(whereSeparator: \.isNewline).compactMap { line in
            // Split at the two last commas: those fields never hold one, a name might.
            func trimmed(_ text: Substring) -> String { text.trimmingCharacters(in: .whitespaces) }
            guard let driverComma = line.lastIndex(of: ","),
                let memoryComma = line[..<driverComma].lastIndex(of: ",")
            else {
                let name = trimmed(line)
                return name.isEmpty ? nil : GPU(name: name)
            }
            let name = trimmed(line[..<memoryComma])
            let memory = trimmed(line[line.index(after: memoryComma)..<driverComma])
            let driver = trimmed(line[line.index(after: driverComma)...])
            guard !name.isEmpty else { return nil }
            return GPU(
                name: name, memoryMiB: Int(memory),
                driver: driver.isEmpty || driver.hasPrefix("[") ? nil : driver)
        }
    }

    /// The version printed by the interpreter (`3.11.7`), if it looks like one.
    static func parsePythonVersion(_ output: String) -> String? {
        let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && Int($0) != nil })
        else { return nil }
        return text
    }

    /// `PRETTY_NAME` from an os-release file's text.
    static func parseOSRelease(_ text: String) -> String? {
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("PRETTY_NAME=") {
            var value = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let quote = value.first, quote == "\"" || quote == "'", value.last == quote {
                value = String(value.dropFirst().dropLast())
            }
            value = value.replacingOccurrences(of: "\\\"", with: "\"")
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// Where `name` is run from: itself when it holds a `/` and is executable, else the first
    /// executable regular file of that name in `searchPath` (`PATH`; `/usr/local/bin:/usr/bin:/bin`
    /// when unset).
    static func resolveExecutable(_ name: String, searchPath: String?) -> String? {
        func isExecutableFile(_ path: String) -> Bool {
            var info = stat()
            return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
        }
        if name.contains("/") { return isExecutableFile(name) ? name : nil }
        guard !name.isEmpty else { return nil }
        for directory in (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(
            separator: ":", omittingEmptySubsequences: false)
        {
            let candidate = (directory.isEmpty ? "." : String(directory)) + "/" + name
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    static func unameFields() -> (sysname: String, release: String, machine: String) {
        var names = utsname()
        guard uname(&names) == 0 else { return ("unknown", "unknown", "unknown") }
        func field<T>(_ value: inout T) -> String {
            withUnsafeBytes(of: &value) { bytes in
                String(decoding: bytes.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        }
        return (field(&names.sysname), field(&names.release), field(&names.machine))
    }

    static func physicalMemory() -> Int64 {
        let pages = Int64(sysconf(Int32(_SC_PHYS_PAGES)))
        let pageSize = Int64(sysconf(Int32(_SC_PAGESIZE)))
        return pages > 0 && pageSize > 0 ? pages * pageSize : 0
    }

}

extension MachineInfo {
    /// A child process with a time box: stdout captured, stdin and stderr on `/dev/null`, in
    /// its own process group so a kill reaches whatever it started (a pyenv shim's python).
    struct Subprocess {
        let pid: pid_t
        /// Read end of the stdout pipe.
        let output: Int32

        /// Starts `executable` (a path) with `arguments` and exactly `environment`; nil when it
        /// can't be started.
        static func start(_ executable: String, _ arguments: [String], environment: [String: String]) -> Subprocess? {
            var fds: [Int32] = [-1, -1]
            // Close-on-exec from the start: a command exp launches meanwhile on another thread
            // must not inherit the write end (we would wait for an EOF that never comes).
            // (Glibc's pipe2 is not visible to Swift; a socket pair takes the flag atomically.)
            #if canImport(Glibc)
                let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
                guard socketpair(AF_UNIX, type, 0, &fds) == 0 else { return nil }
                shutdown(fds[0], Int32(SHUT_WR))
                shutdown(fds[1], Int32(SHUT_RD))
            #else
                guard pipe(&fds) == 0 else { return nil }
                _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
                _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
            #endif

            #if canImport(Darwin)
                var actions: posix_spawn_file_actions_t? = nil
                var attributes: posix_spawnattr_t? = nil
            #else
                var actions = posix_spawn_file_actions_t()
                var attributes = posix_spawnattr_t()
            #endif
            posix_spawn_file_actions_init(&actions)
            posix_spawnattr_init(&attributes)
            defer {
                posix_spawn_file_actions_destroy(&actions)
                posix_spawnattr_destroy(&attributes)
            }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            // Own process group; default dispositions for signals exp may ignore or handle; no
            // blocked signals.
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for signal in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signal) }
            var noMask = sigset_t()
            sigemptyset(&noMask)
            posix_spawnattr_setsigdefault(&attributes, &defaults)
            posix_spawnattr_setsigmask(&attributes, &noMask)
            posix_spawnattr_setpgroup(&attributes, 0)
            posix_spawnattr_setflags(
                &attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer {
                argv.forEach { free($0) }
                envp.forEach { free($0) }
            }
            var pid: pid_t = 0
            let status = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
            close(fds[1])
            guard status == 0 else {
                close(fds[0])
                return nil
            }
            return Subprocess(pid: pid, output: fds[0])
        }

        /// Reads stdout to its end and reaps the process, killing its process group when
        /// `deadline` passes first. Returns nil when it was killed; `status` is the exit status,
        /// nil when it ended by a signal or its status was taken by someone else.
        func finish(deadline: ContinuousClock.Instant) -> (status: Int32?, output: [UInt8])? {
            defer { close(output) }
            var collected: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            var timedOut = false
            reading: while true {
                let remaining = milliseconds(until: deadline)
                if remaining <= 0 {
                    timedOut = true
                    break
                }
                var descriptor = pollfd(fd: output, events: Int16(POLLIN), revents: 0)
                let ready = poll(&descriptor, 1, remaining)
                if ready < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if ready == 0 { continue }
                let count = chunk.withUnsafeMutableBytes { read(output, $0.baseAddress, $0.count) }
                switch count {
                case 0: break reading
                case ..<0: if errno != EINTR && errno != EAGAIN { break reading }
                default: collected.append(contentsOf: chunk[0..<count])
                }
            }
            // Stdout is closed; wait for the exit, still within the deadline.
            while !timedOut {
                var status: Int32 = 0
                let reaped = waitpid(pid, &status, WNOHANG)
                if reaped == pid {
                    // WIFEXITED / WEXITSTATUS, which Swift does not import.
                    return (status & 0x7f == 0 ? (status >> 8) & 0xff : nil, collected)
                }
                if reaped < 0 && errno != EINTR { return (nil, collected) }
                if milliseconds(until: deadline) <= 0 { timedOut = true } else { usleep(2000) }
            }
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return nil
        }

        private func milliseconds(until deadline: ContinuousClock.Instant) -> Int32 {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { return 0 }
            let (seconds, attoseconds) = left.components
            return Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        }
    }
}
