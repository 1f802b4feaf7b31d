import Foundation

/// Something that watches a run from its start to its seal and adds what it saw to the sealed
/// record: output scalars, metric files, machine facts, artifacts.
///
/// `LiveRun` calls, in order: `begin` once the run's ref and live folder exist (before the
/// command starts), `output` with every chunk of the command's output, `finish` when the
/// command has ended (or the run is recovered after its exp died), `contribute` to fill in the
/// record (before the outcome is kept in the live folder) and `addFiles` to add files to the
/// record commit. Observers are finished in the order `LiveRun` holds them.
protocol RunObserver: AnyObject {
    /// Starts watching.
    func begin()
    /// A chunk of the command's output, on the thread that copies it: must be quick.
    func output(_ chunk: UnsafeRawBufferPointer)
    /// Stops watching and reads its sources a last time.
    func finish()
    /// Fills in what it saw in the record.
    func contribute(to record: inout RunRecord)
    /// Adds files to the record commit (and may change the record with them).
    func addFiles(to files: inout [String: RunStore.BlobSource], record: inout RunRecord) throws
    /// Things skipped while observing (bad event-file records, unreadable params files).
    var warnings: [String] { get }
}

extension RunObserver {
    func begin() {}
    func output(_ chunk: UnsafeRawBufferPointer) {}
    func finish() {}
    func contribute(to record: inout RunRecord) {}
    func addFiles(to files: inout [String: RunStore.BlobSource], record: inout RunRecord) throws {}
    var warnings: [String] { [] }
}

/// The run's metric points: while it runs, the metric files watcher (`EXP_METRICS_FILE`,
/// Lightning CSV, TensorBoard, Hydra and hparams params) fed with the output scalars; for a
/// recovered run, the points the watcher saved in the live folder.
final class MetricsObserver: RunObserver {
    private let folder: LiveFolder
    /// The watcher of a running command; nil for a recovered run.
    let watcher: MetricsWatcher?
    /// Output scalars not handed to the watcher yet when the command ended.
    var lastOutput = MetricPoints()
    private var result: MetricsWatcher.Result?

    /// The params the run was given on its command line (they rank above params files).
    private let commandLineParams: [String: ParamValue]?

    /// Watches a running command (`watcher` publishes live summaries itself).
    init(folder: LiveFolder, watcher: MetricsWatcher, commandLineParams: [String: ParamValue]) {
        self.folder = folder
        self.watcher = watcher
        self.commandLineParams = commandLineParams
    }

    /// The points a dead run's exp saved, each with the time it was read.
    init(recovering folder: LiveFolder) {
        self.folder = folder
        watcher = nil
        commandLineParams = nil
    }

    func begin() { watcher?.start() }

    func finish() {
        guard result == nil else { return }
        if let watcher {
            result = watcher.finish(lastOutput: lastOutput)
        } else {
            let saved = folder.savedPoints()
            result = MetricsWatcher.Result(
                points: MetricPoints(saved.points), skippedMetricLines: saved.skippedLines, paramFiles: [:],
                warnings: [])
        }
    }

    func contribute(to record: inout RunRecord) {
        guard let result else { return }
        record.metrics = MetricSummary.summarize(result.points)
        record.skippedMetricLines = result.skippedMetricLines
        // A recovered run keeps the params of its live record.
        guard let commandLineParams else { return }
        // Params of files the command wrote rank below the files it was given.
        var paramFiles = record.paramFiles ?? [:]
        paramFiles.merge(result.paramFiles.mapValues { CredentialMask.masking(params: $0) }) { given, _ in given }
        record.paramFiles = paramFiles.isEmpty ? nil : paramFiles
        record.params = Params.merging(files: paramFiles, into: commandLineParams)
    }

    func addFiles(to files: inout [String: RunStore.BlobSource], record: inout RunRecord) throws {
        guard let result else { return }
        let sealed = folder.file(LiveFolder.sealedMetricsFile)
        try MetricsFile.write(result.points, toFile: sealed)
        files[LiveFolder.metricsFile] = .file(sealed)
    }

    var warnings: [String] { result?.warnings ?? [] }
}

