import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

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

/// How a run ends, as `LiveRun.seal` is told.
public enum RunOutcome: Sendable {
    /// The command ended (or could not start) while exp supervised it.
    case ended(LaunchOutcome)
    /// The run's exp process is gone: the run is sealed `lost` from what its live folder kept
    /// (or with the outcome kept there, when its exp could not write the record).
    case lost
}

/// A run from the moment its ref exists until it is sealed: the one path every run takes,
/// whether `exp run` starts it, `exp rerun` (from a given snapshot), a later process from a
/// stored `RunPlan`, or an exp command that finds it dead (`recover`).
///
/// `start` takes the snapshot (or makes a worktree of the plan's snapshot), creates the live
/// folder and `refs/exp/runs/<id>` (status `running`) and begins the observers; `launch` runs
/// the command; `seal` is the only place a run's record is sealed.
public final class LiveRun {
    /// The workspace the command runs in (a worktree of the given snapshot, or the caller's).
    private let workspace: Workspace
    private let store: RunStore
    /// The record as it stands (the live one while the run goes, the sealed one after `seal`).
    public private(set) var record: RunRecord
    /// The snapshot the run records; nil for a recovered run.
    public let snapshot: Snapshot?
    /// The run's live folder.
    public let folder: LiveFolder
    /// The record commit the run was started with (or found at, for a recovered run).
    private let started: ObjectID
    private let observers: [any RunObserver]
    private let plan: RunPlan?
    private let terminal: RunTerminal
    private let workingDirectory: String
    private let heartbeat: Heartbeat?
    private let live: LiveRecord?
    private let worktree: SnapshotWorktree?
    /// For a recovered run: leave the live folder once sealed (a run that may only be paused).
    private let keepFolder: Bool
    private var isSealed = false

    private init(
        workspace: Workspace, record: RunRecord, snapshot: Snapshot?, folder: LiveFolder, started: ObjectID,
        observers: [any RunObserver], plan: RunPlan?, terminal: RunTerminal, workingDirectory: String,
        heartbeat: Heartbeat?, live: LiveRecord?, worktree: SnapshotWorktree?, keepFolder: Bool
    ) {
        self.workspace = workspace
        store = RunStore(workspace: workspace)
        self.record = record
        self.snapshot = snapshot
        self.folder = folder
        self.started = started
        self.observers = observers
        self.plan = plan
        self.terminal = terminal
        self.workingDirectory = workingDirectory
        self.heartbeat = heartbeat
        self.live = live
        self.worktree = worktree
        self.keepFolder = keepFolder
    }

    deinit {
        // A run never sealed (an error between start and seal) still stops its threads.
        heartbeat?.stop()
        if !isSealed, let worktree { worktree.remove(workspace.repository) }
    }

    // MARK: Start

    /// Starts a planned run in `workspace`: snapshots the working tree (or, when the plan names
    /// a snapshot, makes a temporary worktree of it and snapshots that), creates the live
    /// folder and the ref, and begins the observers. The command is not started yet (`launch`).
    public static func start(_ plan: RunPlan, in workspace: Workspace, terminal: RunTerminal) throws -> LiveRun {
        guard let program = plan.argv.first, !program.isEmpty else {
            throw ExpError(.usage, "no command to run", hint: "give the command to run", reason: .noCommand)
        }
        var worktree: SnapshotWorktree?
        let runIn: Workspace
        let workingDirectory: String
        if let given = plan.snapshot {
            if plan.cwd != ".", let problem = PathRules.problem(path: plan.cwd, mode: 0o040000) {
                throw ExpError(
                    "refusing to run \(plan.name): its folder \(PathRules.quoted(plan.cwd)) is unsafe (\(problem)); "
                        + "nothing was written")
            }
            let made = try SnapshotWorktree.make(given, cwd: plan.cwd, in: workspace)
            worktree = made
            var inner = workspace.context  // the same clock, environment and notices, in the worktree
            inner.workingDirectory = made.directory
            do {
                runIn = try Workspace(context: inner)
            } catch {
                made.remove(workspace.repository)
                throw error
            }
            workingDirectory = made.directory
        } else {
            runIn = workspace
            workingDirectory =
                plan.cwd == workspace.relativeWorkingDirectory()
                ? workspace.context.workingDirectory
                : workspace.resolvedRoot + (plan.cwd == "." ? "" : "/" + plan.cwd)
        }
        do {
            return try begin(
                plan, in: runIn, workingDirectory: workingDirectory, terminal: terminal, worktree: worktree)
        } catch {
            worktree?.remove(workspace.repository)
            throw error
        }
    }

