import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where a metric point came from. When two sources give the same (key, step), the earlier
/// one in this order is kept: file, tensorboard, csv, stdout.
public enum MetricSource: String, Codable, Sendable, Comparable {
    /// JSON lines appended to `EXP_METRICS_FILE`.
    case file
    case tensorboard
    case csv
    case stdout

    private var rank: Int {
        switch self {
        case .file: 0
        case .tensorboard: 1
        case .csv: 2
        case .stdout: 3
        }
    }

    public static func < (lhs: MetricSource, rhs: MetricSource) -> Bool { lhs.rank < rhs.rank }
}

/// One value of one metric: a line of `metrics.jsonl` in the run's record.
public struct MetricPoint: Codable, Sendable, Equatable {
    public var key: String
    /// The step (or epoch) it was logged at, when known.
    public var step: Double?
    /// Wall time, seconds since the Unix epoch, when known.
    public var time: Double?
    /// May be NaN or ±infinity (written as "NaN", "Infinity", "-Infinity").
    public var value: Double
    public var source: MetricSource

    public init(key: String, step: Double?, time: Double?, value: Double, source: MetricSource) {
        self.key = key
        self.step = step
        self.time = time
        self.value = value
        self.source = source
    }

    public static func == (lhs: MetricPoint, rhs: MetricPoint) -> Bool {
        lhs.key == rhs.key && lhs.step == rhs.step && lhs.time == rhs.time && lhs.source == rhs.source
            && (lhs.value == rhs.value || (lhs.value.isNaN && rhs.value.isNaN))
    }
}

/// Last, min, max, count and last step of one metric, as kept in run.json.
public struct MetricSummary: Codable, Sendable, Equatable {
    public var last: Double
    /// Smallest non-NaN value (NaN when every value was NaN).
    public var min: Double
    public var max: Double
    public var count: Int
    public var lastStep: Double?

    enum CodingKeys: String, CodingKey {
        case last, min, max, count
        case lastStep = "last_step"
    }

    public static func == (lhs: MetricSummary, rhs: MetricSummary) -> Bool {
        func same(_ a: Double, _ b: Double) -> Bool { a == b || (a.isNaN && b.isNaN) }
        return same(lhs.last, rhs.last) && same(lhs.min, rhs.min) && same(lhs.max, rhs.max)
            && lhs.count == rhs.count && lhs.lastStep == rhs.lastStep
    }

    /// Summaries per key, in the order the points were logged.
    public static func summarize(_ points: some Sequence<MetricPoint>) -> [String: MetricSummary] {
        var result: [String: MetricSummary] = [:]
        for point in points {
            if var summary = result[point.key] {
                summary.add(point.value, step: point.step)
                result[point.key] = summary
            } else {
                result[point.key] = MetricSummary(point.value, step: point.step)
            }
        }
        return result
    }

    /// Summaries per key of compactly stored points, key by key number (no `MetricPoint` or
    /// dictionary lookup per point: a run may log millions).
    public static func summarize(_ points: MetricPoints) -> [String: MetricSummary] {
        var byKey = [MetricSummary?](repeating: nil, count: points.keys.count)
        points.forEachRecord { record in
            let key = Int(record.key)
            if byKey[key] == nil {
                byKey[key] = MetricSummary(record.value, step: record.optionalStep)
            } else {
                byKey[key]!.add(record.value, step: record.optionalStep)
            }
        }
        var result: [String: MetricSummary] = [:]
        for (key, summary) in zip(points.keys, byKey) where summary != nil { result[key] = summary }
        return result
    }

    /// The summary of one point.
    init(_ value: Double, step: Double?) {
        self.init(last: value, min: value, max: value, count: 1, lastStep: step)
    }

    init(last: Double, min: Double, max: Double, count: Int, lastStep: Double? = nil) {
        self.last = last
        self.min = min
        self.max = max
        self.count = count
        self.lastStep = lastStep
    }

    /// Takes in the next point.
    mutating func add(_ value: Double, step: Double?) {
        last = value
        if !value.isNaN {
            min = min.isNaN ? value : Swift.min(min, value)
            max = max.isNaN ? value : Swift.max(max, value)
        }
        count += 1
        if step != nil { lastStep = step }
    }
}

