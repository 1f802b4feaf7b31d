import ExpGit
import Foundation

/// What a series is drawn along: the step, the epoch (when the run logs an `epoch` key), or
/// the wall time since the run's first point.
public enum SeriesAxis: String, Sendable, CaseIterable {
    case step, epoch, time
}

/// One point of a series: where it lies on the chosen axis, and its value.
public struct SeriesPoint: Sendable, Equatable {
    public var x: Double
    public var y: Double

    public init(x: Double, y: Double) {
        self.x = x
        self.y = y
    }
}

/// One run's values of one metric along an axis, downsampled to what a chart can show.
public struct MetricSeries: Sendable {
    /// The run the values come from.
    public var run: StoredRun
    public var key: String
    /// The points kept, in axis order: the first and the last, and in each bucket of the
    /// axis the smallest and the largest value (so spikes survive).
    public var points: [SeriesPoint]
    /// How many finite points the full series has on this axis.
    public var fullCount: Int
    /// Points left out because their value is NaN or infinite.
    public var nonFinite: Int
    /// Points left out because they have no place on the axis (no step, no time, no epoch).
    public var withoutX: Int
}

/// Which runs and keys to read, along which axis, and to how many buckets.
public struct SeriesRequest: Sendable {
    public var runs: [StoredRun]
    /// The keys wanted; empty for every key each run has.
    public var keys: [String]
    public var axis: SeriesAxis
    /// The number of buckets along the axis (about the chart's width in dots).
    public var buckets: Int
    /// The weight of an exponential moving average applied to the full series before
    /// downsampling, as TensorBoard's smoothing slider (0: none, towards 1: smoother).
    public var smoothing: Double

    public init(
        runs: [StoredRun], keys: [String], axis: SeriesAxis = .step, buckets: Int = 400, smoothing: Double = 0
    ) {
        self.runs = runs
        self.keys = keys
        self.axis = axis
        self.buckets = buckets
        self.smoothing = smoothing
    }
}

/// Keeping of a series' shape in few points.
///
/// The axis is cut into `resolution` (4,096) equal fine slices, and a chart's buckets are
/// runs of whole fine slices (bucket `j` of `n` holds the fine slices `k` with `k × n /
/// 4096 = j`), so buckets differ in width by at most one fine slice. That is what lets a
/// summary kept at the fine resolution (`SeriesSummary`, the series cache) answer any chart
/// of up to 4,096 buckets exactly as the full series does. Beyond 4,096 buckets, each
/// bucket is its own equal slice.
public enum SeriesDownsampling {
    /// The number of fine slices of the axis that buckets are made of.
    public static let resolution = 4096

    /// The fine resolution a series must be summarised at to give `buckets` buckets.
    static func resolution(for buckets: Int) -> Int { max(max(1, buckets), resolution) }

    /// The points of `points` (in axis order) kept for `buckets` buckets of the axis (see
    /// the type's note): the first and last point, and in each bucket the first point with
    /// the smallest and the first with the largest value, in their original order. A series
    /// of no more than `2 × buckets + 2` points is returned as it is.
    public static func downsample(_ points: [SeriesPoint], buckets: Int) -> [SeriesPoint] {
        let buckets = max(1, buckets)
        guard points.count > 2 * buckets + 2, let first = points.first, let last = points.last else {
            return points
        }
        var low = [Int](repeating: -1, count: buckets)
        var high = [Int](repeating: -1, count: buckets)
        for (index, point) in points.enumerated() {
            let bucket = Self.column(of: point.x, from: first.x, to: last.x, buckets: buckets)
            if low[bucket] < 0 || point.y < points[low[bucket]].y { low[bucket] = index }
            if high[bucket] < 0 || point.y > points[high[bucket]].y { high[bucket] = index }
        }
        var kept = Set([0, points.count - 1])
        for bucket in 0..<buckets where low[bucket] >= 0 {
            kept.insert(low[bucket])
            kept.insert(high[bucket])
        }
        return kept.sorted().map { points[$0] }
    }

