import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `exp queue`: the planned runs of sweeps, and the workers that run them.
struct QueueCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "List and manage the queue of planned runs (sweeps).",
        discussion: """
            The queue keeps the plans of each sweep under .git/exp/queue/ until they run. \
            `exp queue` lists them with their state and the live workers; `exp queue start` \
            runs what is queued (-j at a time, --detach in the background); `exp queue stop` \
            asks the workers to start no more (--now also interrupts the running runs); \
            `exp queue rm` drops queued runs; `exp queue retry` queues failed ones again.
            """,
        subcommands: [List.self, Start.self, Stop.self, Remove.self, Retry.self, RunOne.self],
        defaultSubcommand: List.self
    )

    /// This exp's own executable, for the processes it starts (workers, runs).
    static var executable: String {
        let resolved = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        return FileManager.default.isExecutableFile(atPath: resolved) ? resolved : CommandLine.arguments[0]
    }

    /// The command line of the process that runs one queued run.
    @Sendable static func runProcess(sweep: String, id: RunID, devices: [String], perRun: Int) -> [String] {
        var argv = [executable, "queue", "run-one", sweep, id.rawValue]
        if !devices.isEmpty {
            argv += ["--devices", devices.joined(separator: ","), "--devices-per-run", String(perRun)]
        }
        return argv
    }

    /// The arguments of `exp queue start` for a background worker.
    static func workerArguments(
        sweeps: [String], jobs: Int?, maxFailures: Int?, gpus: String? = nil, gpusPerRun: Int? = nil
    ) -> [String] {
        var argv = ["queue", "start"] + sweeps
        if let jobs { argv += ["-j", String(jobs)] }
        if let maxFailures { argv += ["--max-failures", String(maxFailures)] }
        if let gpus { argv += ["--gpus", gpus] }
        if let gpusPerRun { argv += ["--gpus-per-run", String(gpusPerRun)] }
        return argv
    }

    /// Runs a worker in the foreground with a live board: the first Ctrl-C stops starting runs,
    /// the second interrupts the running ones. Returns the last board.
    static func serve(_ workspace: Workspace, _ options: QueueWorker.Options, _ terminal: Terminal) throws
        -> QueueBoard
    {
        let interrupts = InterruptCounter()
        let worker = QueueWorker(workspace: workspace, options: options)
        let live = isatty(STDOUT_FILENO) == 1
        var shown: [String] = []
        var lastDraw = Date.distantPast
        let board = try worker.run(
            control: {
                switch interrupts.count {
                case 0: .proceed
                case 1: .stopStarting
                default: .interrupt
                }
            },
            onBoard: { board in
                for note in board.notes { terminal.note("exp: \(note)") }
                let lines = render(board, interrupts: interrupts.count)
                if live {
                    guard lines != shown || Date().timeIntervalSince(lastDraw) > 1 else { return }
                    terminal.redraw(lines: lines, replacing: shown.count)
                    lastDraw = Date()
                } else if lines.first != shown.first {
                    terminal.print(lines[0])
                }
                shown = lines
            })
        interrupts.stop()
        if !live, let last = render(board, interrupts: 0).first, last != shown.first { terminal.print(last) }
        return board
    }

    /// The board as lines: the counts, then one line per running run.
    static func render(_ board: QueueBoard, interrupts: Int) -> [String] {
        var head =
            "queue: \(board.running.count) running · \(board.queued) queued · \(board.succeeded) succeeded · "
            + "\(board.failed) failed"
        if let finish = board.estimatedFinish, !board.stopping, board.queued + board.running.count > 0 {
            head += " · done in ~" + Format.duration(max(0, finish.timeIntervalSinceNow))
        }
        var lines = [head]
        if board.stopping {
            lines.append(
                interrupts >= 2
                    ? "interrupting the running runs; the rest stay queued"
                    : "starting no more runs; Ctrl-C again interrupts the running ones; the rest stay queued")
        }
        for run in board.running {
            var line = "  \(run.name)  \(run.id.short)"
            if let step = run.step { line += "  step \(Format.number(step))" }
            if let metric = run.metric { line += "  \(metric.key) \(Format.number(metric.value))" }
            if let devices = run.devices { line += "  GPU \(devices)" }
            lines.append(line)
        }
        return lines
    }
}

