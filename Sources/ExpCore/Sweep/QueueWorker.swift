public import ExpGit
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Why a queued run's process did not start it, so its worker tries it (or another) later.
public struct QueuedRunDeferred: Error, Sendable {
    public enum Cause: Sendable { case claimedElsewhere, noFreeDevice, alreadyRan }
    public var cause: Cause
    /// The exit status a run process gives when it deferred its run.
    public static let exitStatus: Int32 = 75
}

extension Workspace {
    /// Starts one queued run in this process and returns when it is sealed: claims it (a claim
    /// file that only one process can make per attempt, taken over only when its owner is
    /// gone and no run was made), leases `devicesPerRun` free devices of `devices` (given to the
    /// command as `CUDA_VISIBLE_DEVICES`), and runs the plan in a worktree of its snapshot.
    /// Throws `QueuedRunDeferred` when another process holds it, it already ran, or no device
    /// is free.
    public func startQueuedRun(
        sweep: String, id: RunID, devices: [String], devicesPerRun: Int, terminal: RunTerminal
    ) throws -> RunFinished {
        let queue = RunQueue(self)
        let store = RunStore(workspace: self)
        guard let data = FileManager.default.contents(atPath: queue.planPath(sweep, id)) else {
            throw ExpError(.notFound, "no queued run \(id.rawValue) in sweep \(sweep)")
        }
        var plan = try RunPlan.decode([UInt8](data))
        guard let claim = try queue.claim(sweep, id) else { throw QueuedRunDeferred(cause: .claimedElsewhere) }
        // Checked once the claim is ours: a run that exists was started by an earlier claim.
        if (try? repository.resolve(store.referenceName(id))) != nil {
            throw QueuedRunDeferred(cause: .alreadyRan)
        }
        var leases: DeviceLeases?
        if !devices.isEmpty {
            leases = try DeviceLeases.take(devicesPerRun, of: devices, folder: queue.devicesFolder)
            guard leases != nil else {
                unlink(claim)
                throw QueuedRunDeferred(cause: .noFreeDevice)
            }
        }
        defer { leases?.release() }
        if let leases { plan.environment["CUDA_VISIBLE_DEVICES"] = leases.devices.joined(separator: ",") }
        try recoverLostRuns()
        return try run(plan, terminal: terminal, onStart: { _ in })
    }
}

