import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `exp run` was asked to do.
public struct RunRequest: Sendable {
    /// The command and its arguments.
    public var argv: [String]
    /// `--name`; a generated name (`brave-otter`) when nil.
    public var name: String?
    /// `-m`: free text kept in the record.
    public var message: String?
    /// `-p key=value` assignments, in order; they win over params guessed from `argv`.
    public var params: [String]
    /// Give the command a pseudo-terminal (when exp's stdout is one).
    public var usePseudoTerminal: Bool
    /// exp's own standard streams.
    public var stdinFD: Int32 = 0
    public var stdoutFD: Int32 = 1
    public var stderrFD: Int32 = 2
    /// The run this one reproduces (`exp rerun`).
    public var reproduces: RunID?
    /// `--artifact` globs: relative to the command's folder (`/` anchors them at the root).
    public var artifactPatterns: [String] = []
    /// False for `--no-artifacts`: link no files to the run.
    public var linkArtifacts = true
    /// Told how storing large artifacts goes when the run ends (for a progress bar).
    public var artifactProgress: (@Sendable (ArtifactProgress) -> Void)?
    /// `--params-file` paths (YAML, JSON, TOML): params the command line overrides.
    public var paramsFiles: [String] = []

    public init(
        argv: [String], name: String? = nil, message: String? = nil, params: [String] = [], usePseudoTerminal: Bool
    ) {
        self.argv = argv
        self.name = name
        self.message = message
        self.params = params
        self.usePseudoTerminal = usePseudoTerminal
    }
}

/// What exp tells the user when a run starts.
public struct RunStarted: Sendable {
    public var record: RunRecord
    public var snapshot: Snapshot
    /// Runs of this machine found dead and sealed `lost` before starting.
    public var sealedLost: [RunRecord]
}

/// A run whose command ended but whose record could not be written to git (disk full,
/// objects folder read-only): its live folder keeps the output, metrics and, when that write
/// worked, the outcome, and the next exp command seals it from there.
public struct UnsavedRun: Sendable {
    /// What failed.
    public var error: ExpError
    /// The live folder that keeps the run's files.
    public var liveDirectory: String
    /// Whether the outcome (status, exit code, end time) was written into the live run.json;
    /// when not, the run will be sealed `lost`.
    public var outcomeKept: Bool
}

/// How a run ended.
public struct RunFinished: Sendable {
    public var record: RunRecord
    public var outcome: LaunchOutcome
    /// Things skipped while reading metrics and params (bad event-file records, unreadable
    /// params files).
    public var warnings: [String] = []
    /// Set when the run could not be sealed into git: what failed and where its files are.
    public var unsaved: UnsavedRun? = nil
    /// The status `exp run` exits with: the command's own (128+N for signal N; 127/126 when
    /// it could not start).
    public var exitStatus: Int32 { outcome.shellStatus }
}