/// Reads the JSON lines a command appends to `EXP_METRICS_FILE`: one object per line,
/// `{"step": 10, "loss": 0.42, "acc": 0.9}`. `step` (or `global_step`, `iteration`, `iter`,
/// `epoch`) gives the step; `time`/`timestamp`/`wall_time` the wall time; every other numeric
/// value (or "NaN"/"Infinity"/"-Infinity" string, or the bare `NaN`, `Infinity`, `-Infinity`
/// Python's `json.dumps` writes) is a point. Anything else on a line is ignored; a line that
/// is not a JSON object is skipped and counted, never fatal.
public enum MetricsFile {
    /// Keys that give the step, in order of preference.
    public static let stepKeys = ["step", "global_step", "iteration", "iter", "epoch"]
    static let timeKeys = ["time", "timestamp", "wall_time"]

    /// Parses the whole file's bytes. A last line without a newline is read too.
    public static func parse(_ bytes: [UInt8]) -> (points: [MetricPoint], skippedLines: Int) {
        var points: [MetricPoint] = []
        var skipped = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            guard let parsed = parseLine(Data(line)) else {
                skipped += 1
                continue
            }
            points += parsed
        }
        return (points, skipped)
    }

    /// The points of one line, or nil when it is not a JSON object.
    static func parseLine(_ data: Data) -> [MetricPoint]? {
        let decoder = JSONDecoder()
        var decoded = try? decoder.decode([String: JSONScalar].self, from: data)
        if decoded == nil, let quoted = NonFiniteJSON.quotingBareConstants(data) {
            decoded = try? decoder.decode([String: JSONScalar].self, from: quoted)
        }
        guard let object = decoded else { return nil }
        let step = stepKeys.lazy.compactMap { object[$0]?.number }.first
        let time = timeKeys.lazy.compactMap { object[$0]?.number }.first
        var points: [MetricPoint] = []
        for key in object.keys.sorted() where !stepKeys.contains(key) && !timeKeys.contains(key) {
            guard let value = object[key]?.number else { continue }
            points.append(MetricPoint(key: key, step: step, time: time, value: value, source: .file))
        }
        return points
    }

    /// `metrics.jsonl` for the record: one compact JSON object per point, exactly as
    /// `RunJSON.encoder(pretty: false)` writes a `MetricPoint` (sorted keys, NaN and
    /// infinities as strings), by hand: a run may have millions of points.
    public static func encode(_ points: [MetricPoint]) throws -> [UInt8] {
        let store = MetricPoints(points)
        let buffer = RawJSONBytes()
        appendLines(store, 0..<store.count, prefixes: PrefixTable(keys: store.keys), to: buffer)
        return Array(buffer.bytes)
    }

    /// Writes `metrics.jsonl` (temp file, then rename).
    public static func write(_ points: some Sequence<MetricPoint>, toFile path: String) throws {
        try write(MetricPoints(points), toFile: path)
    }

    /// Points per piece when `write` encodes compactly stored points on all cores.
    static let encodedPerPiece = 32 * 1024

    /// Writes compactly stored points as `metrics.jsonl`, encoded on all cores a few pieces
    /// at a time (a run may log millions; memory stays at a few megabytes).
    public static func write(_ points: MetricPoints, toFile path: String) throws {
        let prefixes = PrefixTable(keys: points.keys)
        // One buffer per piece of a round, kept from round to round (fresh memory costs page faults).
        let buffers = (0..<(2 * ProcessInfo.processInfo.activeProcessorCount)).map { _ in RawJSONBytes() }
        try FileReplacement.write(to: path, what: "the metrics file") { flush in
            var start = 0
            while start < points.count {
                let pieces = stride(
                    from: start, to: min(points.count, start + buffers.count * encodedPerPiece), by: encodedPerPiece
                ).map { $0..<min($0 + encodedPerPiece, points.count) }
                DispatchQueue.concurrentPerform(iterations: pieces.count) { index in
                    buffers[index].removeAll()
                    appendLines(points, pieces[index], prefixes: prefixes, to: buffers[index])
                }
                for buffer in buffers.prefix(pieces.count) { try flush(buffer.bytes) }
                start = pieces.last?.upperBound ?? points.count
            }
        }
    }

    /// Every key's `{"key":…,"source":…"` for every source, made once (not per point), one
    /// after the other: key k from source s is `bytes[ranges[k * 4 + s]]`.
    struct PrefixTable: Sendable {
        private(set) var bytes: [UInt8] = []
        private(set) var ranges: [Range<Int>] = []

        init(keys: [String]) {
            for key in keys {
                for source in [MetricSource.file, .tensorboard, .csv, .stdout] {
                    let start = bytes.count
                    bytes += #"{"key":""#.utf8
                    appendEscaped(key, to: &bytes)
                    bytes += #"","source":""#.utf8
                    bytes += source.rawValue.utf8
                    bytes.append(UInt8(ascii: "\""))
                    ranges.append(start..<bytes.count)
                }
            }
        }
    }

    /// The lines of the points at `range`, appended to `buffer`.
    private static func appendLines(
        _ points: MetricPoints, _ range: Range<Int>, prefixes: PrefixTable, to buffer: RawJSONBytes
    ) {
        prefixes.bytes.withUnsafeBytes { all in
            points.forEachRecord(in: range) { record in
                let prefix = prefixes.ranges[Int(record.key) * 4 + Int(MetricPoints.sourceNumber(record.source))]
                buffer.reserve(prefix.count + RawJSONBytes.fieldsBound)
                buffer.append(bytes: UnsafeRawBufferPointer(rebasing: all[prefix]))
                appendFields(step: record.optionalStep, time: record.optionalTime, value: record.value, to: buffer)
            }
        }
    }

    /// The rest of a point's line after its source: step, time, value and the line's end.
    private static func appendFields(step: Double?, time: Double?, value: Double, to bytes: RawJSONBytes) {
        if let step {
            bytes.append(literal: #","step":"#)
            appendNumber(step, to: bytes)
        }
        if let time {
            bytes.append(literal: #","time":"#)
            appendNumber(time, to: bytes)
        }
        bytes.append(literal: #","value":"#)
        appendNumber(value, to: bytes)
        bytes.append(literal: "}\n")
    }

    /// A double as JSONEncoder writes it: shortest form, `1` for `1.0`, NaN/infinities as strings.
    private static func appendNumber(_ value: Double, to bytes: RawJSONBytes) {
        if value.isNaN {
            bytes.append(literal: #""NaN""#)
        } else if value.isInfinite {
            bytes.append(literal: value < 0 ? #""-Infinity""# : #""Infinity""#)
        } else if value != 0, value.rounded(.towardZero) == value, value.magnitude < 0x1p53 {
            appendInteger(Int64(value), to: bytes)  // what `description` minus ".0" gives, faster
        } else if value != 0, value.magnitude < 0x1p43, (value * 1000).rounded() / 1000 == value {
            // At most three decimals (exp's own times, to the millisecond; 0.5; 91.25): the
            // digits `description` gives, faster. No shorter decimal reads back as this double
            // (doubles this small lie far closer together than 0.001), so it is the shortest.
            let thousandths = Int64((value * 1000).rounded())
            if thousandths < 0 { bytes.append(UInt8(ascii: "-")) }
            appendInteger(Int64(thousandths.magnitude / 1000), to: bytes)
            var fraction = thousandths.magnitude % 1000  // not 0: the value is not whole
            var digits = 3
            while fraction % 10 == 0 {
                fraction /= 10
                digits -= 1
            }
            bytes.append(UInt8(ascii: "."))
            var divisor: UInt64 = digits == 3 ? 100 : digits == 2 ? 10 : 1
            while divisor > 0 {
                bytes.append(UInt8(ascii: "0") + UInt8(fraction / divisor % 10))
                divisor /= 10
            }
        } else {
            var description = value.description
            description.withUTF8 { text in
                let whole = text.count >= 2 && text[text.count - 2] == UInt8(ascii: ".") && text[text.count - 1] == 48
                bytes.append(
                    bytes: UnsafeRawBufferPointer(whole ? UnsafeBufferPointer(rebasing: text.dropLast(2)) : text))
            }
        }
    }

    private static func appendInteger(_ value: Int64, to bytes: RawJSONBytes) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64) = (0, 0)  // 16 bytes of scratch: up to 16 digits
        withUnsafeMutableBytes(of: &digits) { scratch in
            var count = 0
            repeat {
                scratch[15 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            bytes.append(bytes: UnsafeRawBufferPointer(rebasing: scratch[(16 - count)...]))
        }
    }

    /// A string's JSON escapes (slashes unescaped, as `withoutEscapingSlashes`).
    private static func appendEscaped(_ text: String, to bytes: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += #"\""#.utf8
            case UInt8(ascii: "\\"): bytes += #"\\"#.utf8
            case 0x0A: bytes += #"\n"#.utf8
            case 0x0D: bytes += #"\r"#.utf8
            case 0x09: bytes += #"\t"#.utf8
            case 0x08: bytes += #"\b"#.utf8
            case 0x0C: bytes += #"\f"#.utf8
            case 0..<0x20: bytes += #"\u00"#.utf8 + [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
            default: bytes.append(byte)
            }
        }
    }

    /// Reads a record's `metrics.jsonl` back. Lines exactly as exp writes them (the common
    /// case: a run may hold millions) are read by hand; any other line (an escaped key, other
    /// spacing or order) through `JSONDecoder`, and one that is not a point is left out.
    public static func decode(_ bytes: [UInt8]) -> [MetricPoint] {
        var decoder: JSONDecoder?
        var points: [MetricPoint] = []
        var reader = PointLineReader()
        bytes.withUnsafeBufferPointer { all in
            guard let base = all.baseAddress else { return }
            var start = 0
            while start < all.count {
                var end = start
                if let newline = memchr(base + start, 10, all.count - start) {
                    end = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(newline))
                } else {
                    end = all.count
                }
                let line = UnsafeBufferPointer(rebasing: all[start..<end])
                start = end + 1
                guard !line.isEmpty else { continue }
                if let point = reader.read(line) {
                    points.append(point)
                    continue
                }
                if decoder == nil { decoder = RunJSON.decoder() }
                if let point = try? decoder?.decode(MetricPoint.self, from: Data(line)) {
                    points.append(point)
                } else if let quoted = NonFiniteJSON.quotingBareConstants(Data(line)),
                    let point = try? decoder?.decode(MetricPoint.self, from: quoted)
                {
                    points.append(point)
                }
            }
        }
        return points
    }
}

/// Reads one `metrics.jsonl` line in exactly the form `MetricsFile` writes it
/// (`{"key":"loss","source":"stdout","step":3,"time":1764384000.5,"value":0.42}`, step and
/// time optional, NaN and infinities as strings); nil for anything else.
struct PointLineReader {
    private static func isNumberByte(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    }

    /// The last key read, reused while lines repeat it (no String made per point).
    private var lastKey: (bytes: [UInt8], name: String) = ([], "")

    mutating func read(_ line: UnsafeBufferPointer<UInt8>) -> MetricPoint? {
        var cursor = 0
        guard expect(#"{"key":""#, line, &cursor) else { return nil }
        let keyStart = cursor
        while cursor < line.count && line[cursor] != UInt8(ascii: "\"") {
            if line[cursor] == UInt8(ascii: "\\") || line[cursor] < 0x20 { return nil }  // escapes: JSONDecoder's job
            cursor += 1
        }
        guard cursor < line.count else { return nil }
        let keyBytes = UnsafeBufferPointer(rebasing: line[keyStart..<cursor])
        cursor += 1
        guard expect(#","source":""#, line, &cursor) else { return nil }
        let sourceStart = cursor
        while cursor < line.count && line[cursor] != UInt8(ascii: "\"") { cursor += 1 }
        guard cursor < line.count,
            let source = MetricSource(
                rawValue: String(decoding: UnsafeBufferPointer(rebasing: line[sourceStart..<cursor]), as: UTF8.self))
        else { return nil }
        cursor += 1
        var step: Double?
        var time: Double?
        if expect(#","step":"#, line, &cursor) {
            guard let value = number(line, &cursor) else { return nil }
            step = value
        }
        if expect(#","time":"#, line, &cursor) {
            guard let value = number(line, &cursor) else { return nil }
            time = value
        }
        guard expect(#","value":"#, line, &cursor), let value = number(line, &cursor),
            expect("}", line, &cursor), cursor == line.count || (cursor == line.count - 1 && line[cursor] == 13)
        else { return nil }
        if !keyBytes.elementsEqual(lastKey.bytes) {
            lastKey = (Array(keyBytes), String(decoding: keyBytes, as: UTF8.self))
        }
        return MetricPoint(key: lastKey.name, step: step, time: time, value: value, source: source)
    }

    /// Moves past `literal` when the line continues with it.
    private func expect(_ literal: StaticString, _ line: UnsafeBufferPointer<UInt8>, _ cursor: inout Int) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard cursor + count <= line.count, memcmp(line.baseAddress! + cursor, literal.utf8Start, count) == 0 else {
            return false
        }
        cursor += count
        return true
    }

    /// A JSON number, or "NaN", "Infinity", "-Infinity" (quoted, as exp writes them, or bare,
    /// as Python's `json.dumps` does).
    private func number(_ line: UnsafeBufferPointer<UInt8>, _ cursor: inout Int) -> Double? {
        if expect(#""NaN""#, line, &cursor) || expect("NaN", line, &cursor) { return .nan }
        if expect(#""Infinity""#, line, &cursor) || expect("Infinity", line, &cursor) { return .infinity }
        if expect(#""-Infinity""#, line, &cursor) || expect("-Infinity", line, &cursor) { return -.infinity }
        let start = cursor
        while cursor < line.count, Self.isNumberByte(line[cursor]) { cursor += 1 }
        let length = cursor - start
        guard length > 0, length < 40 else { return nil }
        // Swift's parser reads in the "C" locale, whatever the user's, and rounds exactly.
        return Double(String(decoding: UnsafeBufferPointer(rebasing: line[start..<cursor]), as: UTF8.self))
    }
}

/// The non-standard constants `NaN`, `Infinity` and `-Infinity` that Python's `json.dumps`
/// (and JavaScript's JSON5) write bare where JSON allows only numbers.
enum NonFiniteJSON {
    /// The line with every bare `NaN`, `Infinity`, `+Infinity` and `-Infinity` outside strings
    /// quoted (`"NaN"`, `"Infinity"`, `"-Infinity"`), so a strict JSON parser reads it and
    /// the non-finite-number strategies apply; nil when there is none (nothing to retry).
    /// Nothing else is loosened: a line that was not JSON apart from them still is not.
    static func quotingBareConstants(_ line: Data) -> Data? {
        let bytes = [UInt8](line)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 16)
        var inString = false
        var found = false
        var index = 0
        func startsWith(_ word: String, at position: Int) -> Bool {
            let word = Array(word.utf8)
            guard position + word.count <= bytes.count, Array(bytes[position..<position + word.count]) == word else {
                return false
            }
            // A whole word: not followed by a letter, digit or underscore.
            let after = position + word.count
            guard after < bytes.count else { return true }
            let next = bytes[after]
            return
                !(next == UInt8(ascii: "_") || (48...57).contains(next) || (65...90).contains(next)
                || (97...122).contains(next))
        }
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                output.append(byte)
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    output.append(bytes[index + 1])
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { inString = false }
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inString = true
                output.append(byte)
                index += 1
                continue
            }
            var replaced = false
            for (word, quoted) in [
                ("NaN", #""NaN""#), ("Infinity", #""Infinity""#), ("-Infinity", #""-Infinity""#),
                ("+Infinity", #""Infinity""#),
            ] where startsWith(word, at: index) {
                output += quoted.utf8
                index += word.utf8.count
                found = true
                replaced = true
                break
            }
            if !replaced {
                output.append(byte)
                index += 1
            }
        }
        return found ? Data(output) : nil
    }
}

/// A JSON value seen as a possible metric: numbers (never booleans), the NaN/infinity
/// strings, and everything else ignored.
struct JSONScalar: Decodable {
    var number: Double?

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if (try? container.decode(Bool.self)) != nil {
            number = nil
        } else if let value = try? container.decode(Double.self) {
            number = value
        } else if let text = try? container.decode(String.self) {
            switch text.lowercased() {
            case "nan": number = .nan
            case "infinity", "inf": number = .infinity
            case "-infinity", "-inf": number = -.infinity
            default: number = nil
            }
        } else {
            number = nil  // objects, arrays, null
        }
    }
}

/// JSON bytes in a raw buffer that grows only when `reserve` asks: no capacity or
/// uniqueness check per byte, for encoding millions of points. Used by one thread at a time.
final class RawJSONBytes: @unchecked Sendable {
    /// Room enough for the fields of any point after its prefix: three numbers of at most
    /// 24 characters (or `"-Infinity"`), their names and the line's end.
    static let fieldsBound = 128
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int = 1 << 20) {
        self.capacity = capacity
        base = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    func removeAll() { count = 0 }

    /// Makes room for `more` bytes.
    func reserve(_ more: Int) {
        guard count + more > capacity else { return }
        let grown = max(capacity * 2, count + more)
        let new = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: 16)
        new.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = new
        capacity = grown
    }

    func append(_ byte: UInt8) {
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    func append(bytes more: UnsafeRawBufferPointer) {
        guard let source = more.baseAddress, !more.isEmpty else { return }
        (base + count).copyMemory(from: source, byteCount: more.count)
        count += more.count
    }

    func append(literal: StaticString) {
        append(bytes: UnsafeRawBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }
}
