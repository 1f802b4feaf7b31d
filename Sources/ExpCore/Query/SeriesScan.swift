import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A record's `metrics.jsonl` made into series straight from its bytes, never holding its
/// points: a first pass finds each wanted key's range on the axis (and how many points it
/// has), a second keeps the first and last point and each fine slice's smallest and largest
/// value (a `SeriesSummary`). It gives what `RunStore.series(of:points:request:)` gives for
/// the same points (the same buckets, the same points kept), in a fraction of the time and
/// memory.
///
/// Along the epoch axis, or when smoothing a key whose points are not in axis order, it
/// gives nil: the caller reads the points instead.
struct SeriesScan {
    /// A key's points along one way of placing them on the axis.
    struct Tally {
        var finite = 0
        var nonFinite = 0
        var withoutX = 0
        var lowX = Double.infinity
        var lowIndex = 0
        var highX = -Double.infinity
        var highIndex = 0
        var lastX = -Double.infinity
        /// Whether the points with a place and a finite value come in axis order.
        var ordered = true

        mutating func add(x: Double?, index: Int, finiteValue: Bool) {
            guard let x, x.isFinite else {
                withoutX += 1
                return
            }
            guard finiteValue else {
                nonFinite += 1
                return
            }
            finite += 1
            if x < lowX {
                lowX = x
                lowIndex = index
            }
            if x >= highX {
                highX = x
                highIndex = index
            }
            if x < lastX { ordered = false }
            lastX = x
        }
    }

    /// What the first pass learns of one key.
    struct KeyState {
        var name: String
        /// Every point of the key (its index along x when it has no steps).
        var count = 0
        var hasSteps = false
        /// Placed by step, by index, by time.
        var byStep = Tally()
        var byIndex = Tally()
        var byTime = Tally()
    }

    /// The second pass's state for one key: its summary, and the running average when smoothing.
    struct Pass {
        let tally: Tally
        var summary: SeriesSummary
        var index = 0
        var smoothed = 0.0
        var smoothedCount = 0.0
    }

    /// The series of `request` for one sealed run whose `metrics.jsonl` holds `bytes`; nil
    /// when they must be read from the points (see the type's note).
    static func series(of run: StoredRun, bytes: [UInt8], request: SeriesRequest) -> [MetricSeries]? {
        guard
            let summaries = summaries(
                of: bytes, keys: request.keys, axis: request.axis, smoothing: request.smoothing,
                resolution: SeriesDownsampling.resolution(for: request.buckets))
        else { return nil }
        return summaries.map { summary in
            MetricSeries(
                run: run, key: summary.key, points: summary.points(buckets: request.buckets),
                fullCount: summary.finite, nonFinite: summary.nonFinite, withoutX: summary.withoutX)
        }
    }