extension Workspace {
    /// Runs a command as a recorded run: snapshot the tree, create `refs/exp/runs/<id>`
    /// (status `running`), run the command with live files under `<common dir>/exp/runs/<id>/`,
    /// then seal the record (status, output, metrics, machine) onto the same ref.
    ///
    /// `onStart` is called once the run exists and just before the command starts.
    public func run(_ request: RunRequest, onStart: (RunStarted) -> Void) throws -> RunFinished {
        guard let program = request.argv.first, !program.isEmpty else {
            throw ExpError("no command to run", hint: "put the command after --: exp run -- python train.py")
        }
        let store = RunStore(workspace: self)
        let sealedLost = try store.sealLostRuns()
        var params = Params.fromCommandLine(request.argv)
        for assignment in request.params {
            let (key, value) = try Params.parseAssignment(assignment)
            params[key] = value
        }
        let root = resolvedRoot
        var paramFiles: [String: [String: ParamValue]] = [:]
        for path in request.paramsFiles {
            let absolute = path.hasPrefix("/") ? path : resolvedWorkingDirectory + "/" + path
            paramFiles[MetricFileFinder.relative(absolute, to: root)] = try ParamsFile.load(path: absolute)
        }
        // Credentials never enter the record (it travels with `git push`): the command runs
        // with its real arguments, the record keeps them masked.
        let commandLineParams = CredentialMask.masking(params: params)
        paramFiles = paramFiles.mapValues(CredentialMask.masking(params:))
        let artifactRules =
            request.linkArtifacts ? try ArtifactCapture.rules(self, cliPatterns: request.artifactPatterns) : nil
        let taken = try store.runNames()
        let name: String
        if let requested = request.name {
            try RunName.validate(requested)
            if taken.contains(requested) {
                throw ExpError(
                    "a run named '\(requested)' already exists",
                    hint: "choose another --name, or `exp rename` the old run")
            }
            name = requested
        } else {
            name = RunName.generate(avoiding: taken, random: context.random)
        }

        let startedAt = context.now()
        let id = try store.newRunID(at: startedAt)
        let snapshot = try takeSnapshot(message: "exp snapshot for run \(name)")
        let directory = store.liveDirectory(id)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ExpError("could not create \(directory): \(error.localizedDescription)")
        }
        let metricsPath = directory + "/metrics.jsonl"
        let outputPath = directory + "/output.log"
        try FileReplacement.write([], to: metricsPath, what: "the live metrics file")
        try FileReplacement.write([], to: outputPath, what: "the live output log")
        // What the artifact rules match before the command starts, to tell what it wrote.
        let artifactsBefore: ArtifactScan?
        do {
            artifactsBefore = try artifactRules.map { try ArtifactCapture.begin(self, rules: $0, directory: directory) }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }

        let extraNames = (try? config.all("exp.env")) ?? []
        var record = RunRecord(
            id: id, name: name, status: .running, message: request.message.map(CredentialMask.masking),
            exitCode: nil, signal: nil, error: nil, argv: CredentialMask.masking(argv: request.argv),
            cwd: relativeWorkingDirectory(), startedAt: startedAt, endedAt: nil,
            durationSeconds: nil, host: context.host, user: context.user,
            base: RunRecord.Base(commit: snapshot.parent, branch: snapshot.branch),
            snapshot: RunRecord.SnapshotSummary(snapshot), params: params, environment: nil,
            variables: MachineInfo.recordedEnvironment(context.environment, extraNames: extraNames), metrics: [:],
            skippedMetricLines: 0, links: RunRecord.Links(), reproduces: request.reproduces,
            supervisor: RunRecord.Supervisor(
                pid: getpid(), childPid: nil, startTicks: ProcessFacts.startTicks(of: getpid()),
                bootID: ProcessFacts.bootID, pidNamespace: ProcessFacts.pidNamespace, host: LocalMachine.hostName))
        record.paramFiles = paramFiles.isEmpty ? nil : paramFiles
        record.params = Params.merging(files: paramFiles, into: commandLineParams)
        try store.writeLive(record)
        // Signs of life for exp processes in other PID namespaces, until the run is sealed.
        let heartbeat = Heartbeat(liveDirectory: directory)
        heartbeat.start()
        defer { heartbeat.stop() }
        let running: ObjectID
        do {
            running = try store.create(record, files: ["metrics.jsonl": .bytes([]), "output.log": .bytes([])])
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }

        // Metrics printed by the command (`loss: 0.42`), unless exp.outputScalars is false.
        let readScalars = try translatingGitErrors { try config.bool("exp.outputScalars") } ?? true
        let patterns = try translatingGitErrors { try config.all("exp.outputPattern") }
        var scalars =
            readScalars
            ? try OutputScalarParser(
                extraPatterns: patterns, clock: { [context] in context.now().timeIntervalSince1970 }) : nil

        // Machine facts and installed packages are gathered beside the command, never before it.
        let collector = MachineCollector(argv: request.argv, context: context)
        collector.start()

        // Metrics from Lightning CSV and TensorBoard files, Hydra and hparams params, and live summaries.
        let live = LiveRecord(record, store: store)
        let watcher = MetricsWatcher(
            roots: [root, resolvedWorkingDirectory], repositoryRoot: root,
            since: MetricFileFinder.modificationTime(outputPath) ?? 0, liveDirectory: directory,
            metricsFile: metricsPath, publish: { summary in live.update { $0.metrics = summary } })
        watcher.start()

        onStart(RunStarted(record: record, snapshot: snapshot, sealedLost: sealedLost))