    private static func begin(
        _ plan: RunPlan, in workspace: Workspace, workingDirectory: String, terminal: RunTerminal,
        worktree: SnapshotWorktree?
    ) throws -> LiveRun {
        let store = RunStore(workspace: workspace)
        let context = workspace.context
        // Metrics printed by the command (`loss: 0.42`), unless exp.outputScalars is false; a
        // bad setting fails the run before anything is written.
        let readScalars = try translatingGitErrors { try workspace.config.bool("exp.outputScalars") } ?? true
        let patterns = try translatingGitErrors { try workspace.config.all("exp.outputPattern") }
        let parser =
            readScalars
            ? try OutputScalarParser(
                extraPatterns: patterns, clock: { [context] in context.now().timeIntervalSince1970 }) : nil
        let startedAt = context.now()
        let snapshot = try workspace.takeSnapshot(message: "exp snapshot for run \(plan.name)")
        let folder = store.liveFolder(plan.id)
        try folder.create()
        // What the artifact rules match before the command starts, to tell what it wrote.
        let artifactsBefore: ArtifactScan?
        do {
            artifactsBefore = try plan.artifactRules.map {
                try ArtifactCapture.begin(workspace, rules: $0, folder: folder)
            }
        } catch {
            folder.remove()
            throw error
        }

        let extraNames = (try? workspace.config.all("exp.env")) ?? []
        var record = RunRecord(
            id: plan.id, name: plan.name, status: .running, message: plan.message, exitCode: nil, signal: nil,
            error: nil, argv: CredentialMask.masking(argv: plan.argv), cwd: plan.cwd, startedAt: startedAt,
            endedAt: nil, durationSeconds: nil, host: context.host, user: context.user,
            base: RunRecord.Base(commit: snapshot.parent, branch: snapshot.branch),
            snapshot: RunRecord.SnapshotSummary(snapshot), params: plan.params, environment: nil,
            variables: MachineInfo.recordedEnvironment(
                context.environment.merging(plan.environment) { _, planned in planned }, extraNames: extraNames),
            metrics: [:],
            skippedMetricLines: 0, links: RunRecord.Links(), reproduces: plan.reproduces,
            supervisor: RunRecord.Supervisor(
                pid: getpid(), childPid: nil, startTicks: ProcessFacts.startTicks(of: getpid()),
                bootID: ProcessFacts.bootID, pidNamespace: ProcessFacts.pidNamespace, host: LocalMachine.hostName))
        record.paramFiles = plan.paramFiles.isEmpty ? nil : plan.paramFiles
        record.sweep = plan.group
        record.params = Params.merging(files: plan.paramFiles, into: plan.params)
        try folder.writeRecord(record)
        // Signs of life for exp processes in other PID namespaces, until the run is sealed.
        let heartbeat = Heartbeat(folder: folder)
        heartbeat.start()
        let running: ObjectID
        do {
            running = try store.create(
                record, files: [LiveFolder.metricsFile: .bytes([]), LiveFolder.outputFile: .bytes([])])
        } catch {
            heartbeat.stop()
            folder.remove()
            throw error
        }

        // Metrics from Lightning CSV and TensorBoard files, Hydra and hparams params, and live summaries.
        let live = LiveRecord(record, folder: folder)
        let watcher = MetricsWatcher(
            roots: [workspace.resolvedRoot, workspace.resolvedWorkingDirectory], repositoryRoot: workspace.resolvedRoot,
            since: MetricFileFinder.modificationTime(folder.outputPath) ?? 0, liveDirectory: folder.path,
            metricsFile: folder.metricsPath, publish: { summary in live.update { $0.metrics = summary } })
        let metrics = MetricsObserver(folder: folder, watcher: watcher, commandLineParams: plan.params)
        var observers: [any RunObserver] = []
        if let parser { observers.append(OutputScalarsObserver(parser: parser, sink: metrics)) }
        // Machine facts and installed packages are gathered beside the command, never before it.
        observers.append(MachineObserver(argv: plan.argv, context: context))
        observers.append(metrics)
        observers.append(
            ArtifactsObserver(workspace: workspace, before: artifactsBefore, progress: terminal.artifactProgress))
        for observer in observers { observer.begin() }
        return LiveRun(
            workspace: workspace, record: record, snapshot: snapshot, folder: folder, started: running,
            observers: observers, plan: plan, terminal: terminal, workingDirectory: workingDirectory,
            heartbeat: heartbeat, live: live, worktree: worktree, keepFolder: false)
    }

