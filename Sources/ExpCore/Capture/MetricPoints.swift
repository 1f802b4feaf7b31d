#if canImport(Glibc)
    import Glibc
#endif

/// Metric points stored compactly, for runs that log millions of them: keys interned, each
/// point 32 bytes, kept in fixed-size chunks so that growing never copies (or doubles) what
/// is held. Reads as a collection of `MetricPoint`, in the order added.
///
/// Made with a spill file (`init(spillingTo:)`), all but the newest chunks live in that file
/// instead of memory: exp's memory then stays flat however many points a run logs. Copies
/// share the spilled part, so only one copy may change points once spilled (the watcher's
/// log does; the copies it hands out are read).
public struct MetricPoints: RandomAccessCollection, Sendable {
    /// One point: the key as an index into `keys`, the flags say which optionals are set.
    struct Record {
        var value: Double
        var step: Double
        var time: Double
        var key: UInt32
        var flags: UInt8

        static let hasStep: UInt8 = 1
        static let hasTime: UInt8 = 2
        /// The source takes the bits from 2 on.
        static let sourceShift: UInt8 = 2

        init(value: Double, step: Double, time: Double, key: UInt32, flags: UInt8) {
            self.value = value
            self.step = step
            self.time = time
            self.key = key
            self.flags = flags
        }

        init(key: UInt32, step: Double?, time: Double?, value: Double, source: MetricSource) {
            var flags = MetricPoints.sourceNumber(source) << Self.sourceShift
            if step != nil { flags |= Self.hasStep }
            if time != nil { flags |= Self.hasTime }
            self.init(value: value, step: step ?? 0, time: time ?? 0, key: key, flags: flags)
        }

        var optionalStep: Double? { flags & Self.hasStep != 0 ? step : nil }
        var optionalTime: Double? { flags & Self.hasTime != 0 ? time : nil }
        var source: MetricSource { MetricPoints.source(flags >> Self.sourceShift) }
    }

    static let chunkSize = 16 * 1024

    private var chunks: [[Record]] = []
    /// Keys by index, and indices by key.
    private(set) var keys: [String] = []
    private var keyIndex: [String: UInt32] = [:]
    public private(set) var count = 0
    /// Whether the points are in step order (points without a step first), as
    /// `MetricPoint.merge` orders them; steps never change once added, so this stays true.
    public private(set) var isInStepOrder = true
    private var lastStep = -Double.infinity
    /// Chunks below this index are in `spill` (their arrays here empty).
    private var spilled = 0
    private var spill: Spill?

    public init() {}

    /// Points kept in memory only for the newest chunks; the others go to a file made at
    /// `path` (removed at once: it lives as long as the open descriptor). Without a file
    /// (it could not be made) all stay in memory.
    public init(spillingTo path: String) {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        if fd >= 0 {
            unlink(path)
            spill = Spill(fd: fd)
        }
    }

    /// The file behind spilled chunks, with the one chunk read last.
    final class Spill: @unchecked Sendable {
        let fd: Int32
        var failed = false
        var cachedChunk = -1
        var cache: [Record] = []

        init(fd: Int32) { self.fd = fd }
        deinit { close(fd) }

        static let chunkBytes = MetricPoints.chunkSize * MemoryLayout<Record>.stride