        var environment = context.environment
        environment["EXP_RUN_ID"] = id.rawValue
        environment["EXP_RUN_NAME"] = name
        environment["EXP_RUN_DIR"] = directory
        environment["EXP_METRICS_FILE"] = metricsPath
        environment["EXP_SNAPSHOT"] = snapshot.commit.hex
        var launch = LaunchRequest(
            argv: request.argv, environment: environment, workingDirectory: context.workingDirectory,
            usePseudoTerminal: request.usePseudoTerminal, stdinFD: request.stdinFD, stdoutFD: request.stdoutFD,
            stderrFD: request.stderrFD, outputLogPath: outputPath)
        launch.logLimit = Int((try? config.size("exp.maxLogSize")) ?? nil ?? RunStore.defaultMaxLogSize)
        let outcome = Launcher.run(
            launch, onStart: { pid in live.update { $0.supervisor?.childPid = pid } },
            onOutput: { chunk in
                scalars?.consume(chunk)
                watcher.collect(pending: scalars?.pending ?? 0) { scalars?.takeNew() ?? MetricPoints() }
            })

        // Seal.
        let endedAt = context.now()
        record.endedAt = endedAt
        record.durationSeconds = max(0, endedAt.timeIntervalSince(startedAt))
        record.exitCode = outcome.exitCode
        record.signal = outcome.signal
        record.error = outcome.startError
        record.status = Self.status(of: outcome)
        let watched = watcher.finish(lastOutput: scalars?.finish() ?? MetricPoints())
        let points = watched.points
        record.metrics = MetricSummary.summarize(points)
        record.skippedMetricLines = watched.skippedMetricLines
        paramFiles.merge(watched.paramFiles.mapValues(CredentialMask.masking(params:))) { given, _ in given }
        record.paramFiles = paramFiles.isEmpty ? nil : paramFiles
        record.params = Params.merging(files: paramFiles, into: commandLineParams)
        let gathered = collector.finish()
        record.environment = gathered.machine
        // The outcome goes into the live folder before anything is written to git: if sealing
        // fails (disk full, objects read-only), the next exp command seals the run with it.
        var outcomeKept = true
        do {
            try store.writeLive(record)
        } catch {
            outcomeKept = false
        }
        record.supervisor = nil
        do {
            let sealedMetrics = directory + "/metrics.sealed.jsonl"
            try MetricsFile.write(points, toFile: sealedMetrics)
            var files: [String: RunStore.BlobSource] = [
                "output.log": store.outputLog(at: outputPath), "metrics.jsonl": .file(sealedMetrics),
            ]
            if let requirements = gathered.requirements {
                // `pip freeze` lists `pkg @ git+https://user:token@host/…` for packages installed from a URL.
                files["requirements.txt"] = .bytes(Array(CredentialMask.masking(requirements).utf8))
            }
            ArtifactCapture.seal(
                self, before: artifactsBefore, record: &record, files: &files, progress: request.artifactProgress)
            let sealed = try store.replace(
                record, files: files, expected: store.sealBase(for: record.id, started: running),
                reason: "exp run: \(record.status.rawValue)")
            tagSealedRun(StoredRun(record: record, commit: sealed, isLive: false))
        } catch {
            // The command's outcome stands; only saving it failed. Keep the live folder.
            let failure = error as? ExpError ?? ExpError("\(error)")
            return RunFinished(
                record: record, outcome: outcome, warnings: watched.warnings,
                unsaved: UnsavedRun(
                    error: failure, liveDirectory: directory, outcomeKept: outcomeKept))
        }
        try? FileManager.default.removeItem(atPath: directory)
        return RunFinished(record: record, outcome: outcome, warnings: watched.warnings)
    }

    /// The run status a launch outcome means.
    static func status(of outcome: LaunchOutcome) -> RunStatus {
        if outcome.startError != nil { return .failed }
        if !outcome.forwardedSignals.isEmpty && outcome.exitCode != 0 { return .interrupted }
        if let signal = outcome.signal, [SIGINT, SIGTERM, SIGHUP, SIGQUIT].contains(signal) { return .interrupted }
        return outcome.exitCode == 0 ? .succeeded : .failed
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
