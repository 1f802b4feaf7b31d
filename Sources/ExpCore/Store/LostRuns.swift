import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Facts about this machine and process that tell a live run from a dead one.
enum ProcessFacts {
    /// The kernel's boot id (changes on every boot), when readable.
    static var bootID: String? {
        guard let text = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8) else {
            return nil
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A process's start time in clock ticks since boot (`/proc/PID/stat` field 22).
    static func startTicks(of pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may hold spaces) start at field 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    /// The inode of this process's PID namespace (`/proc/self/ns/pid`), when readable: two
    /// processes see the same pids only when they share it.
    static var pidNamespace: UInt64? {
        var info = stat()
        guard stat("/proc/self/ns/pid", &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }

    /// How often a live run touches its heartbeat file (`<live folder>/heartbeat`).
    static let heartbeatInterval: TimeInterval = 5

    /// How old the last sign of life of a run supervised in another PID namespace may be
    /// before the run counts as gone.
    static let heartbeatLimit: TimeInterval = 60

    /// The newest modification time among a live folder's heartbeat and its live files: the
    /// last time its exp process was known to be alive.
    static func lastSignOfLife(in directory: String) -> Date? {
        ["heartbeat", "run.json", "output.log", "metrics.jsonl"].compactMap { name -> Date? in
            var info = stat()
            guard stat(directory + "/" + name, &info) == 0 else { return nil }
            let time = info.st_mtim
            return Date(timeIntervalSince1970: Double(time.tv_sec) + Double(time.tv_nsec) / 1e9)
        }.max()
    }

    /// Whether the process that supervised a run on this machine is gone.
    ///
    /// The pid is only meaningful inside the PID namespace that recorded it: a run started in
    /// a container or under `unshare -p` is judged by its heartbeat instead (gone when the
    /// last sign of life in `liveDirectory` is older than `heartbeatLimit` at `now`).
    static func isGone(_ supervisor: RunRecord.Supervisor, liveDirectory: String, now: Date) -> Bool {
        if let recorded = supervisor.bootID, let current = bootID, recorded != current { return true }
        let heartbeatIsStale = {
            guard let last = lastSignOfLife(in: liveDirectory) else { return false }
            return now.timeIntervalSince(last) > heartbeatLimit
        }
        if judgedByHeartbeat(supervisor, liveDirectory: liveDirectory) {
            if let recorded = supervisor.pidNamespace, let current = pidNamespace, recorded != current {
                return heartbeatIsStale()
            }
            // One side's namespace is unknown (a masked /proc): the pid may name another
            // process, so the heartbeat must be stale too.
            if !heartbeatIsStale() { return false }
        }
        if kill(supervisor.pid, 0) != 0 && errno == ESRCH { return true }
        if let recorded = supervisor.startTicks, let current = startTicks(of: supervisor.pid), recorded != current {
            return true  // the pid was reused by another process
        }
        return false
    }

    /// Whether a run's liveness rests on its heartbeat rather than on its pid: it was
    /// supervised in another PID namespace, or either namespace is unknown while the run keeps
    /// a heartbeat. Such a run may only have been paused (a stopped container, a suspended
    /// laptop), so its live folder is kept after it is sealed `lost`, for its own exp to seal
    /// over if it comes back.
    static func judgedByHeartbeat(_ supervisor: RunRecord.Supervisor, liveDirectory: String) -> Bool {
        if let recorded = supervisor.pidNamespace, let current = pidNamespace { return recorded != current }
        return access(liveDirectory + "/heartbeat", F_OK) == 0
    }

    /// How long the live folder of a run sealed `lost` by its heartbeat is kept, in case its
    /// exp was only paused.
    static let pausedRunKeep: TimeInterval = 7 * 24 * 3600
}

/// Touches a live run's `heartbeat` file every few seconds while exp supervises the run, so
/// that exp processes in another PID namespace (which cannot check the pid) can tell it is
/// alive. A thread of its own: a slow metrics scan must never make a live run look dead.
final class Heartbeat: @unchecked Sendable {
    private let path: String
    private let stopping = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)

    init(liveDirectory: String) { path = liveDirectory + "/heartbeat" }

    /// Creates the file and starts touching it.
    func start() {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        if fd >= 0 { close(fd) }
        let thread = Thread { [self] in
            while stopping.wait(timeout: .now() + ProcessFacts.heartbeatInterval) == .timedOut {
                utimensat(AT_FDCWD, path, nil, 0)
            }
            stopped.signal()
        }
        thread.name = "exp heartbeat"
        thread.start()
    }

    /// Stops touching the file (it stays, with the time of the last touch).
    func stop() {
        stopping.signal()
        stopped.wait()
    }
}

extension RunStore {
    /// The run store of the repository around `context`, ready to read: runs of this machine
    /// whose exp process is gone are sealed `lost` first, so every reader sees them as they are.
    public static func forReading(_ context: ExpContext) throws -> RunStore {
        let store = RunStore(workspace: try Workspace(context: context))
        try store.sealLostRuns()
        return store
    }