        func write(_ records: [Record], chunk: Int) -> Bool {
            records.withUnsafeBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let written = pwrite(
                        fd, bytes.baseAddress! + done, bytes.count - done, off_t(chunk * Self.chunkBytes + done))
                    if written <= 0 { return false }
                    done += written
                }
                return true
            }
        }

        func read(chunk: Int, at offset: Int) -> Record {
            if cachedChunk != chunk {
                read(chunk: chunk, into: &cache)
                cachedChunk = chunk
            }
            return cache[offset]
        }

        /// Reads a whole spilled chunk into `buffer` (its own: safe from several threads).
        func read(chunk: Int, into buffer: inout [Record]) {
            if buffer.count != MetricPoints.chunkSize {
                buffer = [Record](
                    repeating: Record(value: 0, step: 0, time: 0, key: 0, flags: 0), count: MetricPoints.chunkSize)
            }
            buffer.withUnsafeMutableBytes { bytes in
                var done = 0
                while done < bytes.count {
                    let got = pread(
                        fd, bytes.baseAddress! + done, bytes.count - done, off_t(chunk * Self.chunkBytes + done))
                    if got <= 0 { break }
                    done += got
                }
            }
        }

        func replace(_ record: Record, chunk: Int, at offset: Int) {
            var record = record
            _ = withUnsafeBytes(of: &record) { bytes in
                pwrite(
                    fd, bytes.baseAddress!, MemoryLayout<Record>.size,
                    off_t(chunk * Self.chunkBytes + offset * MemoryLayout<Record>.stride))
            }
            if cachedChunk == chunk { cache[offset] = record }
        }
    }

    private func stored(_ position: Int) -> Record {
        let chunk = position / Self.chunkSize
        if chunk < spilled, let spill { return spill.read(chunk: chunk, at: position % Self.chunkSize) }
        return chunks[chunk][position % Self.chunkSize]
    }

    public init<S: Sequence<MetricPoint>>(_ points: S) {
        for point in points { append(point) }
    }

    /// No points yet, with `keys` interned in this order (key number i is `keys[i]`).
    init(keys: [String]) {
        for key in keys { _ = keyNumber(key) }
    }

    /// The stored form of the point at `position`.
    func record(at position: Int) -> Record { stored(position) }

    /// Calls `body` with every stored point in order, reading spilled chunks one after the
    /// other (faster than subscripting for millions of points).
    func forEachRecord(_ body: (Record) -> Void) {
        forEachRecord(in: 0..<count, body)
    }

    /// Calls `body` with the stored points at `range`, in order. Safe to call from several
    /// threads at once (spilled chunks are read into the caller's own buffer).
    func forEachRecord(in range: Range<Int>, _ body: (Record) -> Void) {
        guard !range.isEmpty else { return }
        var buffer: [Record] = []
        for chunk in (range.lowerBound / Self.chunkSize)...((range.upperBound - 1) / Self.chunkSize) {
            let first = chunk * Self.chunkSize
            let lower = Swift.max(range.lowerBound, first) - first
            let upper = Swift.min(range.upperBound, first + Self.chunkSize) - first
            let offsets = lower..<upper
            if chunk < spilled, let spill {
                spill.read(chunk: chunk, into: &buffer)
                for offset in offsets { body(buffer[offset]) }
            } else {
                for offset in offsets { body(chunks[chunk][offset]) }
            }
        }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> MetricPoint {
        get {
            let record = stored(position)
            return MetricPoint(
                key: keys[Int(record.key)], step: record.optionalStep, time: record.optionalTime, value: record.value,
                source: record.source)
        }
        set {
            // The step stays what it was (callers replace a point of the same key and step).
            replace(at: position, with: record(newValue))
        }
    }

    /// The index of a key, interned on first use.
    mutating func keyNumber(_ key: String) -> UInt32 {
        if let number = keyIndex[key] { return number }
        let number = UInt32(keys.count)
        keys.append(key)
        keyIndex[key] = number
        return number
    }

    /// The key number of the point at `position`.
    func keyNumber(at position: Int) -> UInt32 { stored(position).key }

    /// The step of the point at `position`.
    func step(at position: Int) -> Double? {
        let record = stored(position)
        return record.flags & Record.hasStep != 0 ? record.step : nil
    }

    public mutating func append(_ point: MetricPoint) {
        append(record(point))
    }

    /// Appends a stored point whose key number is one of these points' own.
    mutating func append(_ new: Record) {
        let step = new.optionalStep ?? -.infinity
        if lastStep > step { isInStepOrder = false }  // the check merge makes
        lastStep = step
        if chunks.last.map({ $0.count == Self.chunkSize }) ?? true {
            // The newest two chunks stay in memory (a replaced point is nearly always there).
            if let spill, !spill.failed, chunks.count - spilled >= 2 {
                if spill.write(chunks[spilled], chunk: spilled) {
                    chunks[spilled] = []
                    spilled += 1
                } else {
                    spill.failed = true
                }
            }
            var chunk: [Record] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(new)
        count += 1
    }

    /// Replaces the stored point at `position` (same step; see the subscript's setter).
    mutating func replace(at position: Int, with new: Record) {
        let chunk = position / Self.chunkSize
        if chunk < spilled, let spill {
            spill.replace(new, chunk: chunk, at: position % Self.chunkSize)
        } else {
            chunks[chunk][position % Self.chunkSize] = new
        }
    }

    private mutating func record(_ point: MetricPoint) -> Record {
        Record(key: keyNumber(point.key), step: point.step, time: point.time, value: point.value, source: point.source)
    }

    static func sourceNumber(_ source: MetricSource) -> UInt8 {
        switch source {
        case .file: 0
        case .tensorboard: 1
        case .csv: 2
        case .stdout: 3
        }
    }

    static func source(_ number: UInt8) -> MetricSource {
        switch number {
        case 0: .file
        case 1: .tensorboard
        case 2: .csv
        default: .stdout
        }
    }
}