/// Starting a process of exp's own (a run's process, a detached worker) with its output in a log.
public enum QueueProcess {
    /// Starts `argv` (an absolute program path first) with stdin on `/dev/null` and stdout and
    /// stderr appended to `logPath`, default signal dispositions and no blocked signals, in its
    /// own process group, or with `newSession` in a session of its own (it survives the
    /// terminal). Returns the pid, or throws when it cannot start.
    public static func spawn(
        _ argv: [String], environment: [String: String], logPath: String, newSession: Bool = false
    ) throws -> Int32 {
        guard let program = argv.first else { throw ExpError(.internal, "no program to start") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else: a descriptor exp inherited without close-on-exec (the pipe of whoever
        // started exp) would otherwise stay open as long as a background worker lives.
        _ = GNU.addCloseFrom?(&actions, 3)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTOU] {
            sigaddset(&defaults, signal)
        }
        var noMask = sigset_t()
        sigemptyset(&noMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &noMask)
        var flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK
        if newSession {
            flags |= 0x80  // glibc's POSIX_SPAWN_SETSID
        } else {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        let arguments = argv.map { strdup($0) } + [nil]
        let variables = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            arguments.forEach { free($0) }
            variables.forEach { free($0) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, program, &actions, &attributes, arguments, variables)
        guard status == 0 else {
            throw ExpError(.io, "could not start \(program): \(String(cString: strerror(status)))")
        }
        return pid
    }
}

/// What a worker asks of the process that drives it, between two looks at the queue.
public enum QueueControl: Sendable {
    case proceed
    /// Start no more runs; wait for the running ones (a first Ctrl-C).
    case stopStarting
    /// Also interrupt the running ones (a second Ctrl-C).
    case interrupt
}

/// The state of a worker's queue, for a live board.
public struct QueueBoard: Sendable {
    /// A run going now.
    public struct Running: Sendable {
        public var name: String
        public var id: RunID
        public var startedAt: Date
        /// The highest step any metric reached.
        public var step: Double?
        /// The metric a person watches: one named like a loss (validation first), else the
        /// first by name; with its last value.
        public var metric: (key: String, value: Double)?
        /// The devices it has (`CUDA_VISIBLE_DEVICES`).
        public var devices: String?
    }

    public var queued = 0
    public var running: [Running] = []
    public var succeeded = 0
    /// Failed, lost, interrupted, or could not start.
    public var failed = 0
    /// When the queue should be done, from the durations of the runs that ended so far.
    public var estimatedFinish: Date?
    /// True once no more runs are started (Ctrl-C, too many failures).
    public var stopping = false
    /// Things to tell (devices skipped, runs that could not start).
    public var notes: [String] = []
}

/// Runs the queue's planned runs, `concurrency` at a time, each in a process of its own (so a
/// run goes on, and is sealed as usual, whatever happens to the worker), until none is left or
/// it is told to stop. Several workers may serve one queue: each planned run is claimed by the
/// process that runs it.
public final class QueueWorker {
    /// What the worker serves and how.
    public struct Options: Sendable {
        /// Runs at once; nil: the sweep's own setting, else one per set of devices, else one.
        public var concurrency: Int?
        /// Stop starting runs once this many failed; nil: never.
        public var maxFailures: Int?
        /// Only these sweeps; nil: all of the queue.
        public var sweeps: [String]?
        /// The devices to share, instead of each sweep's own.
        public var devices: DeviceChoice?
        /// Devices per run, instead of each sweep's own.
        public var devicesPerRun: Int?
        /// The command line of the process that runs one queued run: the caller's (the core
        /// knows no commands). Given the sweep, the run id, the candidate devices and how many
        /// it takes.
        public var runProcess: @Sendable (String, RunID, [String], Int) -> [String]

        public init(
            concurrency: Int?, maxFailures: Int? = nil, sweeps: [String]? = nil, devices: DeviceChoice? = nil,
            devicesPerRun: Int? = nil, runProcess: @escaping @Sendable (String, RunID, [String], Int) -> [String]
        ) {
            self.concurrency = concurrency
            self.maxFailures = maxFailures
            self.sweeps = sweeps
            self.devices = devices
            self.devicesPerRun = devicesPerRun
            self.runProcess = runProcess
        }
    }

    private struct Child {
        var pid: Int32
        var sweep: String
        var id: RunID
        var name: String
        var startedAt: Date
        /// When it started, on the monotonic clock (for the estimate, whatever the context's clock says).
        var began: ContinuousClock.Instant
    }

    private let workspace: Workspace
    private let options: Options
    private let queue: RunQueue
    private var children: [Child] = []
    private var durations: [TimeInterval] = []
    private var failures = 0
    /// Runs whose process deferred them, and until when they are left alone.
    private var deferred: [RunID: ContinuousClock.Instant] = [:]
    private var devicesBySweep: [String: (devices: [String], perRun: Int)] = [:]
    private var notes: [String] = []
    /// How often each run's process ended without making its run.
    private var startAttempts: [RunID: Int] = [:]
    /// Runs at once, once decided.
    private var concurrency = 1

    public init(workspace: Workspace, options: Options) {
        self.workspace = workspace
        self.options = options
        queue = RunQueue(workspace)
    }

    /// Serves the queue until nothing is left to start and every run it started ended, or
    /// until stopped. `control` is asked a few times a second; `onBoard` gets the board as
    /// often. Returns the last board.
    @discardableResult
    public func run(control: () -> QueueControl, onBoard: (QueueBoard) -> Void) throws -> QueueBoard {
        concurrency = try options.concurrency ?? defaultConcurrency()
        let registration = try register()
        defer { unlink(registration) }
        var stopping = false
        var interrupted = false
        var board = QueueBoard()
        while true {
            switch control() {
            case .proceed: break
            case .stopStarting: stopping = true
            case .interrupt:
                stopping = true
                if !interrupted {
                    interrupted = true
                    for child in children { kill(child.pid, SIGINT) }
                }
            }
            reapChildren()
            if let limit = options.maxFailures, failures >= limit { stopping = true }
            let statuses = try workspace.queueStatus(sweeps: options.sweeps)
            let startable = try !stopping && startRuns(statuses)
            board = self.board(try workspace.queueStatus(sweeps: options.sweeps), stopping: stopping)
            onBoard(board)
            if children.isEmpty && !startable { return board }
            usleep(200_000)
        }
    }

    /// The sweeps' own setting, else as many runs as their devices allow, else one.
    private func defaultConcurrency() throws -> Int {
        var most = 1
        for sweep in try workspace.queueStatus(sweeps: options.sweeps)
        where sweep.runs.contains(where: { $0.state == .queued }) {
            if let own = sweep.info.concurrency {
                most = max(most, own)
            } else if options.devices != nil || sweep.info.devices != nil {
                let devices = try devices(for: sweep.info)
                most = max(most, devices.devices.count / max(1, devices.perRun))
            }
        }
        return most
    }

    private func register() throws -> String {
        try RunQueue.makeFolder(queue.workersFolder)
        let info = QueueWorkerInfo(
            pid: getpid(), concurrency: concurrency, startedAt: workspace.context.now(),
            sweeps: options.sweeps, owner: .current)
        let path = queue.workersFolder + "/\(getpid()).json"
        try FileReplacement.write(try RunJSON.encoder().encode(info), to: path, what: "the queue worker file")
        return path
    }

    private func devices(for sweep: SweepInfo) throws -> (devices: [String], perRun: Int) {
        if let known = devicesBySweep[sweep.name] { return known }
        let perRun = options.devicesPerRun ?? sweep.devicesPerRun
        var resolved: (devices: [String], perRun: Int) = ([], perRun)
        if let choice = options.devices ?? sweep.devices {
            let usable = try Devices.usable(choice, environment: workspace.context.environment)
            notes += usable.notes
            resolved.devices = usable.devices
            if usable.devices.count < perRun {
                notes.append("sweep \(sweep.name): \(perRun) devices per run, but only \(usable.devices.count) usable")
            }
        }
        devicesBySweep[sweep.name] = resolved
        return resolved
    }

    /// Starts queued runs while slots are free; returns whether any queued run is left that
    /// this worker could start (later: once a slot or a device is free).
    private func startRuns(_ statuses: [SweepStatus]) throws -> Bool {
        var startable = false
        let now = workspace.context.now()
        let instant = ContinuousClock.now
        deferred = deferred.filter { $0.value > instant }
        let mine = Set(children.map(\.id))
        for sweep in statuses {
            for run in sweep.runs where run.state == .queued && !mine.contains(run.plan.id) {
                let devices = try devices(for: sweep.info)
                let usesDevices = sweep.info.devices != nil || options.devices != nil
                // Too few usable devices for one run: nothing to wait for.
                if usesDevices && devices.devices.count < devices.perRun { continue }
                startable = true
                guard children.count < concurrency else { return true }
                guard deferred[run.plan.id] == nil else { continue }
                if usesDevices {
                    // Every device taken by runs of ours: wait until one ends.
                    let inUse = children.filter { $0.sweep == sweep.info.name }.count * devices.perRun
                    guard inUse + devices.perRun <= devices.devices.count else { continue }
                }
                let argv = options.runProcess(sweep.info.name, run.plan.id, devices.devices, devices.perRun)
                var environment = workspace.context.environment
                // Each run's process draws its own random numbers (its worktree's name).
                environment["EXP_SEED"] = nil
                let pid = try QueueProcess.spawn(argv, environment: environment, logPath: run.logPath)
                children.append(
                    Child(
                        pid: pid, sweep: sweep.info.name, id: run.plan.id, name: run.plan.name, startedAt: now,
                        began: instant))
            }
        }
        return startable
    }

    private func reapChildren() {
        let store = RunStore(workspace: workspace)
        children.removeAll { child in
            var raw: Int32 = 0
            let result = waitpid(child.pid, &raw, WNOHANG)
            guard result == child.pid || (result < 0 && errno == ECHILD) else { return false }
            let exitStatus: Int32? = raw & 0x7f == 0 ? (raw >> 8) & 0xff : nil
            let now = ContinuousClock.now
            guard let commit = try? workspace.repository.resolve(store.referenceName(child.id)) else {
                startAttempts[child.id, default: 0] += 1
                if exitStatus == QueuedRunDeferred.exitStatus || startAttempts[child.id, default: 0] < 3 {
                    // Deferred, or a start that failed before its run existed (two processes
                    // making worktrees or refs at once can collide): tried again shortly.
                    deferred[child.id] = now + .seconds(1)
                } else {
                    // The process ended without making its run: keep why, for `exp queue`.
                    let log = queue.logPath(child.sweep, child.id)
                    let tail = (FileManager.default.contents(atPath: log) ?? Data()).suffix(2000)
                    let why = String(decoding: tail, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    let text = why.isEmpty ? "its process ended (status \(exitStatus.map(String.init) ?? "?"))" : why
                    try? FileReplacement.write(
                        Array(text.utf8), to: queue.failedPath(child.sweep, child.id), what: "a queued run's failure")
                    notes.append("\(child.name) could not start: \(text.split(separator: "\n").last ?? "")")
                    failures += 1
                }
                return true
            }
            var status = (try? store.record(at: commit))?.status
            if status == .running {
                // Its process died: seal the run lost now, by the usual rule.
                _ = try? workspace.recoverLostRuns()
                status = (try? workspace.repository.resolve(store.referenceName(child.id))).flatMap {
                    try? store.record(at: $0).status
                }
            }
            let (seconds, attoseconds) = (now - child.began).components
            durations.append(Double(seconds) + Double(attoseconds) * 1e-18)
            if status == .failed || status == .lost { failures += 1 }
            return true
        }
    }

    private func board(_ statuses: [SweepStatus], stopping: Bool) -> QueueBoard {
        var board = QueueBoard()
        board.stopping = stopping
        board.notes = notes
        notes = []
        let store = RunStore(workspace: workspace)
        for sweep in statuses {
            for run in sweep.runs {
                switch run.state {
                case .queued: board.queued += 1
                case .starting, .run(.running):
                    let live = store.liveFolder(run.plan.id).readRecord()
                    let metrics = live?.metrics ?? [:]
                    let key =
                        metrics.keys.sorted().first { $0.contains("val") && $0.contains("loss") }
                        ?? metrics.keys.sorted().first { $0.contains("loss") } ?? metrics.keys.min()
                    board.running.append(
                        QueueBoard.Running(
                            name: run.plan.name, id: run.plan.id, startedAt: live?.startedAt ?? workspace.context.now(),
                            step: metrics.values.compactMap(\.lastStep).max(),
                            metric: key.flatMap { key in metrics[key].map { (key, $0.last) } },
                            devices: live?.variables["CUDA_VISIBLE_DEVICES"]))
                case .run(.succeeded): board.succeeded += 1
                case .run, .notStarted: board.failed += 1
                }
            }
        }
        if !durations.isEmpty {
            let average = durations.reduce(0, +) / Double(durations.count)
            let left = Double(board.queued + board.running.count) / Double(max(1, concurrency))
            board.estimatedFinish = workspace.context.now().addingTimeInterval(average * left.rounded(.up))
        }
        return board
    }
}

extension Workspace {
    /// Starts a queue worker in the background: `argv` (the caller's command line of a worker)
    /// in a session of its own, so it survives the terminal, with its output in
    /// `<queue>/workers/worker-<time>.log`. Returns its pid and log.
    public func startDetachedWorker(_ argv: [String]) throws -> (pid: Int32, log: String) {
        let queue = RunQueue(self)
        try RunQueue.makeFolder(queue.workersFolder)
        let stamp = RunID.generate(at: context.now(), random: context.random).rawValue
        let log = queue.workersFolder + "/worker-\(stamp).log"
        var environment = context.environment
        // The runs' processes must not share a replayed sequence of random numbers.
        environment["EXP_SEED"] = nil
        let pid = try QueueProcess.spawn(argv, environment: environment, logPath: log, newSession: true)
        return (pid, log)
    }
}