/// Counts SIGINTs (Ctrl-C) while a worker runs in the foreground, instead of dying of them.
final class InterruptCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var received = 0
    private let source: any DispatchSourceSignal

    init() {
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { [unowned self] in
            lock.lock()
            received += Int(source.data)
            lock.unlock()
        }
        source.resume()
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    func stop() {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }
}

extension QueueCommand {
    /// `exp queue` / `exp queue list`.
    struct List: ExpCommand {
        static let configuration = CommandConfiguration(
            commandName: "list", abstract: "List the queued sweeps, their runs' states and the live workers.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption

        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let workspace = try Workspace(context: context)
            try workspace.recoverLostRuns()
            let sweeps = try workspace.queueStatus()
            let workers = workspace.queueWorkers()
            if output.json {
                try terminal.printJSON(QueueJSON(sweeps: sweeps, workers: workers))
                return
            }
            if sweeps.isEmpty { terminal.note("exp: the queue is empty") }
            for sweep in sweeps {
                let counts = Dictionary(grouping: sweep.runs, by: { QueueJSON.word($0.state) }).mapValues(\.count)
                let summary = counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: " · ")
                terminal.print("sweep \(sweep.info.name) · \(sweep.runs.count) runs · \(summary)")
                for run in sweep.runs {
                    let params = run.plan.params.sorted { $0.key < $1.key }.map {
                        "\($0.key)=\(Format.param($0.value))"
                    }
                    terminal.print(
                        "  \(run.plan.name)  \(QueueJSON.word(run.state))  " + params.joined(separator: " "))
                }
            }
            for worker in workers {
                terminal.print(
                    "worker \(worker.pid) · \(worker.concurrency) at a time · since \(Format.date(worker.startedAt))")
            }
        }
    }

    /// `exp queue start`.
    struct Start: ExpCommand {
        static let configuration = CommandConfiguration(
            commandName: "start", abstract: "Run what is queued (all sweeps, or those named).",
            discussion: """
                Exits 0 once every run of the sweeps served succeeded; 1 while any is queued, \
                failed, lost or interrupted (`exp queue retry` plans those again, `exp queue rm` \
                drops them from the queue; their runs stay recorded).
                """)
        @OptionGroup var global: GlobalOptions

        @Option(name: .customShort("j"), help: ArgumentHelp("Runs at once.", valueName: "N"))
        var jobs: Int?

        @Option(help: ArgumentHelp("GPUs to share instead of each sweep's own: a list, or auto.", valueName: "LIST"))
        var gpus: String?

        @Option(name: .customLong("gpus-per-run"), help: ArgumentHelp("GPUs each run gets.", valueName: "K"))
        var gpusPerRun: Int?

        @Option(
            name: .customLong("max-failures"),
            help: ArgumentHelp("Stop starting runs after F failures.", valueName: "F"))
        var maxFailures: Int?

        @Flag(help: "Run the worker in the background, surviving the terminal.")
        var detach = false

        @Argument(help: ArgumentHelp("Sweeps to run (default: all).", valueName: "sweep"))
        var sweeps: [String] = []

        func validate() throws {
            if let jobs, jobs < 1 { throw ValidationError("-j must be at least 1") }
            if let gpusPerRun, gpusPerRun < 1 { throw ValidationError("--gpus-per-run must be at least 1") }
        }

        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let workspace = try Workspace(context: context)
            try workspace.recoverLostRuns()
            if !sweeps.isEmpty { _ = try workspace.queueStatus(sweeps: sweeps) }
            if detach {
                let argv =
                    [QueueCommand.executable]
                    + QueueCommand.workerArguments(
                        sweeps: sweeps, jobs: jobs, maxFailures: maxFailures, gpus: gpus, gpusPerRun: gpusPerRun)
                let started = try workspace.startDetachedWorker(argv)
                terminal.note("exp: queue worker \(started.pid) runs in the background (log: \(started.log))")
                return
            }
            let board = try QueueCommand.serve(
                workspace,
                QueueWorker.Options(
                    concurrency: jobs, maxFailures: maxFailures, sweeps: sweeps.isEmpty ? nil : sweeps,
                    devices: try gpus.map(DeviceChoice.init(parsing:)), devicesPerRun: gpusPerRun,
                    runProcess: QueueCommand.runProcess), terminal)
            if board.failed > 0 || board.queued > 0 { throw ExitCode(1) }
        }
    }

    /// `exp queue stop`.
    struct Stop: ExpCommand {
        static let configuration = CommandConfiguration(
            commandName: "stop", abstract: "Ask the queue's workers to start no more runs.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Also interrupt the running runs.")
        var now = false

        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let workers = try Workspace(context: context).stopQueueWorkers(interrupt: now)
            if workers.isEmpty { terminal.note("exp: no queue worker is running") }
            for worker in workers {
                terminal.note("exp: told worker \(worker.pid) to \(now ? "interrupt its runs" : "start no more runs")")
            }
        }
    }

    /// `exp queue rm`.
    struct Remove: ExpCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm", abstract: "Remove queued runs (of a sweep, or by name) that have not started.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("Sweeps or queued runs.", valueName: "name"))
        var names: [String]

        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let removed = try Workspace(context: context).removeQueued(names)
            terminal.note("exp: removed \(removed.count) queued run\(removed.count == 1 ? "" : "s")")
        }
    }

    /// `exp queue retry`.
    struct Retry: ExpCommand {
        static let configuration = CommandConfiguration(
            commandName: "retry", abstract: "Queue again the failed, lost or interrupted runs of a sweep.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: ArgumentHelp("Sweeps or runs.", valueName: "name"))
        var names: [String]

        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let workspace = try Workspace(context: context)
            try workspace.recoverLostRuns()
            let planned = try workspace.retryQueued(names)
            for plan in planned { terminal.note("exp: queued \(plan.name) again") }
            if planned.isEmpty { terminal.note("exp: nothing to retry") }
            terminal.note("hint: `exp queue start` runs them")
        }
    }

    /// `exp queue run-one`: the process of one queued run, started by a worker.
    struct RunOne: ExpCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-one", abstract: "Run one queued run (started by a queue worker).", shouldDisplay: false)
        @OptionGroup var global: GlobalOptions
        @Argument var sweep: String
        @Argument var id: String
        @Option var devices: String?
        @Option(name: .customLong("devices-per-run")) var devicesPerRun = 1

        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            guard let runID = RunID(id) else { throw ValidationError("bad run id '\(id)'") }
            let workspace = try Workspace(context: context)
            let null = open("/dev/null", O_RDWR | O_CLOEXEC)
            let finished: RunFinished
            do {
                finished = try workspace.startQueuedRun(
                    sweep: sweep, id: runID, devices: devices.map { $0.split(separator: ",").map(String.init) } ?? [],
                    devicesPerRun: devicesPerRun, terminal: RunTerminal(stdinFD: null, stdoutFD: null, stderrFD: null))
            } catch let deferred as QueuedRunDeferred {
                terminal.note("exp: run \(id) deferred (\(deferred.cause))")
                throw ExitCode(QueuedRunDeferred.exitStatus)
            }
            let record = finished.record
            terminal.note(
                "exp: run \(record.name) \(Format.status(record)) in \(Format.duration(record.durationSeconds))")
            RunCommand.reportUnsaved(finished, terminal)
            if finished.exitStatus != 0 { throw ExitCode(finished.exitStatus) }
        }
    }
}

