import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The series of runs read again and again while they run (`exp plot --follow`, the web
/// UI's live charts): a sealed run's are read once; a live run's come from only what its
/// live files gained since the last read, kept as a fixed number of buckets per series (the
/// smallest and largest value in each), so each read costs what was appended, not the run.
///
/// A live run's key drawn from several sources (its metrics file, TensorBoard or Lightning
/// files, its output) is drawn from the preferred one alone (file, tensorboard, csv,
/// stdout), where the sealed record merges them step by step.
public final class SeriesFollower {
    private let store: RunStore
    private let request: SeriesRequest
    /// Sealed runs' series, by run id.
    private var sealed: [String: [MetricSeries]] = [:]
    /// Live runs' reading state, by run id.
    private var live: [String: LiveSeries] = [:]

    /// A follower of the keys, axis, buckets and smoothing of `request` (its runs are the
    /// ones given to each `series(of:)`).
    public init(store: RunStore, request: SeriesRequest) {
        self.store = store
        self.request = request
    }

    /// The series of `runs` as they are now.
    public func series(of runs: [StoredRun]) throws -> [MetricSeries] {
        var result: [MetricSeries] = []
        for run in runs {
            let id = run.record.id.rawValue
            if !run.isLive || request.axis == .epoch {
                if let found = sealed[id], !run.isLive {
                    result += found
                    continue
                }
                var one = request
                one.runs = [run]
                let found = try store.series(one)
                if !run.isLive {
                    sealed[id] = found
                    live[id] = nil
                }
                result += found
                continue
            }
            let state = live[id] ?? LiveSeries(directory: store.liveDirectory(run.record.id), request: request)
            live[id] = state
            state.read()
            result += state.series(of: run)
        }
        return result
    }
}

/// One live run's series, grown from the appended part of its live files.
final class LiveSeries {
    private let directory: String
    private let request: SeriesRequest
    private let wanted: Set<String>?
    /// Bytes of the metrics file read (up to the last whole line).
    private var metricsOffset: UInt64 = 0
    /// Bytes of the output scalars' points file read (whole records).
    private var stdoutOffset: UInt64 = 0
    private var stdoutKeys: [String] = []
    /// Size and modification time of the imported file when last read (it is replaced whole).
    private var importedStamp: (Int64, Int) = (-1, -1)
    /// The series by key and source.
    private var series: [SourcedKey: GrowingSeries] = [:]
    /// The run's first time (for the time axis).
    private var start = Double.infinity

    struct SourcedKey: Hashable {
        var key: String
        var source: MetricSource
    }

    init(directory: String, request: SeriesRequest) {
        self.directory = directory
        self.request = request
        wanted = request.keys.isEmpty ? nil : Set(request.keys)
    }

    /// Reads what the live files gained.
    func read() {
        // the metrics file the command appends to.
        readAppended(LiveFolder.metricsFile, offset: &metricsOffset, unit: 1) { bytes in
            var consumed = 0
            bytes.withUnsafeBufferPointer { all in
                guard let base = all.baseAddress else { return }
                var lineStart = 0
                while lineStart < all.count, let newline = memchr(base + lineStart, 10, all.count - lineStart) {
                    let end = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(newline))
                    if end > lineStart {
                        let line = UnsafeBufferPointer(rebasing: all[lineStart..<end])
                        for point in FlatMetricLine.points(line) { add(point) }
                    }
                    lineStart = end + 1
                }
                consumed = lineStart
            }
            return consumed
        }
        // the output scalars, as `LiveScalarFile` writes them.
        let stride = MemoryLayout<MetricPoints.Record>.stride
        readAppended(LiveFolder.stdoutPointsFile, offset: &stdoutOffset, unit: stride) { bytes in
            let whole = bytes.count / stride * stride
            bytes.withUnsafeBytes { raw in
                for offset in Swift.stride(from: 0, to: whole, by: stride) {
                    let record = raw.loadUnaligned(fromByteOffset: offset, as: MetricPoints.Record.self)
                    if Int(record.key) >= stdoutKeys.count { readStdoutKeys() }
                    guard Int(record.key) < stdoutKeys.count else { continue }
                    add(
                        MetricPoint(
                            key: stdoutKeys[Int(record.key)], step: record.optionalStep, time: record.optionalTime,
                            value: record.value, source: .stdout))
                }
            }
            return whole
        }
        // the points imported from TensorBoard and Lightning files (replaced whole).
        let importedPath = directory + "/" + LiveFolder.importedMetricsFile
        var status = stat()
        if stat(importedPath, &status) == 0 {
            let stamp = (
                Int64(status.st_size), Int(status.st_mtim.tv_sec) * 1_000_000_000 + Int(status.st_mtim.tv_nsec)
            )
            if stamp != importedStamp {
                importedStamp = stamp
                series = series.filter { $0.key.source == .file || $0.key.source == .stdout }
                let bytes = [UInt8](FileManager.default.contents(atPath: importedPath) ?? Data())
                for point in MetricsFile.decode(bytes) { add(point) }
            }
        }
    }

    private func readStdoutKeys() {
        // the output scalars' keys.
        let bytes = FileManager.default.contents(atPath: directory + "/" + LiveFolder.stdoutKeysFile) ?? Data()
        var names = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        if !names.isEmpty { names.removeLast() }
        stdoutKeys = names
    }

    /// Reads `name` from `offset` to its end; `use` returns how many bytes it used (whole
    /// lines or records), and the offset moves by that.
    private func readAppended(_ name: String, offset: inout UInt64, unit: Int, _ use: ([UInt8]) -> Int) {
        guard let handle = FileHandle(forReadingAtPath: directory + "/" + name) else { return }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil,
            let data = try? handle.readToEnd(), data.count >= unit
        else { return }
        offset += UInt64(use([UInt8](data)))
    }

    private func add(_ point: MetricPoint) {
        if let time = point.time, time.isFinite, time < start { start = time }
        guard wanted?.contains(point.key) ?? true else { return }
        let slot = SourcedKey(key: point.key, source: point.source)
        var grown = series[slot] ?? GrowingSeries(smoothing: request.smoothing)
        var x: Double?
        switch request.axis {
        case .step:
            if let step = point.step {
                grown.hasSteps = true
                x = step
            } else if !grown.hasSteps {
                x = Double(grown.index)
            }
        case .time, .epoch: x = point.time
        }
        grown.index += 1
        grown.add(x: x, y: point.value)
        series[slot] = grown
    }

    /// The series now, one per key (from its preferred source).
    func series(of run: StoredRun) -> [MetricSeries] {
        var best: [String: SourcedKey] = [:]
        for slot in series.keys where best[slot.key].map({ slot.source < $0.source }) ?? true { best[slot.key] = slot }
        let keys = request.keys.isEmpty ? best.keys.sorted() : request.keys.filter { best[$0] != nil }
        let shift = request.axis == .time && start.isFinite ? start : 0
        return keys.compactMap { key in
            guard let slot = best[key], let grown = series[slot] else { return nil }
            let points = grown.points().map { SeriesPoint(x: $0.x - shift, y: $0.y) }
            return MetricSeries(
                run: run, key: key, points: SeriesDownsampling.downsample(points, buckets: request.buckets),
                fullCount: grown.count, nonFinite: grown.nonFinite, withoutX: grown.withoutX)
        }
    }
}