    // MARK: Launch

    /// Runs the command (with the plan's environment and `EXP_RUN_ID`, `EXP_RUN_NAME`,
    /// `EXP_RUN_DIR`, `EXP_METRICS_FILE`, `EXP_SNAPSHOT`), handing its output to the observers,
    /// and returns how it ended. Only for a started run.
    public func launch() -> LaunchOutcome {
        guard let plan, let snapshot else {
            return .notStarted("the run \(record.name) was not started here", status: 126)
        }
        var environment = workspace.context.environment
        environment.merge(plan.environment) { _, planned in planned }
        environment["EXP_RUN_ID"] = record.id.rawValue
        environment["EXP_RUN_NAME"] = record.name
        environment["EXP_RUN_DIR"] = folder.path
        environment["EXP_METRICS_FILE"] = folder.metricsPath
        environment["EXP_SNAPSHOT"] = snapshot.commit.hex
        var launch = LaunchRequest(
            argv: plan.argv, environment: environment, workingDirectory: workingDirectory,
            usePseudoTerminal: terminal.usePseudoTerminal, stdinFD: terminal.stdinFD, stdoutFD: terminal.stdoutFD,
            stderrFD: terminal.stderrFD, outputLogPath: folder.outputPath)
        launch.logLimit = Int((try? workspace.config.size("exp.maxLogSize")) ?? nil ?? RunStore.defaultMaxLogSize)
        let observers = observers
        return Launcher.run(
            launch, onStart: { [live] pid in live?.update { $0.supervisor?.childPid = pid } },
            onOutput: { chunk in
                for observer in observers { observer.output(chunk) }
            })
    }

    // MARK: Recover

    /// The dead run whose live folder is `folder`, ready to be sealed (`seal(.lost)`) from
    /// what its exp saved there; nil when there is nothing to seal (its ref is gone or it was
    /// sealed already: then the folder is removed unless `keepFolder`). `keepFolder` leaves the
    /// folder in place after the seal (a run that may only be paused).
    static func recover(_ folder: LiveFolder, in workspace: Workspace, keepFolder: Bool) throws -> LiveRun? {
        guard let live = folder.readRecord() else { return nil }
        let store = RunStore(workspace: workspace)
        guard
            let current = try translatingGitErrors({
                try workspace.repository.resolve(store.referenceName(live.id))
            })
        else {
            // The ref is gone (deleted by hand): nothing to seal, drop the files.
            folder.remove()
            return nil
        }
        guard (try? store.record(at: current))?.status == .running else {
            // Already sealed elsewhere.
            if !keepFolder { folder.remove() }
            return nil
        }
        let observers: [any RunObserver] = [
            MetricsObserver(recovering: folder),
            // The files written until exp died are linked as they are now.
            ArtifactsObserver(workspace: workspace, before: ArtifactCapture.saved(in: folder), progress: nil),
        ]
        return LiveRun(
            workspace: workspace, record: live, snapshot: nil, folder: folder, started: current,
            observers: observers, plan: nil, terminal: RunTerminal(), workingDirectory: workspace.resolvedRoot,
            heartbeat: nil, live: nil, worktree: nil, keepFolder: keepFolder)
    }

    // MARK: Seal