/// Metrics printed by the command (`loss: 0.42`), read from its output as it streams and handed
/// to the metrics observer: by the output thread at most once a second (or at once when a full
/// batch waits), and by the watcher's thread at each tick (so scalars printed just before the
/// command goes quiet are saved too). Hand-overs happen under one lock, in the order parsed.
final class OutputScalarsObserver: RunObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var parser: OutputScalarParser
    private let sink: MetricsObserver

    init(parser: OutputScalarParser, sink: MetricsObserver) {
        self.parser = parser
        self.sink = sink
        sink.watcher?.pullOutput = { [weak self] in self?.handOver() }
    }

    func output(_ chunk: UnsafeRawBufferPointer) {
        lock.lock()
        defer { lock.unlock() }
        parser.consume(chunk)
        sink.watcher?.collect(pending: parser.pending) { parser.takeNew() }
    }

    /// Hands what was parsed so far to the watcher.
    private func handOver() {
        lock.lock()
        defer { lock.unlock() }
        sink.watcher?.hand(parser.takeNew())
    }

    func finish() {
        lock.lock()
        defer { lock.unlock() }
        // What `finish` returns stays in the parser: take it out, so a pull cannot hand it over again.
        _ = parser.finish()
        sink.lastOutput = parser.takeNew()
    }
}

/// Machine facts and installed packages, gathered beside the command, never before it.
final class MachineObserver: RunObserver {
    private let collector: MachineCollector
    private var gathered: (machine: MachineInfo?, requirements: String?) = (nil, nil)

    init(argv: [String], context: ExpContext) {
        collector = MachineCollector(argv: argv, context: context)
    }

    func begin() { collector.start() }

    func finish() { gathered = collector.finish() }

    func contribute(to record: inout RunRecord) { record.environment = gathered.machine }

    func addFiles(to files: inout [String: RunStore.BlobSource], record: inout RunRecord) throws {
        guard let requirements = gathered.requirements else { return }
        // `pip freeze` lists `pkg @ git+https://user:token@host/…` for packages installed from a URL.
        files[LiveFolder.requirementsFile] = .bytes(Array(CredentialMask.masking(requirements).utf8))
    }
}

/// The files the command created or changed that the artifact rules match, stored and linked
/// when the run is sealed (from the scan kept in the live folder when the run started).
final class ArtifactsObserver: RunObserver {
    private let workspace: Workspace
    private let before: ArtifactScan?
    private let progress: (@Sendable (ArtifactProgress) -> Void)?

    init(workspace: Workspace, before: ArtifactScan?, progress: (@Sendable (ArtifactProgress) -> Void)?) {
        self.workspace = workspace
        self.before = before
        self.progress = progress
    }

    func addFiles(to files: inout [String: RunStore.BlobSource], record: inout RunRecord) throws {
        ArtifactCapture.link(workspace, before: before, record: &record, files: &files, progress: progress)
    }
}

/// Gathers machine facts and `pip freeze` on a background thread while the command runs.
final class MachineCollector: @unchecked Sendable {
    private let argv: [String]
    private let environment: [String: String]
    private let host: String
    private let user: String
    private let done = DispatchSemaphore(value: 0)
    private var machine: MachineInfo?
    private var requirements: String?

    init(argv: [String], context: ExpContext) {
        self.argv = argv
        environment = context.environment
        host = context.host
        user = context.user
    }

    func start() {
        // At the command's own priority: `nvidia-smi` and `pip freeze` are time-boxed, and on
        // a machine whose cores the command keeps busy a lower priority would run them out.
        let thread = Thread { [self] in
            machine = MachineInfo.collect(argv: argv, environment: environment, host: host, user: user)
            if let python = MachineInfo.pythonInterpreter(argv: argv, environment: environment) {
                requirements = MachineInfo.pipFreeze(python: python, environment: environment, timeout: 20)
            }
            done.signal()
        }
        thread.start()
    }

    /// Waits (at most 25 s) for what was gathered.
    func finish() -> (machine: MachineInfo?, requirements: String?) {
        guard done.wait(timeout: .now() + 25) == .success else { return (nil, nil) }
        return (machine, requirements)
    }
}