    /// The bucket of `buckets` that `x` falls in, for downsampling `lower…upper`: the run of
    /// fine slices holding the fine slice of `x` (see the type's note).
    public static func column(of x: Double, from lower: Double, to upper: Double, buckets: Int) -> Int {
        let buckets = max(1, buckets)
        let fine = resolution(for: buckets)
        return bucket(of: x, from: lower, to: upper, buckets: fine) * buckets / fine
    }

    /// `points` smoothed as TensorBoard does: an exponential moving average with `weight`
    /// (0 ≤ weight < 1), debiased so the first values are not pulled towards zero.
    public static func smoothed(_ points: [SeriesPoint], weight: Double) -> [SeriesPoint] {
        let weight = min(max(weight, 0), 0.999)
        var last = 0.0
        var count = 0.0
        return points.map { point in
            count += 1
            last = last * weight + (1 - weight) * point.y
            let debias = 1 - pow(weight, count)
            return SeriesPoint(x: point.x, y: debias > 0 ? last / debias : point.y)
        }
    }

    /// The slice `x` falls in when `lower…upper` is cut into `buckets` equal slices (a
    /// sparkline's slices; downsampling uses `column(of:from:to:buckets:)`).
    public static func bucket(of x: Double, from lower: Double, to upper: Double, buckets: Int) -> Int {
        guard upper > lower else { return 0 }
        let position = (x - lower) / (upper - lower) * Double(buckets)
        guard position.isFinite else { return 0 }
        return min(buckets - 1, max(0, Int(position)))
    }
}

extension RunStore {
    /// Each run's series of each key asked for (or of every key it has), along the axis,
    /// downsampled to the request's buckets. Reads the sealed `metrics.jsonl`, or the live
    /// files of a run still going. A run without a key simply has no series for it.
    ///
    /// A sealed run's series, unsmoothed and of up to 4,096 buckets, come from the series
    /// cache (`SeriesCache`), filled on first use with every key's summary when its
    /// `metrics.jsonl` is large (`SeriesCache.smallestKept`); otherwise its
    /// `metrics.jsonl` is scanned twice as bytes (`SeriesScan`), never made into points. Both
    /// give the same points. Sealed runs are read on all cores (a repository handle each); a
    /// live run's files, and what the scan leaves to them (the epoch axis), are read as points.
    public func series(_ request: SeriesRequest) throws -> [MetricSeries] {
        try series(request, cachingFrom: SeriesCache.smallestKept)
    }

    /// `series(_:)`, keeping a cache file for records whose `metrics.jsonl` has at least
    /// `smallestKept` bytes.
    func series(_ request: SeriesRequest, cachingFrom smallestKept: Int) throws -> [MetricSeries] {
        let sealed = request.runs.enumerated().filter { !$0.element.isLive }
        let gitDirectory = repository.gitDirectory
        var byRun: [Int: [MetricSeries]] = [:]
        if request.smoothing == 0 && request.buckets <= SeriesDownsampling.resolution {
            // Each record's metrics blob once, however many runs share it (so no two threads
            // write one cache file).
            var runsOf: [ObjectID: [Int]] = [:]
            for (position, run) in sealed {
                if let metrics = try? repository.fileID(atPath: LiveFolder.metricsFile, inCommit: run.commit) {
                    runsOf[metrics, default: []].append(position)
                }
            }
            let blobs = Array(runsOf.keys)
            let cache = SeriesCache(stateDirectory: workspace.stateDirectory)
            let axis = request.axis
            let keys = request.keys
            let summaries = parallelMap(blobs, perWorker: 1) { metrics -> [SeriesSummary]? in
                if let kept = cache.summaries(metrics: metrics, axis: axis) { return kept }
                guard let repository = try? Repository.discover(from: gitDirectory),
                    let bytes = try? repository.blobContents(metrics)
                else { return nil }
                // A small record is read again each time: quicker than a file to keep.
                guard bytes.count >= smallestKept else {
                    return Self.summaries(of: bytes, keys: keys, axis: axis)
                }
                let made = Self.summaries(of: bytes, keys: [], axis: axis)
                cache.keep(made, metrics: metrics, axis: axis)
                return made
            }
            for (metrics, found) in zip(blobs, summaries) {
                guard let found else { continue }
                for position in runsOf[metrics] ?? [] {
                    byRun[position] = Self.series(of: request.runs[position], summaries: found, request: request)
                }
            }
        } else {
            let scanned = parallelMap(sealed.map(\.element), perWorker: 1) { run -> [MetricSeries]? in
                guard let repository = try? Repository.discover(from: gitDirectory),
                    let bytes = try? repository.fileContents(atPath: LiveFolder.metricsFile, inCommit: run.commit)
                else { return nil }
                return SeriesScan.series(of: run, bytes: bytes, request: request)
            }
            for (position, found) in zip(sealed.map(\.offset), scanned) { byRun[position] = found }
        }
        var result: [MetricSeries] = []
        for (position, run) in request.runs.enumerated() {
            if let found = byRun[position] {
                result += found
            } else {
                result += Self.series(of: run, points: try metricPoints(of: run), request: request)
            }
        }
        return result
    }