    /// What sealing gave: the record as sealed, and whether it went into git.
    public struct Sealed: Sendable {
        public var record: RunRecord
        /// The sealed record commit; nil when it could not be written.
        public var commit: ObjectID?
        /// Set when the record could not be written to git (the live folder keeps the run).
        public var unsaved: UnsavedRun?
        /// Things skipped while reading metrics and params.
        public var warnings: [String]
    }

    /// Seals the run: the only place a run's record is sealed. Finishes the observers, writes
    /// the outcome into the live record first (so that, if git cannot be written, the next exp
    /// command seals the run with it), then replaces the run's record commit with the sealed
    /// record, its output, metrics, requirements and artifacts, and removes the live folder.
    ///
    /// `.lost` keeps an outcome the live record already holds (its exp ended the command but
    /// could not write git); otherwise the run is `lost`, ended at the last write to its files.
    public func seal(_ outcome: RunOutcome) -> Sealed {
        precondition(!isSealed, "a run is sealed once")
        isSealed = true
        defer {
            heartbeat?.stop()
            worktree?.remove(workspace.repository)
        }
        let recovered: Bool
        var outcomeKept = true
        switch outcome {
        case .ended(let launched):
            recovered = false
            let endedAt = workspace.context.now()
            record.endedAt = endedAt
            record.durationSeconds = max(0, endedAt.timeIntervalSince(record.startedAt))
            record.exitCode = launched.exitCode
            record.signal = launched.signal
            record.error = launched.startError
            record.status = Self.status(of: launched)
        case .lost:
            recovered = true
            // A run whose command ended, but whose exp could not write the record (disk full,
            // objects read-only), kept its outcome in the live run.json: seal it with that.
            let kept = ![.running, .lost, .autosave].contains(record.status)
            if !kept {
                record.status = .lost
                record.error =
                    "exp stopped while the command ran (process \(record.supervisor?.pid ?? 0) is gone); "
                    + "output and metrics up to then are kept"
                record.endedAt = folder.lastWrite() ?? workspace.context.now()
                record.durationSeconds = max(
                    0, (record.endedAt ?? record.startedAt).timeIntervalSince(record.startedAt))
            }
            outcomeKept = kept
        }
        for observer in observers { observer.finish() }
        for observer in observers { observer.contribute(to: &record) }
        let warnings = observers.flatMap(\.warnings)
        if !recovered {
            // The outcome goes into the live folder before anything is written to git: if
            // sealing fails (disk full, objects read-only), the next exp command seals the run with it.
            do {
                try folder.writeRecord(record)
            } catch {
                outcomeKept = false
            }
        }
        record.supervisor = nil
        let commit: ObjectID
        do {
            var files: [String: RunStore.BlobSource] = [LiveFolder.outputFile: store.outputLog(at: folder.outputPath)]
            for observer in observers { try observer.addFiles(to: &files, record: &record) }
            let reason =
                !recovered
                ? "exp run: \(record.status.rawValue)"
                : outcomeKept
                    ? "exp: seal run \(record.name) (\(record.status.rawValue))" : "exp: seal lost run \(record.name)"
            // The run's own exp seals over a `lost` record another exp wrote while it was paused;
            // a recovering exp only over the running record it found.
            let expected = recovered ? started : store.sealBase(for: record.id, started: started)
            commit = try store.replace(record, files: files, expected: expected, reason: reason)
        } catch {
            // The command's outcome stands; only saving it failed. Keep the live folder.
            let failure = error as? ExpError ?? ExpError(.io, "\(error)")
            return Sealed(
                record: record, commit: nil,
                unsaved: UnsavedRun(error: failure, liveDirectory: folder.path, outcomeKept: outcomeKept),
                warnings: warnings)
        }
        if !keepFolder { folder.remove() }
        return Sealed(record: record, commit: commit, unsaved: nil, warnings: warnings)
    }

    /// The run status a launch outcome means.
    static func status(of outcome: LaunchOutcome) -> RunStatus {
        if outcome.startError != nil { return .failed }
        if !outcome.forwardedSignals.isEmpty && outcome.exitCode != 0 { return .interrupted }
        if let signal = outcome.signal, [SIGINT, SIGTERM, SIGHUP, SIGQUIT].contains(signal) { return .interrupted }
        return outcome.exitCode == 0 ? .succeeded : .failed
    }
}

