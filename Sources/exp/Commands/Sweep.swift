import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `exp sweep`: queue one run per point of a param grid (or random sample) and run them.
struct SweepCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run a command over a grid (or random sample) of params, all on one snapshot.",
        discussion: """
            Takes one snapshot of the working tree, plans one run per point (the grid of all \
            -p values, or --random N points drawn with --seed), stores the plans in the queue, \
            and runs them -j at a time, each in its own worktree of that snapshot: you can \
            keep editing while the sweep goes. {KEY} in the command is replaced by each run's \
            value; each run records its values as params and belongs to the sweep (exp list \
            --where 'sweep = NAME'). Runs are named NAME-1, NAME-2, …

            A SPEC is a list (0.1,0.01), range(a,b[,step]) (b left out), log(a,b,n) (n values, \
            log-spaced), or for --random: uniform(a,b), loguniform(a,b), choice(a,b,c).

            --gpus 0,1,2,3 or --gpus auto (from nvidia-smi) gives each run its own device(s) \
            through CUDA_VISIBLE_DEVICES; devices whose memory is mostly used are skipped.

            In the foreground a board shows the runs; Ctrl-C once stops starting new ones and \
            waits, twice interrupts the running ones; the rest stay queued (exp queue start). \
            --detach runs the queue in the background instead.

            Examples:
              exp sweep -p lr=0.1,0.01,0.001 -p seed=range(1,3) -j 2 -- python train.py --lr {lr} --seed {seed}
              exp sweep --random 20 --seed 1 -p lr=loguniform(1e-5,1e-1) -- python train.py --lr {lr}
              exp sweep --gpus auto -p lr=log(1e-4,1e-1,4) --detach -- python train.py --lr {lr}
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(name: .customShort("p"), help: ArgumentHelp("A param and its values (repeatable).", valueName: "KEY=SPEC"))
    var param: [String] = []

    @Option(name: .customShort("j"), help: ArgumentHelp("Runs at once.", valueName: "N"))
    var jobs: Int?

    @Option(help: ArgumentHelp("GPUs to share: a list such as 0,1,2,3, or auto.", valueName: "LIST"))
    var gpus: String?

    @Option(name: .customLong("gpus-per-run"), help: ArgumentHelp("GPUs each run gets.", valueName: "K"))
    var gpusPerRun = 1

    @Option(help: ArgumentHelp("Sample N random points instead of the grid.", valueName: "N"))
    var random: Int?

    @Option(help: ArgumentHelp("The seed of --random (the same seed, the same points).", valueName: "S"))
    var seed: UInt64?

    @Option(help: ArgumentHelp("The sweep's name, and its runs' prefix.", valueName: "PREFIX"))
    var name: String?

    @Option(
        name: .customLong("max-failures"), help: ArgumentHelp("Stop starting runs after F failures.", valueName: "F"))
    var maxFailures: Int?

    @Flag(help: "Run the queue in the background, surviving the terminal.")
    var detach = false

    @Flag(help: "Only queue the runs; `exp queue start` runs them.")
    var queue = false

    @Argument(
        parsing: .captureForPassthrough,
        help: ArgumentHelp("The command, after --, with {KEY} placeholders.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        if seed != nil && random == nil { throw ValidationError("--seed goes with --random N") }
        if queue && detach { throw ValidationError("--queue and --detach exclude each other") }
        if let jobs, jobs < 1 { throw ValidationError("-j must be at least 1") }
        if gpusPerRun < 1 { throw ValidationError("--gpus-per-run must be at least 1") }
        if let maxFailures, maxFailures < 1 { throw ValidationError("--max-failures must be at least 1") }
        guard let first = command.first, first != "--", first.hasPrefix("-") else { return }
        if first == "-h" || first == "--help" { throw CleanExit.helpRequest(self) }
        throw ValidationError(
            "unknown option '\(first)' for exp sweep; options go before the command, and the command after --: "
                + "exp sweep -p lr=0.1,0.01 -- python train.py --lr {lr}")
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        var argv = command
        if argv.first == "--" { argv.removeFirst() }
        let workspace = try Workspace(context: context)
        var request = SweepRequest(argv: argv, params: param)
        request.randomCount = random
        request.seed = seed
        request.name = name
        request.concurrency = jobs
        request.devices = try gpus.map(DeviceChoice.init(parsing:))
        request.devicesPerRun = gpusPerRun
        request.maxFailures = maxFailures
        try workspace.recoverLostRuns()
        let queued = try workspace.queueSweep(request)
        let info = queued.info
        var line = "exp: sweep \(info.name) · \(queued.plans.count) runs · snapshot \(queued.snapshot.commit.short())"
        if let seed = info.seed { line += " · seed \(seed)" }
        terminal.note(terminal.paintNote(line, "1"))
        if queue {
            terminal.note("hint: `exp queue start -j N` runs them")
            return
        }
        if detach {
            var worker = QueueCommand.workerArguments(sweeps: [info.name], jobs: jobs, maxFailures: maxFailures)
            worker.insert(QueueCommand.executable, at: 0)
            let started = try workspace.startDetachedWorker(worker)
            terminal.note("exp: queue worker \(started.pid) runs it in the background (log: \(started.log))")
            terminal.note("hint: `exp queue` shows how it goes; `exp queue stop` stops it")
            return
        }
        let board = try QueueCommand.serve(
            workspace,
            QueueWorker.Options(
                concurrency: jobs, maxFailures: maxFailures, sweeps: [info.name],
                runProcess: QueueCommand.runProcess), terminal)
        if board.failed > 0 || board.queued > 0 || !board.running.isEmpty { throw ExitCode(1) }
    }
}