    /// Fills the series cache of the sealed record at `commit` along `axis`, when its
    /// `metrics.jsonl` is large enough to be kept (`SeriesCache.smallestKept`) and no cache file
    /// exists yet: so the first plot of a long run is read from the cache too. Errors are
    /// ignored: the cache is only ever a shortcut.
    func keepSeriesSummaries(ofRecord commit: ObjectID, axis: SeriesAxis = .step) {
        guard let metrics = try? repository.fileID(atPath: LiveFolder.metricsFile, inCommit: commit) else { return }
        let cache = SeriesCache(stateDirectory: workspace.stateDirectory)
        guard !FileManager.default.fileExists(atPath: cache.path(metrics: metrics, axis: axis)),
            let bytes = try? repository.blobContents(metrics), bytes.count >= SeriesCache.smallestKept
        else { return }
        cache.keep(Self.summaries(of: bytes, keys: [], axis: axis), metrics: metrics, axis: axis)
    }

    /// The summaries of the `keys` (empty: every key, by name), at the fine resolution and
    /// unsmoothed, of the `metrics.jsonl` that holds `bytes` (of every key: what the series
    /// cache keeps).
    static func summaries(of bytes: [UInt8], keys: [String], axis: SeriesAxis) -> [SeriesSummary] {
        SeriesScan.summaries(
            of: bytes, keys: keys, axis: axis, smoothing: 0, resolution: SeriesDownsampling.resolution)
            ?? summaries(
                of: MetricsFile.decode(bytes), keys: keys, axis: axis, smoothing: 0,
                resolution: SeriesDownsampling.resolution)
    }

    /// The series of `request` from a run's summaries of every key.
    static func series(of run: StoredRun, summaries: [SeriesSummary], request: SeriesRequest) -> [MetricSeries] {
        let chosen =
            request.keys.isEmpty
            ? summaries : request.keys.compactMap { key in summaries.first { $0.key == key } }
        return chosen.map { summary in
            MetricSeries(
                run: run, key: summary.key, points: summary.points(buckets: request.buckets),
                fullCount: summary.finite, nonFinite: summary.nonFinite, withoutX: summary.withoutX)
        }
    }

    /// The series of one run's points (the pure part of `series(_:)`).
    static func series(of run: StoredRun, points: [MetricPoint], request: SeriesRequest) -> [MetricSeries] {
        let summaries = summaries(
            of: points, keys: request.keys, axis: request.axis, smoothing: request.smoothing,
            resolution: SeriesDownsampling.resolution(for: request.buckets))
        return summaries.map { summary in
            MetricSeries(
                run: run, key: summary.key, points: summary.points(buckets: request.buckets),
                fullCount: summary.finite, nonFinite: summary.nonFinite, withoutX: summary.withoutX)
        }
    }

