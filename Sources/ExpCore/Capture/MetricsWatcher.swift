import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A metric source's points where a (key, step) logged again replaces the earlier point.
///
/// `exact` logs remember every (key, step); the others (output scalars, which may be
/// millions) only each key's last point, so a key logged again at the step of its last point
/// replaces it (a progress bar redrawn within an epoch) but a return to an older step adds a
/// point.
struct PointLog {
    private struct Slot: Hashable {
        var key: UInt32
        var step: Double
    }

    let exact: Bool
    private(set) var points = MetricPoints()
    private var positions: [Slot: Int] = [:]
    /// By key number (`MetricPoints.keyNumber`): the position of the key's last point, or -1.
    private var lastOfKey: [Int] = []
    /// Points from this index on were added since the last `takeChanged`.
    private var firstNew = 0
    /// Indices below `firstNew` replaced since the last `takeChanged`.
    private var replaced: [Int] = []

    init(exact: Bool = true) { self.exact = exact }

    /// A log whose points beyond the newest few thousand are kept in a file at `spillPath`.
    init(exact: Bool, spillPath: String) {
        self.exact = exact
        points = MetricPoints(spillingTo: spillPath)
    }

    mutating func add(_ new: some Sequence<MetricPoint>) {
        for point in new {
            add(
                MetricPoints.Record(
                    key: points.keyNumber(point.key), step: point.step, time: point.time, value: point.value,
                    source: point.source))
        }
    }

    /// Adds a batch without making a `MetricPoint` of each (output scalars come by the million).
    mutating func add(_ batch: MetricPoints) {
        let keyNumbers = batch.keys.map { points.keyNumber($0) }
        batch.forEachRecord { record in
            var record = record
            record.key = keyNumbers[Int(record.key)]
            add(record)
        }
    }

    private mutating func add(_ record: MetricPoints.Record) {
        if let step = record.optionalStep {
            if exact {
                let slot = Slot(key: record.key, step: step)
                if let position = positions[slot] {
                    replace(position, with: record)
                    return
                }
                positions[slot] = points.count
            } else {
                let key = Int(record.key)
                if key < lastOfKey.count, lastOfKey[key] >= 0, points.record(at: lastOfKey[key]).optionalStep == step {
                    replace(lastOfKey[key], with: record)
                    return
                }
                setLast(key, points.count)
            }
        } else if !exact {
            setLast(Int(record.key), points.count)
        }
        points.append(record)
    }

    private mutating func replace(_ position: Int, with record: MetricPoints.Record) {
        points.replace(at: position, with: record)
        if position < firstNew { replaced.append(position) }
    }

    private mutating func setLast(_ key: Int, _ position: Int) {
        while lastOfKey.count <= key { lastOfKey.append(-1) }
        lastOfKey[key] = position
    }

    /// Hands the points over and forgets them.
    mutating func takeAll() -> MetricPoints {
        defer { self = PointLog(exact: exact) }
        return points
    }

    /// The positions of the points added or replaced since the last call: those replaced,
    /// then those added.
    mutating func takeChanged() -> (replaced: [Int], added: Range<Int>) {
        defer {
            replaced.removeAll()
            firstNew = points.count
        }
        var seen = Set<Int>()
        return (replaced.filter { seen.insert($0).inserted }, firstNew..<points.count)
    }
}

/// Watches a running command for metrics and params that arrive without code changes, and
/// keeps the live folder's view of them fresh.
///
/// A background thread (at a lower priority than the command) wakes once a second
/// (`exp.metricsInterval` is not needed: the costs are bounded instead): it looks for
/// Lightning `metrics.csv`, TensorBoard event files, `hparams.yaml` beside them and Hydra's
/// `.hydra/config.yaml`/`overrides.yaml` created or changed during the run
/// (`MetricFileFinder`), reads what they gained since, takes the output scalars the launcher
/// handed over (`collect`, which only appends under a lock and so never holds up the
/// command's output; a full batch wakes the thread early, only to take it in), and at most
/// once a second writes to the live folder (`LiveFolder`): `metrics.imported.jsonl` (CSV and TensorBoard
/// points, rewritten whole), appends to the output scalars' files (`LiveScalarFile`), and
/// calls `publish` with the summary of all sources merged (for the live run.json). Summaries
/// of a run with very many points are spaced out so they never take more than a tenth of the
/// watcher's time.
///
/// `finish` stops the thread, reads every source a last time and returns the merged points.
public final class MetricsWatcher: @unchecked Sendable {
    /// What a finished watch found.
    public struct Result: Sendable {
        /// Every source merged (`MetricPoint.merge`): the run's metrics.jsonl.
        public var points: MetricPoints
        /// Lines of `EXP_METRICS_FILE` that were not JSON objects.
        public var skippedMetricLines: Int
        /// Params read from `hparams.yaml` and Hydra files, per file (path relative to the
        /// repository root).
        public var paramFiles: [String: [String: ParamValue]]
        /// Records skipped in event files, unreadable params files.
        public var warnings: [String]
    }