/// A series that grows point by point in fixed memory: the points themselves while they are
/// few, then the first and last point and the smallest and largest value in each of a fixed
/// number of equal slices of the axis; when a point falls past the last slice, the slices
/// double in width (two neighbours merged into one).
struct GrowingSeries {
    static let slices = 1024

    var hasSteps = false
    /// Points given (the x of a key without steps).
    var index = 0
    var count = 0
    var nonFinite = 0
    var withoutX = 0
    private let smoothing: Double
    private var smoothed = 0.0
    private var smoothedCount = 0.0
    private var exact: [SeriesPoint]? = []
    private var origin = 0.0
    private var width = 1.0
    private var low: [SeriesPoint?] = []
    private var high: [SeriesPoint?] = []
    private var first: SeriesPoint?
    private var last: SeriesPoint?

    init(smoothing: Double) { self.smoothing = min(max(smoothing, 0), 0.999) }

    mutating func add(x: Double?, y: Double) {
        guard let x, x.isFinite else {
            withoutX += 1
            return
        }
        guard y.isFinite else {
            nonFinite += 1
            return
        }
        count += 1
        var y = y
        if smoothing > 0 {
            smoothedCount += 1
            smoothed = smoothed * smoothing + (1 - smoothing) * y
            let debias = 1 - pow(smoothing, smoothedCount)
            if debias > 0 { y = smoothed / debias }
        }
        let point = SeriesPoint(x: x, y: y)
        if first.map({ x < $0.x }) ?? true { first = point }
        if last.map({ x >= $0.x }) ?? true { last = point }
        if exact != nil {
            exact?.append(point)
            if (exact?.count ?? 0) > 4 * Self.slices { makeSlices() }
            return
        }
        place(point)
    }

    private mutating func makeSlices() {
        let points = exact ?? []
        exact = nil
        let lower = points.map(\.x).min() ?? 0
        let upper = points.map(\.x).max() ?? 0
        origin = lower
        width = upper > lower ? (upper - lower) / Double(Self.slices - 1) : 1
        low = [SeriesPoint?](repeating: nil, count: Self.slices)
        high = low
        for point in points { place(point) }
    }