    /// The summaries at `resolution` of the `keys` (empty: every key, by name) of `points`
    /// along `axis`, smoothed with weight `smoothing` (see `SeriesRequest`).
    static func summaries(
        of points: [MetricPoint], keys: [String], axis: SeriesAxis, smoothing: Double, resolution: Int
    ) -> [SeriesSummary] {
        var byKey: [String: [MetricPoint]] = [:]
        var order: [String] = []
        let wanted = Set(keys)
        for point in points where wanted.isEmpty || wanted.contains(point.key) {
            if byKey[point.key] == nil { order.append(point.key) }
            byKey[point.key, default: []].append(point)
        }
        let keys = keys.isEmpty ? order.sorted() : keys.filter { byKey[$0] != nil }
        // The epoch at each step, from an `epoch` key; the run's first time.
        var epochAtStep: [Double: Double] = [:]
        if axis == .epoch {
            for point in points where point.key == "epoch" && point.value.isFinite {
                if let step = point.step { epochAtStep[step] = point.value }
            }
        }
        let start = points.compactMap(\.time).filter(\.isFinite).min() ?? 0
        return keys.map { key in
            let all = byKey[key] ?? []
            let hasSteps = all.contains { $0.step != nil }
            var nonFinite = 0
            var withoutX = 0
            var line: [SeriesPoint] = []
            line.reserveCapacity(all.count)
            for (index, point) in all.enumerated() {
                var x: Double?
                switch axis {
                case .step: x = hasSteps ? point.step : Double(index)
                case .epoch: x = point.step.flatMap { epochAtStep[$0] }
                case .time: x = point.time.map { $0 - start }
                }
                guard let x, x.isFinite else {
                    withoutX += 1
                    continue
                }
                guard point.value.isFinite else {
                    nonFinite += 1
                    continue
                }
                line.append(SeriesPoint(x: x, y: point.value))
            }
            // Points come in step order; along time or epoch, sort them, keeping equal ones in order.
            line = stableSorted(line)
            if smoothing > 0 { line = SeriesDownsampling.smoothed(line, weight: smoothing) }
            return SeriesSummary(
                key: key, line: line, nonFinite: nonFinite, withoutX: withoutX, resolution: resolution)
        }
    }

    private static func stableSorted(_ points: [SeriesPoint]) -> [SeriesPoint] {
        var sorted = true
        for index in points.indices.dropFirst() where points[index].x < points[index - 1].x {
            sorted = false
            break
        }
        if sorted { return points }
        return points.enumerated().sorted { ($0.element.x, $0.offset) < ($1.element.x, $1.offset) }.map(\.element)
    }
}

extension RunStore {
    /// The metric keys of `runs`: a sealed run's from its record's summary (its points are
    /// not read), a live run's from its live files.
    public func metricKeys(of runs: [StoredRun]) throws -> Set<String> {
        var keys = Set<String>()
        for run in runs {
            if run.isLive {
                keys.formUnion(try metricPoints(of: run).map(\.key))
            } else if !run.record.metrics.isEmpty {
                keys.formUnion(run.record.metrics.keys)
            } else {
                keys.formUnion(try series(SeriesRequest(runs: [run], keys: [], buckets: 1)).map(\.key))
            }
        }
        return keys
    }
}

extension Workspace {
    /// The series of `request` (see `RunStore.series(_:)`), for a caller that holds only the
    /// workspace (the command line, the web UI).
    public func metricSeries(_ request: SeriesRequest) throws -> [MetricSeries] {
        try RunStore(workspace: self).series(request)
    }
}

extension Workspace {
    /// Writes a file the user asked for (a picture, an export) whole: to a temp name beside
    /// it, then renamed over `path` (relative to the context's working folder).
    public func writeRequestedFile(_ bytes: [UInt8], to path: String, what: String) throws {
        let full = path.hasPrefix("/") ? path : context.workingDirectory + "/" + path
        try FileReplacement.write(bytes, to: full, what: what)
    }
}