    private let folder: LiveFolder
    private let metricsFile: String
    private let repositoryRoot: String
    private let publish: @Sendable ([String: MetricSummary]) -> Void
    private let clock: () -> Double

    private let lock = NSLock()
    /// Batches of output scalars handed over by `collect`.
    private var inbox: [MetricPoints] = []
    private var stopping = false
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private var started = false
    /// Owned by the output thread.
    private var nextOffer = 0.0

    // Owned by the watcher thread (and by `finish` once it has stopped).
    private var finder: MetricFileFinder
    private var csvReaders: [String: CSVMetricsReader] = [:]
    private var eventReaders: [String: TensorBoardEventReader] = [:]
    private var paramPaths: Set<String> = []
    private var stdout: PointLog
    private var liveScalars: LiveScalarFile
    private var fileOffset = 0
    private var filePoints = PointLog()
    private var nextScan = 0.0
    private var nextSummary = 0.0
    private var importedChanged = false
    private var summaryDue = false

    /// - Parameters:
    ///   - roots: folders to look in (the repository root and the command's folder).
    ///   - since: file modification time (seconds since the epoch, file system clock) from
    ///     which a file counts as written by this run.
    ///   - publish: called from the watcher thread with fresh summaries.
    public init(
        roots: [String], repositoryRoot: String, since: Double, liveDirectory: String, metricsFile: String,
        publish: @escaping @Sendable ([String: MetricSummary]) -> Void
    ) {
        finder = MetricFileFinder(roots: roots, since: since)
        self.repositoryRoot = repositoryRoot
        folder = LiveFolder(path: liveDirectory)
        self.metricsFile = metricsFile
        self.publish = publish
        stdout = PointLog(exact: false, spillPath: folder.file(LiveFolder.stdoutSpillFile))
        liveScalars = LiveScalarFile(folder: folder)
        clock = {
            var now = timespec()
            clock_gettime(CLOCK_MONOTONIC, &now)
            return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
        }
    }

    /// Starts the background thread.
    public func start() {
        started = true
        let thread = Thread { [self] in
            BackgroundPriority.lowerCurrentThread()
            var nextTick = clock() + 1
            while true {
                _ = wake.wait(timeout: .now() + max(0, nextTick - clock()))
                lock.lock()
                let stop = stopping
                lock.unlock()
                if stop { break }
                // Woken early for a full batch of output scalars: only take it in.
                absorbInbox()
                if clock() >= nextTick {
                    tick()
                    nextTick = clock() + 1
                }
            }
            stopped.signal()
        }
        thread.name = "exp metrics watcher"
        thread.start()
    }

    /// Called by the watcher's thread at each tick to have the output scalars parsed since the
    /// last hand-over handed over (`hand`), so that a command that prints and then goes quiet
    /// has its scalars saved in the live folder within a second or two. Set before `start`.
    var pullOutput: (() -> Void)?

    /// Hands output scalars over, whatever the time (see `pullOutput`).
    func hand(_ points: MetricPoints) {
        guard !points.isEmpty else { return }
        lock.lock()
        inbox.append(points)
        lock.unlock()
    }

    /// Output scalars handed over at once, whatever the time, when this many are waiting: a
    /// command printing hundreds of thousands a second would otherwise have exp hold a
    /// second's worth twice (the batch being read and the one handed over).
    public static let batchLimit = 65_536

    /// Takes the output scalars read so far (`take`, usually `OutputScalarParser.takeNew`)
    /// once a second, or at once when `pending` (how many are waiting) reached `batchLimit`;
    /// called on the thread that copies the command's output after each chunk, where it costs
    /// a clock read.
    public func collect(pending: Int, _ take: () -> MetricPoints) {
        let now = clock()
        let full = pending >= Self.batchLimit
        guard now >= nextOffer || full else { return }
        nextOffer = now + 1
        let points = take()
        guard !points.isEmpty else { return }
        lock.lock()
        inbox.append(points)
        lock.unlock()
        if full { wake.signal() }
    }

    /// Moves the batches handed over into the output scalars' log (which keeps all but the
    /// newest in its file).
    private func absorbInbox() {
        lock.lock()
        let offered = inbox
        inbox = []
        lock.unlock()
        if !offered.isEmpty {
            for batch in offered { stdout.add(batch) }
            summaryDue = true
        }
    }