/// `exp queue --json`.
struct QueueJSON: Encodable {
    struct Run: Encodable {
        var id: String
        var name: String
        var state: String
        var params: [String: ParamValue]
        var error: String?
    }
    struct Sweep: Encodable {
        var name: String
        var snapshot: String
        var runs: [Run]
    }
    struct Worker: Encodable {
        var pid: Int32
        var concurrency: Int
    }
    var sweeps: [Sweep]
    var workers: [Worker]

    init(sweeps: [SweepStatus], workers: [QueueWorkerInfo]) {
        self.sweeps = sweeps.map { sweep in
            Sweep(
                name: sweep.info.name, snapshot: sweep.info.snapshot.commit.hex,
                runs: sweep.runs.map { run in
                    var error: String?
                    if case .notStarted(let why) = run.state { error = why }
                    return Run(
                        id: run.plan.id.rawValue, name: run.plan.name, state: Self.word(run.state),
                        params: run.plan.params, error: error)
                })
        }
        self.workers = workers.map { Worker(pid: $0.pid, concurrency: $0.concurrency) }
    }

    static func word(_ state: QueuedRunState) -> String {
        switch state {
        case .queued: "queued"
        case .starting: "starting"
        case .run(let status): status.rawValue
        case .notStarted: "not-started"
        }
    }
}