    private mutating func place(_ point: SeriesPoint) {
        var slice = max(0, Int(((point.x - origin) / width).rounded(.down)))
        while slice >= Self.slices {
            widen()
            slice = max(0, Int(((point.x - origin) / width).rounded(.down)))
        }
        if low[slice].map({ point.y < $0.y }) ?? true { low[slice] = point }
        if high[slice].map({ point.y > $0.y }) ?? true { high[slice] = point }
    }

    /// Slices twice as wide: slice i takes what slices 2i and 2i+1 held.
    private mutating func widen() {
        width *= 2
        for slice in 0..<Self.slices {
            let pair = (2 * slice < Self.slices) ? [low[2 * slice], low[2 * slice + 1]] : []
            let highs = (2 * slice < Self.slices) ? [high[2 * slice], high[2 * slice + 1]] : []
            low[slice] = pair.compactMap { $0 }.min { $0.y < $1.y }
            high[slice] = highs.compactMap { $0 }.max { $0.y < $1.y }
        }
    }

    /// The points kept, in axis order.
    func points() -> [SeriesPoint] {
        if let exact {
            return exact.enumerated().sorted { ($0.element.x, $0.offset) < ($1.element.x, $1.offset) }.map(\.element)
        }
        var kept = [first, last].compactMap { $0 }
        for slice in 0..<Self.slices {
            if let point = low[slice] { kept.append(point) }
            if let point = high[slice] { kept.append(point) }
        }
        kept.sort { ($0.x, $0.y) < ($1.x, $1.y) }
        var result: [SeriesPoint] = []
        for point in kept where result.last != point { result.append(point) }
        return result
    }
}

/// A line of a run's own metrics file read by hand when it is a flat object of numbers
/// (`{"step": 3, "loss": 0.25}`, the common case), as `MetricsFile.parseLine` reads it; any
/// other line through `parseLine` itself.
enum FlatMetricLine {
    static func points(_ line: UnsafeBufferPointer<UInt8>) -> [MetricPoint] {
        if let fields = fields(line) {
            var step: Double?
            var time: Double?
            for key in MetricsFile.stepKeys where step == nil { step = fields.first { $0.0 == key }?.1 }
            for key in MetricsFile.timeKeys where time == nil { time = fields.first { $0.0 == key }?.1 }
            let names = Set(fields.map(\.0))
            if names.count == fields.count {
                return fields.filter { !MetricsFile.stepKeys.contains($0.0) && !MetricsFile.timeKeys.contains($0.0) }
                    .sorted { $0.0 < $1.0 }
                    .map { MetricPoint(key: $0.0, step: step, time: time, value: $0.1, source: .file) }
            }
        }
        if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { return [] }
        return MetricsFile.parseLine(Data(buffer: line)) ?? []
    }

    /// The fields of `{"name": number, …}` (no escapes, no other values), or nil.
    private static func fields(_ line: UnsafeBufferPointer<UInt8>) -> [(String, Double)]? {
        guard let base = line.baseAddress else { return nil }
        let end = line.count
        var cursor = 0
        func skipSpace() {
            while cursor < end, [32, 9, 13].contains(base[cursor]) { cursor += 1 }
        }
        skipSpace()
        guard cursor < end, base[cursor] == UInt8(ascii: "{") else { return nil }
        cursor += 1
        var fields: [(String, Double)] = []
        skipSpace()
        if cursor < end, base[cursor] == UInt8(ascii: "}") {
            cursor += 1
            skipSpace()
            return cursor == end ? [] : nil
        }
        while true {
            skipSpace()
            guard cursor < end, base[cursor] == UInt8(ascii: "\"") else { return nil }
            cursor += 1
            let nameStart = cursor
            while cursor < end, base[cursor] != UInt8(ascii: "\"") {
                if base[cursor] == UInt8(ascii: "\\") || base[cursor] < 0x20 { return nil }
                cursor += 1
            }
            guard cursor < end else { return nil }
            let name = String(
                decoding: UnsafeBufferPointer(start: base + nameStart, count: cursor - nameStart), as: UTF8.self)
            cursor += 1
            skipSpace()
            guard cursor < end, base[cursor] == UInt8(ascii: ":") else { return nil }
            cursor += 1
            skipSpace()
            guard cursor < end, let value = MetricLineReader.number(base, end, &cursor) else { return nil }
            fields.append((name, value))
            skipSpace()
            guard cursor < end else { return nil }
            if base[cursor] == UInt8(ascii: ",") {
                cursor += 1
                continue
            }
            guard base[cursor] == UInt8(ascii: "}") else { return nil }
            cursor += 1
            skipSpace()
            return cursor == end ? fields : nil
        }
    }
}