    /// One round: find files, read what they gained, publish when due.
    private func tick() {
        let now = clock()
        pullOutput?()
        absorbInbox()
        if now >= nextScan {
            let begin = clock()
            discover()
            // A tree that is slow to look through is looked through less often.
            nextScan = clock() + max(1, 20 * (clock() - begin))
        }
        readSources()
        readMetricsFile()
        writeLive(now: now)
    }

    /// The paths a scan finds now (for tests and diagnostics).
    public func filesFound() -> [String] { finder.scan().map(\.path) }

    private func discover() {
        for found in finder.scan() {
            switch found.kind {
            case .csv where csvReaders[found.path] == nil:
                csvReaders[found.path] = CSVMetricsReader(path: found.path)
            case .events where eventReaders[found.path] == nil:
                eventReaders[found.path] = TensorBoardEventReader(path: found.path)
            case .params:
                paramPaths.insert(found.path)
            default:
                break
            }
        }
    }

    private func readSources() {
        for path in csvReaders.keys.sorted() where csvReaders[path]?.update() == true {
            importedChanged = true
        }
        for path in eventReaders.keys.sorted() where eventReaders[path]?.update() == true {
            importedChanged = true
        }
        if importedChanged { summaryDue = true }
    }

    /// Reads the complete lines `EXP_METRICS_FILE` gained.
    private func readMetricsFile() {
        guard let handle = FileHandle(forReadingAtPath: metricsFile) else { return }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd(), Int(size) > fileOffset else { return }
        try? handle.seek(toOffset: UInt64(fileOffset))
        guard let data = try? handle.readToEnd(), let newline = data.lastIndex(of: UInt8(ascii: "\n")) else {
            return
        }
        let complete = data[data.startIndex...newline]
        fileOffset += complete.count
        filePoints.add(MetricsFile.parse([UInt8](complete)).points)
        summaryDue = true
    }

    private var csvPoints: [MetricPoint] { csvReaders.keys.sorted().flatMap { csvReaders[$0]?.points ?? [] } }
    private var eventPoints: [MetricPoint] { eventReaders.keys.sorted().flatMap { eventReaders[$0]?.points ?? [] } }

    /// Brings the live folder up to date.
    private func writeLive(now: Double) {
        if importedChanged {
            importedChanged = false
            let points = MetricPoint.merge([eventPoints, csvPoints])
            if let bytes = try? MetricsFile.encode(points) {
                folder.replace(LiveFolder.importedMetricsFile, with: bytes)
            }
        }
        let changed = stdout.takeChanged()
        liveScalars.append(stdout.points, positions: changed.replaced)
        liveScalars.append(stdout.points, positions: changed.added)
        if summaryDue && now >= nextSummary {
            summaryDue = false
            let begin = clock()
            publish(
                MetricSummary.summarize(Self.merge([Array(filePoints.points), eventPoints, csvPoints], stdout.points)))
            nextSummary = clock() + max(1, 10 * (clock() - begin))
        }
    }

    /// `MetricPoint.merge` of `sources` and the output scalars, without copying the output
    /// scalars (which may be millions) when they are the only source and in step order:
    /// then merge returns them as they are.
    static func merge(_ sources: [[MetricPoint]], _ stdout: MetricPoints) -> MetricPoints {
        if stdout.isInStepOrder && sources.allSatisfy(\.isEmpty) { return stdout }
        return MetricPoints(MetricPoint.merge(sources + [Array(stdout)]))
    }

    /// Stops watching, reads every source once more (the output scalars left in `lastOutput`
    /// included) and returns the run's metrics and file params.
    public func finish(lastOutput: MetricPoints) -> Result {
        if started {
            lock.lock()
            stopping = true
            lock.unlock()
            wake.signal()
            stopped.wait()
        }
        lock.lock()
        for batch in inbox { stdout.add(batch) }
        inbox = []
        lock.unlock()
        stdout.add(lastOutput)
        discover()
        readSources()
        let metrics = MetricsFile.parse([UInt8](FileManager.default.contents(atPath: metricsFile) ?? Data()))
        var warnings = eventReaders.keys.sorted().flatMap { eventReaders[$0]?.warnings ?? [] }
        var paramFiles: [String: [String: ParamValue]] = [:]
        for path in paramPaths.sorted() {
            do {
                paramFiles[MetricFileFinder.relative(path, to: repositoryRoot)] = try ParamsFile.load(path: path)
            } catch let error as ExpError {
                warnings.append(error.message)
            } catch {
                warnings.append("could not read \(path): \(error)")
            }
        }
        let points = Self.merge([metrics.points, eventPoints, csvPoints], stdout.takeAll())
        return Result(
            points: points, skippedMetricLines: metrics.skippedLines, paramFiles: paramFiles, warnings: warnings)
    }
}