    /// The summaries at `resolution` of the `keys` (empty: every key, by name) of the
    /// `metrics.jsonl` that holds `bytes`, along `axis`, smoothed with weight `smoothing`
    /// (see `SeriesRequest`); nil when they must be read from the points (see the type's note).
    static func summaries(of bytes: [UInt8], keys: [String], axis: SeriesAxis, smoothing: Double, resolution: Int)
        -> [SeriesSummary]?
    {
        if axis == .epoch { return nil }
        var reader = MetricLineReader(wanted: keys.isEmpty ? nil : Set(keys))
        var start = Double.infinity
        // First pass: each key's places, and the run's first time.
        var states: [KeyState] = []
        reader.scan(bytes, values: false, times: axis == .time, allTimes: axis == .time) { line in
            if let time = line.time, time.isFinite, time < start { start = time }
            guard line.wanted else { return }
            while states.count <= line.key { states.append(KeyState(name: "")) }
            let index = states[line.key].count
            states[line.key].count += 1
            switch axis {
            case .step:
                if line.step != nil { states[line.key].hasSteps = true }
                states[line.key].byStep.add(x: line.step, index: index, finiteValue: line.finite)
                states[line.key].byIndex.add(x: Double(index), index: index, finiteValue: line.finite)
            case .time, .epoch:
                states[line.key].byTime.add(x: line.time, index: index, finiteValue: line.finite)
            }
        }
        for index in states.indices { states[index].name = reader.names[index] }
        if start == .infinity { start = 0 }
        func tally(_ state: KeyState) -> Tally {
            axis == .time ? state.byTime : state.hasSteps ? state.byStep : state.byIndex
        }
        let smoothing = min(max(smoothing, 0), 0.999)
        if smoothing > 0, states.contains(where: { $0.count > 0 && !tally($0).ordered }) { return nil }
        // Second pass: the summaries.
        let shift = axis == .time ? start : 0
        var passes = states.map { state in
            let tally = tally(state)
            return Pass(
                tally: tally,
                summary: SeriesSummary(
                    key: state.name, finite: tally.finite, nonFinite: tally.nonFinite, withoutX: tally.withoutX,
                    lower: tally.lowX - shift, upper: tally.highX - shift, resolution: resolution))
        }
        reader.scan(bytes, values: true, times: axis == .time, allTimes: false) { line in
            guard line.wanted, line.key < passes.count else { return }
            let index = passes[line.key].index
            passes[line.key].index += 1
            var x: Double?
            switch axis {
            case .step: x = states[line.key].hasSteps ? line.step : Double(index)
            case .time, .epoch: x = line.time.map { $0 - start }
            }
            guard let x, x.isFinite, line.value.isFinite else { return }
            var y = line.value
            if smoothing > 0 {
                passes[line.key].smoothedCount += 1
                passes[line.key].smoothed = passes[line.key].smoothed * smoothing + (1 - smoothing) * y
                let debias = 1 - pow(smoothing, passes[line.key].smoothedCount)
                if debias > 0 { y = passes[line.key].smoothed / debias }
            }
            let tally = passes[line.key].tally
            passes[line.key].summary.add(
                SeriesSummary.Point(x: x, y: y, index: index), isFirst: index == tally.lowIndex,
                isLast: index == tally.highIndex)
        }
        let present = states.indices.filter { states[$0].count > 0 }
        let order =
            keys.isEmpty
            ? present.sorted { states[$0].name < states[$1].name }
            : keys.compactMap { key in present.first { states[$0].name == key } }
        return order.map { passes[$0].summary }
    }
}

/// Reads the lines of a `metrics.jsonl` for the series scan: lines in exactly the form exp
/// writes (the common case) by hand, parsing only the fields asked for; any other line
/// through `JSONDecoder` (as `MetricsFile.decode` does). Keys are numbered as first met.
struct MetricLineReader {
    /// One point as read.
    struct Line {
        var key: Int
        var wanted: Bool
        var step: Double?
        var time: Double?
        /// The value (0 when values were not asked for: then only `finite` says anything).
        var value: Double
        var finite: Bool
    }

    let wanted: Set<String>?
    private(set) var names: [String] = []
    private var spelled: [[UInt8]] = []
    private var isWanted: [Bool] = []
    private var numbers: [String: Int] = [:]
    private var decoder: JSONDecoder?

    init(wanted: Set<String>?) { self.wanted = wanted }

    private mutating func number(ofName name: String, bytes: [UInt8]) -> Int {
        if let number = numbers[name] { return number }
        names.append(name)
        spelled.append(bytes)
        isWanted.append(wanted?.contains(name) ?? true)
        numbers[name] = names.count - 1
        return names.count - 1
    }

