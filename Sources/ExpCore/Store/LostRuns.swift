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
    static func lastSignOfLife(in directory: String) -> Date? { LiveFolder(path: directory).lastSignOfLife() }

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
        return access(LiveFolder(path: liveDirectory).heartbeatPath, F_OK) == 0
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
    private let lock = NSLock()
    private var running = false

    init(folder: LiveFolder) { path = folder.heartbeatPath }

    /// Creates the file and starts touching it.
    func start() {
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        if fd >= 0 { close(fd) }
        lock.lock()
        running = true
        lock.unlock()
        let thread = Thread { [self] in
            while stopping.wait(timeout: .now() + ProcessFacts.heartbeatInterval) == .timedOut {
                utimensat(AT_FDCWD, path, nil, 0)
            }
            stopped.signal()
        }
        thread.name = "exp heartbeat"
        thread.start()
    }

    /// Stops touching the file (it stays, with the time of the last touch). Once is enough;
    /// later calls do nothing.
    func stop() {
        lock.lock()
        let wasRunning = running
        running = false
        lock.unlock()
        guard wasRunning else { return }
        stopping.signal()
        stopped.wait()
    }
}

extension RunStore {
    /// The run store of the repository around `context`, ready to read. Reading never writes:
    /// runs whose exp process is gone show as `running` until `Workspace.recoverLostRuns` seals them.
    public static func forReading(_ context: ExpContext) throws -> RunStore {
        RunStore(workspace: try Workspace(context: context))
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
}