    /// Seals as `lost` every run of this machine whose exp process is gone (killed, or the
    /// machine rebooted), keeping the output and metrics captured so far. Runs of other
    /// machines are left alone. Returns the runs sealed.
    @discardableResult
    public func sealLostRuns() throws -> [RunRecord] {
        let folder = workspace.stateDirectory + "/runs"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var sealed: [RunRecord] = []
        let now = workspace.context.now()
        for name in names.sorted() {
            guard let id = RunID(name), let live = liveRecord(id), live.ranOnThisMachine(workspace.context),
                let supervisor = live.supervisor,
                ProcessFacts.isGone(supervisor, liveDirectory: liveDirectory(id), now: now)
            else { continue }
            // A run judged by its heartbeat may only be paused: its folder stays a while.
            var keepFolder = false
            if ProcessFacts.judgedByHeartbeat(supervisor, liveDirectory: liveDirectory(id)) {
                let last = ProcessFacts.lastSignOfLife(in: liveDirectory(id)) ?? .distantPast
                keepFolder = now.timeIntervalSince(last) < ProcessFacts.pausedRunKeep
            }
            if let record = try sealLost(live, keepFolder: keepFolder) { sealed.append(record) }
        }
        return sealed
    }

    /// The record commit a run's own exp seals over: the one it wrote at start, or, when
    /// another exp sealed the run `lost` meanwhile (judged by a stale heartbeat while this one
    /// was paused), that record, since the run's own exp knows how it ended.
    func sealBase(for id: RunID, started: ObjectID) -> ObjectID {
        guard let current = try? repository.resolve(referenceName(id)), current != started,
            (try? record(at: current))?.status == .lost
        else { return started }
        return current
    }

    /// Seals one dead live run; nil when another process got there first. `keepFolder` leaves
    /// the live folder in place (a run that may only be paused).
    private func sealLost(_ live: RunRecord, keepFolder: Bool) throws -> RunRecord? {
        let directory = liveDirectory(live.id)
        guard let current = try translatingGitErrors({ try repository.resolve(referenceName(live.id)) }) else {
            // The ref is gone (deleted by hand): nothing to seal, drop the files.
            try? FileManager.default.removeItem(atPath: directory)
            return nil
        }
        guard (try? record(at: current))?.status == .running else {
            // Already sealed elsewhere.
            if !keepFolder { try? FileManager.default.removeItem(atPath: directory) }
            return nil
        }
        var record = live
        // A run whose command ended, but whose exp could not write the record (disk full,
        // objects read-only), kept its outcome in the live run.json: seal it with that.
        let outcomeKept = live.status != .running && live.status != .lost && live.status != .autosave
        if !outcomeKept {
            record.status = .lost
            record.error =
                "exp stopped while the command ran (process \(live.supervisor?.pid ?? 0) is gone); "
                + "output and metrics up to then are kept"
            let lastWrite = [directory + "/output.log", directory + "/metrics.jsonl", directory + "/run.json"]
                .compactMap { try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate] as? Date }
                .max()
            record.endedAt = lastWrite ?? workspace.context.now()
            record.durationSeconds = max(
                0, (record.endedAt ?? record.startedAt).timeIntervalSince(record.startedAt))
        }
        let metrics = MetricsFile.parse(
            [UInt8](FileManager.default.contents(atPath: directory + "/metrics.jsonl") ?? Data()))
        // The dead exp was reading metrics from the output as it streamed: read the log again.
        var fromOutput: [MetricPoint] = []
        if (try? workspace.config.bool("exp.outputScalars")) ?? true != false,
            let patterns = try? workspace.config.all("exp.outputPattern"),
            var parser = try? OutputScalarParser(
                extraPatterns: patterns,
                clock: { [time = (record.endedAt ?? record.startedAt).timeIntervalSince1970] in time }),
            let handle = FileHandle(forReadingAtPath: directory + "/output.log")
        {
            while let chunk = try? handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                chunk.withUnsafeBytes { parser.consume($0) }
            }
            try? handle.close()
            fromOutput = Array(parser.finish())
        }
        // CSV and TensorBoard points the dead exp had read (the files may be gone or changed since).
        let imported = MetricsFile.decode(
            [UInt8](FileManager.default.contents(atPath: directory + "/" + MetricsWatcher.importedFile) ?? Data()))
        let points = MetricPoint.merge([metrics.points, imported, fromOutput])
        record.metrics = MetricSummary.summarize(points)
        record.skippedMetricLines = metrics.skippedLines
        record.supervisor = nil
        var files: [String: BlobSource] = [
            "output.log": outputLog(at: directory + "/output.log"),
            "metrics.jsonl": .bytes(try MetricsFile.encode(points)),
        ]
        // The files written until exp died are linked as they are now.
        ArtifactCapture.seal(
            workspace, before: ArtifactCapture.saved(in: directory), record: &record, files: &files, progress: nil)
        let reason =
            outcomeKept
            ? "exp: seal run \(record.name) (\(record.status.rawValue))" : "exp: seal lost run \(record.name)"
        do {
            _ = try replace(record, files: files, expected: current, reason: reason)
        } catch is ExpError {
            return nil  // sealed by someone else meanwhile
        }
        if !keepFolder { try? FileManager.default.removeItem(atPath: directory) }
        return record
    }
}
