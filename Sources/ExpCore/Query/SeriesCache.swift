import ExpGit
import Foundation

/// Sealed runs' series kept summarised (`SeriesSummary`, every key, at the fine resolution)
/// for records whose `metrics.jsonl` is large (`smallestKept`), beside the query index: `<git common dir>/exp/series/<blob>.<axis>`, where `<blob>` is the
/// id of the record's `metrics.jsonl`. A file is named by the bytes it summarises, so it can
/// never be stale: a record whose metrics change has another blob, and another file.
///
/// Local and rebuildable, never in git. A missing, truncated, corrupt or foreign file (of
/// another format version or resolution) is ignored and written again; a folder that cannot
/// be written to only means the series is read from the record every time.
///
/// File format (integers little-endian, doubles as their IEEE 754 bits):
/// `exp-series 1\n`, the axis (1 byte: 0 step, 1 epoch, 2 time), the resolution (u32), the
/// number of keys (u32), then per key: its name (u32 length, UTF-8 bytes), the finite,
/// non-finite and place-less counts (u64 each), the lowest and highest place (f64), and
/// either 0 and every point (u32 count, points) or 1, the first and last points and the
/// non-empty slices (u32 count; each: slice u32, smallest point, largest point); a point is
/// x, y (f64) and its index (u64). Last, the FNV-1a hash (u64) of all that comes before.
struct SeriesCache {
    /// The folder of the cache files.
    let directory: String

    /// The size from which a record's `metrics.jsonl` is worth a cache file (1 MiB, some
    /// 15,000 points): a smaller one is scanned in a few milliseconds, and a cache of every
    /// run's series would grow with the number of runs.
    static let smallestKept = 1 << 20

    /// The folder name under exp's state folder.
    static let folderName = "series"
    private static let magic = Array("exp-series 1\n".utf8)
    /// The most keys and points a file may claim (far above any real run; bounds the parser).
    private static let maximumKeys = 1_000_000
    private static let maximumNameBytes = 1 << 16

    init(stateDirectory: String) { directory = stateDirectory + "/" + Self.folderName }

    /// The file of the summaries of the blob `metrics` along `axis`.
    func path(metrics: ObjectID, axis: SeriesAxis) -> String { directory + "/" + metrics.hex + "." + axis.rawValue }

    /// The summaries kept for `metrics` along `axis`; nil when there is no usable file.
    func summaries(metrics: ObjectID, axis: SeriesAxis) -> [SeriesSummary]? {
        guard let data = FileManager.default.contents(atPath: path(metrics: metrics, axis: axis)) else { return nil }
        return Self.decode([UInt8](data), axis: axis)
    }

    /// Keeps `summaries` for `metrics` along `axis`, if the folder can be written to.
    func keep(_ summaries: [SeriesSummary], metrics: ObjectID, axis: SeriesAxis) {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try? FileReplacement.write(
            Self.encode(summaries, axis: axis), to: path(metrics: metrics, axis: axis), what: "the series cache")
    }

    // MARK: The format

    private static func axisCode(_ axis: SeriesAxis) -> UInt8 {
        switch axis {
        case .step: 0
        case .epoch: 1
        case .time: 2
        }
    }