    /// Calls `body` with every point of `bytes`, in order. Values are parsed when `values`;
    /// times of wanted keys when `times`, of every key when `allTimes`.
    mutating func scan(_ bytes: [UInt8], values: Bool, times: Bool, allTimes: Bool, _ body: (Line) -> Void) {
        var lastKey = -1
        bytes.withUnsafeBufferPointer { all in
            guard let base = all.baseAddress else { return }
            var start = 0
            while start < all.count {
                let end: Int
                if let newline = memchr(base + start, 10, all.count - start) {
                    end = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(newline))
                } else {
                    end = all.count
                }
                let lineStart = start
                start = end + 1
                guard end > lineStart else { continue }
                if let line = fastLine(
                    base, lineStart, end, values: values, times: times, allTimes: allTimes, lastKey: &lastKey)
                {
                    body(line)
                    continue
                }
                if let point = slowLine(UnsafeBufferPointer(rebasing: all[lineStart..<end])) {
                    let key = number(ofName: point.key, bytes: Array(point.key.utf8))
                    body(
                        Line(
                            key: key, wanted: isWanted[key], step: point.step, time: point.time,
                            value: values ? point.value : 0, finite: point.value.isFinite))
                }
            }
        }
    }

    private mutating func slowLine(_ line: UnsafeBufferPointer<UInt8>) -> MetricPoint? {
        if decoder == nil { decoder = RunJSON.decoder() }
        let data = Data(buffer: line)
        if let point = try? decoder?.decode(MetricPoint.self, from: data) { return point }
        if let quoted = NonFiniteJSON.quotingBareConstants(data) {
            return try? decoder?.decode(MetricPoint.self, from: quoted)
        }
        return nil
    }

    /// A line `{"key":K,"source":S[,"step":N][,"time":N],"value":V}`, or nil.
    private mutating func fastLine(
        _ base: UnsafePointer<UInt8>, _ lineStart: Int, _ lineEnd: Int, values: Bool, times: Bool, allTimes: Bool,
        lastKey: inout Int
    ) -> Line? {
        var end = lineEnd
        if base[end - 1] == 13 { end -= 1 }
        var cursor = lineStart
        guard Self.expect(#"{"key":""#, base, end, &cursor) else { return nil }
        let keyStart = cursor
        while cursor < end && base[cursor] != UInt8(ascii: "\"") {
            if base[cursor] == UInt8(ascii: "\\") || base[cursor] < 0x20 { return nil }
            cursor += 1
        }
        guard cursor < end else { return nil }
        let keyLength = cursor - keyStart
        var key = -1
        func spells(_ name: [UInt8]) -> Bool {
            name.count == keyLength
                && name.withUnsafeBufferPointer {
                    $0.baseAddress.map { memcmp($0, base + keyStart, keyLength) == 0 } ?? true
                }
        }
        if lastKey >= 0, spells(spelled[lastKey]) {
            key = lastKey
        } else if let index = spelled.firstIndex(where: spells) {
            key = index
        }
        if key < 0 {
            let bytes = Array(UnsafeBufferPointer(start: base + keyStart, count: keyLength))
            key = number(ofName: String(decoding: bytes, as: UTF8.self), bytes: bytes)
        }
        lastKey = key
        cursor += 1
        guard Self.expect(#","source":""#, base, end, &cursor) else { return nil }
        let sourceStart = cursor
        while cursor < end && base[cursor] != UInt8(ascii: "\"") { cursor += 1 }
        guard cursor < end, Self.isSource(base + sourceStart, cursor - sourceStart) else { return nil }
        cursor += 1
        let wanted = isWanted[key]
        var line = Line(key: key, wanted: wanted, step: nil, time: nil, value: 0, finite: true)
        guard wanted || allTimes else { return line }
        if Self.expect(#","step":"#, base, end, &cursor) {
            guard let step = Self.number(base, end, &cursor) else { return nil }
            line.step = step
        }
        if Self.expect(#","time":"#, base, end, &cursor) {
            let readTime = allTimes || (times && wanted)
            guard let time = readTime ? Self.number(base, end, &cursor) : Self.skipNumber(base, end, &cursor) else {
                return nil
            }
            if readTime { line.time = time }
        }
        guard Self.expect(#","value":"#, base, end, &cursor) else { return nil }
        if values {
            guard let value = Self.number(base, end, &cursor) else { return nil }
            line.value = value
            line.finite = value.isFinite
        } else {
            let first = base[cursor]
            line.finite =
                !(first == UInt8(ascii: "\"") || first == UInt8(ascii: "N") || first == UInt8(ascii: "I")
                || (first == UInt8(ascii: "-") && cursor + 1 < end && base[cursor + 1] == UInt8(ascii: "I")))
            guard Self.skipNumber(base, end, &cursor) != nil else { return nil }
        }
        guard cursor == end - 1, base[cursor] == UInt8(ascii: "}") else { return nil }
        return line
    }

    /// Whether the bytes spell one of the sources (`file`, `tensorboard`, `csv`, `stdout`).
    private static func isSource(_ start: UnsafePointer<UInt8>, _ length: Int) -> Bool {
        for name in ["file", "tensorboard", "csv", "stdout"] as [StaticString]
        where name.utf8CodeUnitCount == length && memcmp(start, name.utf8Start, length) == 0 {
            return true
        }
        return false
    }

    private static func expect(_ literal: StaticString, _ base: UnsafePointer<UInt8>, _ end: Int, _ cursor: inout Int)
        -> Bool
    {
        let count = literal.utf8CodeUnitCount
        guard cursor + count <= end, memcmp(base + cursor, literal.utf8Start, count) == 0 else { return false }
        cursor += count
        return true
    }

    private static func isNumberByte(_ c: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    }

    /// Moves past a number or constant without reading it; 0 when there was one.
    private static func skipNumber(_ base: UnsafePointer<UInt8>, _ end: Int, _ cursor: inout Int) -> Double? {
        if expect(#""NaN""#, base, end, &cursor) || expect("NaN", base, end, &cursor)
            || expect(#""Infinity""#, base, end, &cursor) || expect("Infinity", base, end, &cursor)
            || expect(#""-Infinity""#, base, end, &cursor) || expect("-Infinity", base, end, &cursor)
        {
            return 0
        }
        let start = cursor
        while cursor < end, isNumberByte(base[cursor]) { cursor += 1 }
        return cursor > start && cursor - start < 40 ? 0 : nil
    }

    /// Powers of ten a double holds exactly.
    private static let exactPowers: [Double] = (0...22).map { pow(10, Double($0)) }

    /// A decimal `-?digits.digits` of at most 15 significant digits, read exactly as
    /// `strtod` reads it: the digits as a whole number (exact below 2^53) divided by a power
    /// of ten a double holds exactly is one correctly rounded operation (Clinger's fast
    /// path). Nil for any other form (exponents, more digits): `strtod` reads those.
    private static func exactDecimal(_ base: UnsafePointer<UInt8>, from start: Int, to stop: Int) -> Double? {
        var index = start
        let negative = base[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var digits: UInt64 = 0
        var count = 0
        var fraction = 0
        var seenPoint = false
        var any = false
        while index < stop {
            let byte = base[index]
            if byte == UInt8(ascii: ".") {
                if seenPoint { return nil }
                seenPoint = true
            } else if (48...57).contains(byte) {
                any = true
                if digits > 0 || byte != 48 { count += 1 }
                if count > 15 { return nil }
                digits = digits * 10 + UInt64(byte - 48)
                if seenPoint { fraction += 1 }
            } else {
                return nil
            }
            index += 1
        }
        guard any, fraction <= 22, !(seenPoint && base[stop - 1] == UInt8(ascii: ".")),
            base[negative ? start + 1 : start] != UInt8(ascii: ".")
        else { return nil }
        let magnitude = Double(digits) / exactPowers[fraction]
        return negative ? -magnitude : magnitude
    }

    /// A JSON number, or "NaN", "Infinity", "-Infinity" (quoted or bare), as
    /// `PointLineReader` reads them; whole numbers without a `String`.
    static func number(_ base: UnsafePointer<UInt8>, _ end: Int, _ cursor: inout Int) -> Double? {
        if expect(#""NaN""#, base, end, &cursor) || expect("NaN", base, end, &cursor) { return .nan }
        if expect(#""Infinity""#, base, end, &cursor) || expect("Infinity", base, end, &cursor) { return .infinity }
        if expect(#""-Infinity""#, base, end, &cursor) || expect("-Infinity", base, end, &cursor) {
            return -.infinity
        }
        var index = cursor
        let negative = index < end && base[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var whole: UInt64 = 0
        let digitsStart = index
        while index < end, index - digitsStart < 15, (48...57).contains(base[index]) {
            whole = whole * 10 + UInt64(base[index] - 48)
            index += 1
        }
        if index > digitsStart, index == end || !isNumberByte(base[index]) {
            cursor = index
            return negative ? -Double(whole) : Double(whole)
        }
        let start = cursor
        var stop = cursor
        while stop < end, isNumberByte(base[stop]) { stop += 1 }
        let length = stop - start
        guard length > 0, length < 40 else { return nil }
        if let value = exactDecimal(base, from: start, to: stop) {
            cursor = stop
            return value
        }
        let value = withUnsafeTemporaryAllocation(of: CChar.self, capacity: 48) { buffer -> Double? in
            guard let text = buffer.baseAddress else { return nil }
            memcpy(text, base + start, length)
            text[length] = 0
            var parsedEnd: UnsafeMutablePointer<CChar>?
            let value = strtod(text, &parsedEnd)
            return parsedEnd == text + length ? value : nil
        }
        if value != nil { cursor = stop }
        return value
    }
}
