/// Metric points stored compactly, for runs that log millions of them: keys interned, each
/// point 32 bytes, kept in fixed-size chunks so that growing never copies (or doubles) what
/// is held. Reads as a collection of `MetricPoint`, in the order added.
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

    public init() {}

    public init<S: Sequence<MetricPoint>>(_ points: S) {
        for point in points { append(point) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(position: Int) -> MetricPoint {
        get {
            let record = chunks[position / Self.chunkSize][position % Self.chunkSize]
            return MetricPoint(
                key: keys[Int(record.key)], step: record.flags & Record.hasStep != 0 ? record.step : nil,
                time: record.flags & Record.hasTime != 0 ? record.time : nil, value: record.value,
                source: Self.source(record.flags >> Record.sourceShift))
        }
        set {
            // The step stays what it was (callers replace a point of the same key and step).
            chunks[position / Self.chunkSize][position % Self.chunkSize] = record(newValue)
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
    func keyNumber(at position: Int) -> UInt32 { chunks[position / Self.chunkSize][position % Self.chunkSize].key }

    /// The step of the point at `position`.
    func step(at position: Int) -> Double? {
        let record = chunks[position / Self.chunkSize][position % Self.chunkSize]
        return record.flags & Record.hasStep != 0 ? record.step : nil
    }

    public mutating func append(_ point: MetricPoint) {
        let step = point.step ?? -.infinity
        if lastStep > step { isInStepOrder = false }  // the check merge makes
        lastStep = step
        if chunks.last.map({ $0.count == Self.chunkSize }) ?? true {
            var chunk: [Record] = []
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        let new = record(point)
        chunks[chunks.count - 1].append(new)
        count += 1
    }

    private mutating func record(_ point: MetricPoint) -> Record {
        var flags = Self.sourceNumber(point.source) << Record.sourceShift
        if point.step != nil { flags |= Record.hasStep }
        if point.time != nil { flags |= Record.hasTime }
        return Record(
            value: point.value, step: point.step ?? 0, time: point.time ?? 0, key: keyNumber(point.key), flags: flags)
    }

    private static func sourceNumber(_ source: MetricSource) -> UInt8 {
        switch source {
        case .file: 0
        case .tensorboard: 1
        case .csv: 2
        case .stdout: 3
        }
    }

    private static func source(_ number: UInt8) -> MetricSource {
        switch number {
        case 0: .file
        case 1: .tensorboard
        case 2: .csv
        default: .stdout
        }
    }
}