/// Finds metric and params files a run writes under the repository, without walking data
/// folders needlessly.
///
/// Each scan lists the top of every root (the repository root and the command's folder) and
/// walks, depth first and at most 8 levels down:
/// - folders with a name logging tools use (`lightning_logs`, `logs`, `runs`, `outputs`,
///   `multirun`, `tb_logs`, `tensorboard`, `.hydra`, …), always;
/// - folders that did not exist when the run started, or whose entries changed since (a
///   `save_dir` the run created or wrote into).
///
/// Folders that never hold logs (`.git`, `node_modules`, `__pycache__`, virtual
/// environments, other hidden folders) are skipped, symbolic links are not followed, and a
/// scan looks at no more than 20,000 entries. A file counts when it was modified since the
/// run started: `metrics.csv`, `events.out.tfevents.*`, `hparams.yaml` beside either, and
/// `.hydra/config.yaml` / `.hydra/overrides.yaml`.
struct MetricFileFinder {
    enum Kind {
        case csv, events, params
    }

    struct Found: Hashable {
        var path: String
        var kind: Kind
    }

    static let logFolderNames: Set<String> = [
        "lightning_logs", "logs", "log", "runs", "outputs", "multirun", "tb_logs", "tensorboard", "tb", "csv_logs",
        "experiments", ".hydra",
    ]
    static let skippedNames: Set<String> = [
        ".git", "node_modules", "__pycache__", ".venv", "venv", ".tox", ".mypy_cache", ".pytest_cache",
        ".ipynb_checkpoints", "site-packages", ".cache",
    ]
    static let maxDepth = 8
    static let maxEntries = 20_000

    let roots: [String]
    let since: Double
    /// The folders at the top of each root when the run started.
    private let initial: [String: Set<String>]

    init(roots: [String], since: Double) {
        var seen = Set<String>()
        self.roots = roots.filter { seen.insert($0).inserted }
        self.since = since
        var initial: [String: Set<String>] = [:]
        for root in self.roots { initial[root] = Set(folderEntries(root).map(\.name)) }
        self.initial = initial
    }

    /// The files found now.
    func scan() -> [Found] {
        var found = Set<Found>()
        var budget = Self.maxEntries
        for root in roots {
            var later: [String] = []
            for entry in folderEntries(root) {
                budget -= 1
                let path = root + "/" + entry.name
                if entry.isFolder {
                    guard !Self.skippedNames.contains(entry.name) else { continue }
                    if Self.logFolderNames.contains(entry.name) {
                        walk(path, depth: 1, budget: &budget, into: &found)
                    } else if !entry.name.hasPrefix("."),
                        initial[root]?.contains(entry.name) == false || Self.modified(path, since: since)
                    {
                        later.append(path)
                    }
                } else {
                    consider(path, name: entry.name, into: &found)
                }
            }
            for path in later { walk(path, depth: 1, budget: &budget, into: &found) }
        }
        return found.sorted { $0.path < $1.path }
    }

    private func walk(_ folder: String, depth: Int, budget: inout Int, into found: inout Set<Found>) {
        guard depth <= Self.maxDepth, budget > 0 else { return }
        for entry in folderEntries(folder) {
            budget -= 1
            if budget <= 0 { return }
            let path = folder + "/" + entry.name
            if entry.isFolder {
                if Self.skippedNames.contains(entry.name) || (entry.name.hasPrefix(".") && entry.name != ".hydra") {
                    continue
                }
                walk(path, depth: depth + 1, budget: &budget, into: &found)
            } else {
                consider(path, name: entry.name, into: &found)
            }
        }
    }

    private func consider(_ path: String, name: String, into found: inout Set<Found>) {
        let kind: Kind
        if name == "metrics.csv" {
            kind = .csv
        } else if name.hasPrefix("events.out.tfevents.") {
            kind = .events
        } else if name == "config.yaml" || name == "overrides.yaml" {
            guard path.hasSuffix("/.hydra/" + name) else { return }
            kind = .params
        } else {
            return
        }
        guard Self.modified(path, since: since) else { return }
        found.insert(Found(path: path, kind: kind))
        if kind != .params {
            let hparams = String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) + "/hparams.yaml"
            if Self.modified(hparams, since: since) { found.insert(Found(path: hparams, kind: .params)) }
        }
    }

    /// Whether a file exists and was modified at or after `since`.
    static func modified(_ path: String, since: Double) -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else { return false }
        return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9 >= since
    }

    /// A file's modification time, seconds since the epoch (file system clock).
    static func modificationTime(_ path: String) -> Double? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }

    /// `path` relative to `root` when it is inside it.
    static func relative(_ path: String, to root: String) -> String {
        path.hasPrefix(root + "/") ? String(path.dropFirst(root.count + 1)) : path
    }
}