/// A live run.json that two threads update (the launcher with the child's pid, the watcher
/// with metrics): each change is applied to the latest record and written at once.
final class LiveRecord: @unchecked Sendable {
    private let lock = NSLock()
    private var record: RunRecord
    private let folder: LiveFolder

    init(_ record: RunRecord, folder: LiveFolder) {
        self.record = record
        self.folder = folder
    }

    func update(_ change: (inout RunRecord) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change(&record)
        try? folder.writeRecord(record)
    }
}

extension Workspace {
    /// Runs a command as a recorded run: plan it, start it (snapshot the tree, create
    /// `refs/exp/runs/<id>` with status `running` and the live folder under
    /// `<common dir>/exp/runs/<id>/`), run the command, then seal the record (status, output,
    /// metrics, machine) onto the same ref. Runs of this machine found dead are recovered
    /// first (`recoverLostRuns`) and reported in `RunStarted`.
    ///
    /// `onStart` is called once the run exists and just before the command starts.
    public func run(_ request: RunRequest, onStart: (RunStarted) -> Void) throws -> RunFinished {
        let plan = try plan(request)
        let sealedLost = try recoverLostRuns()
        return try run(plan, terminal: request.terminal, sealedLost: sealedLost, onStart: onStart)
    }

    /// Starts a planned run, runs its command and seals it.
    public func run(
        _ plan: RunPlan, terminal: RunTerminal, sealedLost: [RunRecord] = [], onStart: (RunStarted) -> Void
    ) throws -> RunFinished {
        let run = try LiveRun.start(plan, in: self, terminal: terminal)
        // `start` gave a snapshot: it took one.
        if let snapshot = run.snapshot {
            onStart(RunStarted(record: run.record, snapshot: snapshot, sealedLost: sealedLost))
        }
        let outcome = run.launch()
        let sealed = run.seal(.ended(outcome))
        if let commit = sealed.commit {
            // The hooks' tags for a run whose code is HEAD itself (see `tagSealedRun`).
            tagSealedRun(StoredRun(record: sealed.record, commit: commit, isLive: false))
            // A long run's curves, summarised once now (about a second per million points),
            // so its first plot is as quick as the next.
            RunStore(workspace: self).keepSeriesSummaries(ofRecord: commit)
        }
        return RunFinished(record: sealed.record, outcome: outcome, warnings: sealed.warnings, unsaved: sealed.unsaved)
    }

    /// Seals as `lost` every run of this machine whose exp process is gone (killed, or the
    /// machine rebooted), from the output, metrics and artifacts its live folder kept; runs of
    /// other machines are left alone. Returns the runs sealed.
    ///
    /// The one call that recovers lost runs: commands that show runs make it first (so a dead
    /// run shows as `lost`), and reading runs never does it by itself. It also removes the
    /// temporary worktrees that killed `exp rerun`s left registered.
    @discardableResult
    public func recoverLostRuns() throws -> [RunRecord] {
        removeStaleRerunWorktrees()
        let store = RunStore(workspace: self)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: store.liveFoldersPath) else {
            return []
        }
        var sealed: [RunRecord] = []
        let now = context.now()
        for name in names.sorted() {
            guard let id = RunID(name) else { continue }
            let folder = store.liveFolder(id)
            guard let live = folder.readRecord(), live.ranOnThisMachine(context), let supervisor = live.supervisor,
                ProcessFacts.isGone(supervisor, liveDirectory: folder.path, now: now)
            else { continue }
            // A run judged by its heartbeat may only be paused: its folder stays a while.
            var keepFolder = false
            if ProcessFacts.judgedByHeartbeat(supervisor, liveDirectory: folder.path) {
                let last = folder.lastSignOfLife() ?? .distantPast
                keepFolder = now.timeIntervalSince(last) < ProcessFacts.pausedRunKeep
            }
            guard let run = try LiveRun.recover(folder, in: self, keepFolder: keepFolder) else { continue }
            let result = run.seal(.lost)
            // Not sealed: another exp got there first (or git cannot be written; the folder stays).
            if result.unsaved == nil { sealed.append(result.record) }
        }
        return sealed
    }
}