    private static func hash(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// The bytes of a cache file.
    static func encode(_ summaries: [SeriesSummary], axis: SeriesAxis) -> [UInt8] {
        var out = magic
        func u32(_ value: Int) { withUnsafeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian) { out += $0 } }
        func u64(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        func f64(_ value: Double) { u64(value.bitPattern) }
        func point(_ point: SeriesSummary.Point) {
            f64(point.x)
            f64(point.y)
            u64(UInt64(point.index))
        }
        out.append(axisCode(axis))
        u32(SeriesDownsampling.resolution)
        u32(summaries.count)
        for summary in summaries {
            let name = Array(summary.key.utf8)
            u32(name.count)
            out += name
            u64(UInt64(summary.finite))
            u64(UInt64(summary.nonFinite))
            u64(UInt64(summary.withoutX))
            f64(summary.lower)
            f64(summary.upper)
            if let all = summary.all {
                out.append(0)
                u32(all.count)
                all.forEach(point)
            } else {
                out.append(1)
                for end in [summary.first, summary.last] { point(end ?? .init(x: 0, y: 0, index: 0)) }
                let slices = summary.low.indices.filter { summary.low[$0] != nil }
                u32(slices.count)
                for slice in slices {
                    guard let low = summary.low[slice], let high = summary.high[slice] else { continue }
                    u32(slice)
                    point(low)
                    point(high)
                }
            }
        }
        u64(hash(out[...]))
        return out
    }

    /// The summaries of a cache file's bytes; nil for anything but a whole, sound file of
    /// this format, resolution and axis.
    static func decode(_ bytes: [UInt8], axis: SeriesAxis) -> [SeriesSummary]? {
        guard bytes.count >= magic.count + 17, bytes.starts(with: magic) else { return nil }
        let body = bytes.count - 8
        var cursor = magic.count
        func u64() -> UInt64? {
            guard cursor + 8 <= body else { return nil }
            var value: UInt64 = 0
            for shift in 0..<8 { value |= UInt64(bytes[cursor + shift]) << (8 * shift) }
            cursor += 8
            return value
        }
        func u32() -> Int? {
            guard cursor + 4 <= body else { return nil }
            var value = 0
            for shift in 0..<4 { value |= Int(bytes[cursor + shift]) << (8 * shift) }
            cursor += 4
            return value
        }
        func byte() -> UInt8? {
            guard cursor < body else { return nil }
            cursor += 1
            return bytes[cursor - 1]
        }
        func count(_ bound: Int) -> Int? { u64().flatMap { $0 <= UInt64(bound) ? Int($0) : nil } }
        func place() -> Double? { u64().map(Double.init(bitPattern:)) }
        func point(limit: Int) -> SeriesSummary.Point? {
            guard let x = place(), let y = place(), x.isFinite, y.isFinite, let index = count(limit) else { return nil }
            return SeriesSummary.Point(x: x, y: y, index: index)
        }
        var stored: UInt64 = 0
        for shift in 0..<8 { stored |= UInt64(bytes[body + shift]) << (8 * shift) }
        guard stored == hash(bytes[..<body]) else { return nil }
        let resolution = SeriesDownsampling.resolution
        guard byte() == axisCode(axis), u32() == resolution, let keys = u32(), keys <= maximumKeys else { return nil }
        var summaries: [SeriesSummary] = []
        for _ in 0..<keys {
            guard let length = u32(), length <= maximumNameBytes, cursor + length <= body,
                let key = String(validating: bytes[cursor..<cursor + length], as: UTF8.self)
            else { return nil }
            cursor += length
            // No count above what the file could hold (a point is 24 bytes).
            guard let finite = count(Int(Int32.max)), let nonFinite = count(Int.max / 4),
                let withoutX = count(Int.max / 4), let lower = place(), let upper = place(), let mode = byte()
            else { return nil }
            let limit = finite + nonFinite + withoutX
            var summary = SeriesSummary(
                key: key, finite: finite, nonFinite: nonFinite, withoutX: withoutX, lower: lower, upper: upper,
                resolution: resolution)
            if finite > 0 { guard lower.isFinite, upper.isFinite, lower <= upper else { return nil } }
            let inRange = { (point: SeriesSummary.Point) in point.x >= lower && point.x <= upper }
            switch (mode, summary.all != nil) {
            case (0, true):
                guard u32() == finite, cursor + 24 * finite <= body else { return nil }
                var all: [SeriesSummary.Point] = []
                all.reserveCapacity(finite)
                for _ in 0..<finite {
                    guard let point = point(limit: limit), inRange(point) else { return nil }
                    all.append(point)
                }
                summary.all = all
            case (1, false):
                guard let first = point(limit: limit), let last = point(limit: limit), first.x == lower,
                    last.x == upper, let slices = u32(), slices <= resolution
                else { return nil }
                summary.first = first
                summary.last = last
                var previous = -1
                for _ in 0..<slices {
                    guard let slice = u32(), slice > previous, slice < resolution, let low = point(limit: limit),
                        let high = point(limit: limit), inRange(low), inRange(high), low.y <= high.y
                    else { return nil }
                    summary.low[slice] = low
                    summary.high[slice] = high
                    previous = slice
                }
            default:
                return nil
            }
            summaries.append(summary)
        }
        return cursor == body ? summaries : nil
    }
}

/// What `exp gc` removed (or would remove) of the series cache: the files of records no run
/// has any more.
public struct SeriesCachePruning: Sendable, Equatable {
    public var files = 0
    public var bytes: Int64 = 0
}

extension Workspace {
    /// Removes the series cache files (see `SeriesCache`) of `metrics.jsonl` blobs that no
    /// run's or autosave's record holds any more, and anything else in the cache's folder
    /// that is not a cache file (leftovers of an interrupted write a day old). With `dryRun`,
    /// only counts them. Every file of the cache can be made again: this never loses data.
    public func pruneSeriesCache(dryRun: Bool) throws -> SeriesCachePruning {
        let cache = SeriesCache(stateDirectory: stateDirectory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: cache.directory) else {
            return SeriesCachePruning()
        }
        let store = try RunStore.forReadingWorkspace(self)
        var kept = Set<String>()
        for (_, commit) in try store.runReferences(includeAutosaves: true) {
            guard let metrics = try? repository.fileID(atPath: LiveFolder.metricsFile, inCommit: commit) else {
                continue
            }
            for axis in SeriesAxis.allCases { kept.insert(metrics.hex + "." + axis.rawValue) }
        }
        let dayAgo = context.now().addingTimeInterval(-86_400)
        var pruning = SeriesCachePruning()
        for name in names.sorted() where !kept.contains(name) {
            let path = cache.directory + "/" + name
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                attributes[.type] as? FileAttributeType == .typeRegular
            else { continue }
            let isCacheFile = SeriesAxis.allCases.contains { name.hasSuffix("." + $0.rawValue) }
            if !isCacheFile, let modified = attributes[.modificationDate] as? Date, modified >= dayAgo { continue }
            if !dryRun { try? FileManager.default.removeItem(atPath: path) }
            pruning.files += 1
            pruning.bytes += (attributes[.size] as? NSNumber)?.int64Value ?? 0
        }
        return pruning
    }
}
