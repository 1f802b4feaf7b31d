public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads metrics from a command's output as it streams, line by line: what a line may hold
/// (`key: value`, `key=value`, `key value` on metric lines, tables, Keras, dict reprs, steps)
/// is `OutputLineReader`'s to say. Each `\r`-separated segment (progress bar updates) is read
/// like a line, ANSI escapes removed; a key logged again at the step of its last point
/// replaces that point (a line redrawn), while a return to an earlier step adds a point.
public struct OutputScalarParser {
    /// Longest line kept; the rest of a longer line is dropped.
    static let maxLineLength = 16 * 1024

    /// Extra patterns (`exp.outputPattern`): regexes with named groups `key`, `value` and
    /// optionally `step`.
    let extraPatterns: [OutputPattern]
    /// The unfinished line carried over from the previous chunk.
    private var line: [UInt8] = []
    private var overflow = false
    private(set) var step: Double?
    /// Points since the last `takeNew`, in order; a point with a step replaces the key's last
    /// point when that has the same step (a progress bar redrawn).
    private(set) var points = MetricPoints()
    /// By key number: the position in `points` of the key's last point, or -1.
    private var lastOfKey: [Int] = []
    /// Every key seen, numbered as in `points` (which starts each batch with them all).
    private var keys = KeyTable()
    /// What lines say about later lines (tables, blocks), and the points of the last one.
    private var reader = OutputLineReader()
    /// A line with its escapes removed.
    private var cleaned: [UInt8] = []
    private let clock: () -> Double
    /// When the chunk being read arrived: the time of its points.
    private var now = 0.0

    public init(extraPatterns: [String] = [], clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        self.extraPatterns = try extraPatterns.map { pattern in
            do throws(OutputPatternError) {
                return try OutputPattern(pattern)
            } catch {
                let caret = String(repeating: " ", count: max(0, error.column - 1)) + "^"
                throw ExpError(
                    .config,
                    "bad exp.outputPattern: \(error.message) at column \(error.column)\n  \(pattern)\n  \(caret)",
                    hint: "use named groups, e.g. (?<key>\\w+) -> (?<value>[0-9.]+)")
            }
        }
        self.clock = clock
    }

    /// Feeds a chunk of output. Lines are found with `memchr`, and a line that lies whole in
    /// the chunk is read where it is, so output without scalars (or one endless line) costs
    /// little more than a scan.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return }
        readClock()
        let count = bytes.count
        var offset = 0
        var nextNewline = -1
        var nextReturn = -1
        while offset < count {
            if nextNewline < offset { nextNewline = Self.find(10, base, from: offset, count: count) }
            if nextReturn < offset { nextReturn = Self.find(13, base, from: offset, count: count) }
            let end = min(nextNewline, nextReturn)
            let length = end - offset
            if end < count && line.isEmpty && !overflow {
                if length <= Self.maxLineLength { finishLine(UnsafeBufferPointer(start: base + offset, count: length)) }
            } else {
                if !overflow {
                    if line.count + length <= Self.maxLineLength {
                        line.append(contentsOf: UnsafeBufferPointer(start: base + offset, count: length))
                    } else {
                        overflow = true
                    }
                }
                if end < count { finishCarriedLine() }
            }
            offset = end + 1
        }
    }

    /// The index of the next `byte` at or after `offset`, or `count` when there is none.
    static func find(_ byte: Int32, _ base: UnsafePointer<UInt8>, from offset: Int, count: Int) -> Int {
        guard offset < count, let found = memchr(base + offset, byte, count - offset) else { return count }
        return UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
    }

    /// Reads what is left after the output ended; returns the points not handed out yet.
    public mutating func finish() -> MetricPoints {
        readClock()
        finishCarriedLine()
        var reader = takeReader()
        reader.finish(step: &step)
        recordPairs(of: reader)
        self.reader = reader
        return points
    }

    /// The time of the points read next: now, to the millisecond (what a chunk of output's
    /// arrival can tell; and a short number is quick to write, for millions of points).
    private mutating func readClock() {
        now = (clock() * 1000).rounded() / 1000
    }

    private mutating func finishCarriedLine() {
        defer {
            line.removeAll(keepingCapacity: true)
            overflow = false
        }
        guard !overflow else { return }
        line.withUnsafeBufferPointer { finishLine($0) }
    }

    private mutating func finishLine(_ chars: UnsafeBufferPointer<UInt8>) {
        guard let base = chars.baseAddress, !chars.isEmpty else { return }
        if !extraPatterns.isEmpty {
            for scalar in parse(String(decoding: chars, as: UTF8.self)) {
                record(key: keys.number(of: scalar.key, in: &points), value: scalar.value, step: scalar.step)
            }
            return
        }
        if memchr(base, 27, chars.count) == nil {
            // The common case, a line without escapes: read from its bytes as they are.
            reader.read(chars, step: &step)
        } else {
            Self.removeEscapes(chars, into: &cleaned)
            cleaned.withUnsafeBufferPointer { reader.read($0, step: &step) }
        }
        guard !reader.pairs.isEmpty else { return }
        let pairs = reader.pairs
        reader.keyBytes.withUnsafeBufferPointer { keyBytes in
            for pair in pairs {
                let key = keys.number(
                    of: UnsafeBufferPointer(rebasing: keyBytes[pair.keyStart..<pair.keyEnd]), in: &points)
                record(key: key, value: pair.value, step: pair.step)
            }
        }
    }

    /// The line reader, moved out of the parser while it is used (put back after).
    private mutating func takeReader() -> OutputLineReader {
        var taken = OutputLineReader()
        swap(&taken, &reader)
        return taken
    }

    private mutating func recordPairs(of reader: OutputLineReader) {
        guard !reader.pairs.isEmpty else { return }
        reader.keyBytes.withUnsafeBufferPointer { keyBytes in
            for pair in reader.pairs {
                let key = keys.number(
                    of: UnsafeBufferPointer(rebasing: keyBytes[pair.keyStart..<pair.keyEnd]), in: &points)
                record(key: key, value: pair.value, step: pair.step)
            }
        }
    }

    /// Copies `chars` without ANSI escape sequences (colours, cursor moves).
    static func removeEscapes(_ chars: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) {
        output.removeAll(keepingCapacity: true)
        var index = 0
        while index < chars.count {
            let c = chars[index]
            index += 1
            guard c == 27 else {
                output.append(c)
                continue
            }
            if index < chars.count && chars[index] == UInt8(ascii: "[") {
                index += 1
                while index < chars.count && !(64...126).contains(chars[index]) { index += 1 }
            }
            index += 1
        }
    }

    /// How many points were read since the last `takeNew`.
    public var pending: Int { points.count }

    /// Hands out the points read since the last call and forgets them, so a long run's
    /// points are held once, by the caller. A key logged again at a step already handed out
    /// comes again: the caller keeps the last value of a (key, step). Every batch numbers the
    /// keys alike (a key's number never changes).
    public mutating func takeNew() -> MetricPoints {
        defer {
            points = MetricPoints(keys: keys.names)
            for index in lastOfKey.indices { lastOfKey[index] = -1 }
        }
        return points
    }

    private mutating func record(key: UInt32, value: Double, step: Double?) {
        let new = MetricPoints.Record(key: key, step: step, time: now, value: value, source: .stdout)
        let key = Int(key)
        while lastOfKey.count <= key { lastOfKey.append(-1) }
        if let step, lastOfKey[key] >= 0, points.record(at: lastOfKey[key]).optionalStep == step {
            points.replace(at: lastOfKey[key], with: new)
            return
        }
        lastOfKey[key] = points.count
        points.append(new)
    }

    /// The pairs of one line (without its newline), updating the current step.
    public mutating func parse(_ text: String) -> [(key: String, value: Double, step: Double?)] {
        let clean = Self.stripEscapes(text)
        var result: [(key: String, value: Double, step: Double?)] = []
        if !extraPatterns.isEmpty {
            let scalars = Array(clean.unicodeScalars)
            for pattern in extraPatterns {
                for match in pattern.matches(in: scalars) {
                    guard let key = Self.group(match, "key", of: pattern, in: scalars),
                        let value = Self.group(match, "value", of: pattern, in: scalars).flatMap(Self.number)
                    else { continue }
                    let step = Self.group(match, "step", of: pattern, in: scalars).flatMap(Self.number) ?? step
                    result.append((key, value, step))
                }
            }
        }
        var reader = takeReader()
        Array(clean.utf8).withUnsafeBufferPointer { reader.read($0, step: &step) }
        reader.keyBytes.withUnsafeBufferPointer { keyBytes in
            for pair in reader.pairs {
                let key = String(
                    decoding: UnsafeBufferPointer(rebasing: keyBytes[pair.keyStart..<pair.keyEnd]), as: UTF8.self)
                result.append((key, pair.value, pair.step))
            }
        }
        self.reader = reader
        return result
    }

    /// Whether the bytes at `start` are `word` (lowercase ASCII), in any case unless told.
    static func matches(
        _ chars: UnsafeBufferPointer<UInt8>, _ start: Int, _ word: StaticString, ignoringCase: Bool = true
    ) -> Bool {
        let count = word.utf8CodeUnitCount
        guard start + count <= chars.count else { return false }
        let letters = word.utf8Start
        for offset in 0..<count {
            var c = chars[start + offset]
            if ignoringCase && (65...90).contains(c) { c += 32 }
            if c != letters[offset] { return false }
        }
        return true
    }

    private static func group(
        _ match: OutputPattern.Match, _ name: String, of pattern: OutputPattern, in line: [Unicode.Scalar]
    ) -> String? {
        guard let number = pattern.group(named: name), number < match.groups.count,
            let range = match.groups[number]
        else { return nil }
        var text = String.UnicodeScalarView()
        text.append(contentsOf: line[range])
        return String(text)
    }

    /// Removes ANSI escape sequences (colours, cursor moves).
    static func stripEscapes(_ text: String) -> String {
        var text = text
        guard text.withUTF8({ bytes in bytes.baseAddress.map { memchr($0, 27, bytes.count) != nil } ?? false })
        else { return text }
        var output: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let first = bytes.first {
            bytes = bytes.dropFirst()
            guard first == 27 else {
                output.append(first)
                continue
            }
            if bytes.first == UInt8(ascii: "[") {
                bytes = bytes.dropFirst()
                while let next = bytes.first, !(64...126).contains(next) { bytes = bytes.dropFirst() }
                bytes = bytes.dropFirst()
            } else {
                bytes = bytes.dropFirst()
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func isDigit(_ c: UInt8) -> Bool { (48...57).contains(c) }
    static func isLetter(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) || c == 95 }
    /// Characters that may end a value.
    static func isValueEnd(_ c: UInt8) -> Bool {
        switch c {
        case 32, 9, UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "|"), UInt8(ascii: ")"), UInt8(ascii: "]"),
            UInt8(ascii: "}"), UInt8(ascii: "'"), UInt8(ascii: "\""):
            return true
        default:
            return false
        }
    }

    /// A number starting at `start` that ends at a separator (or a `%`), and where it ends.
    static func number(in chars: UnsafeBufferPointer<UInt8>, at start: Int) -> (Double, Int)? {
        var cursor = start
        if cursor < chars.count && (chars[cursor] == UInt8(ascii: "-") || chars[cursor] == UInt8(ascii: "+")) {
            cursor += 1
        }
        let wordStart = cursor
        while cursor < chars.count && isLetter(chars[cursor]) { cursor += 1 }
        if cursor > wordStart {
            let word = String(decoding: UnsafeBufferPointer(rebasing: chars[wordStart..<cursor]), as: UTF8.self)
                .lowercased()
            guard ["nan", "inf", "infinity"].contains(word), cursor == chars.count || isValueEnd(chars[cursor]) else {
                return nil
            }
            let negative = chars[start] == UInt8(ascii: "-")
            return (word == "nan" ? .nan : (negative ? -.infinity : .infinity), cursor)
        }
        var digits = 0
        while cursor < chars.count && isDigit(chars[cursor]) {
            cursor += 1
            digits += 1
        }
        if cursor < chars.count && chars[cursor] == UInt8(ascii: ".") {
            cursor += 1
            while cursor < chars.count && isDigit(chars[cursor]) {
                cursor += 1
                digits += 1
            }
        }
        guard digits > 0 else { return nil }
        if cursor < chars.count && (chars[cursor] == UInt8(ascii: "e") || chars[cursor] == UInt8(ascii: "E")) {
            var exponent = cursor + 1
            if exponent < chars.count && (chars[exponent] == UInt8(ascii: "-") || chars[exponent] == UInt8(ascii: "+"))
            {
                exponent += 1
            }
            let exponentDigits = exponent
            while exponent < chars.count && isDigit(chars[exponent]) { exponent += 1 }
            if exponent > exponentDigits { cursor = exponent }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: chars[start..<cursor]), as: UTF8.self)
        var end = cursor
        if end < chars.count && chars[end] == UInt8(ascii: "%") { end += 1 }
        guard end == chars.count || isValueEnd(chars[end]), let value = Double(text) else { return nil }
        return (value, end)
    }

    static func number(_ text: String) -> Double? {
        let chars = Array(text.trimmingCharacters(in: .whitespaces).utf8)
        return chars.withUnsafeBufferPointer { chars in
            guard let (value, end) = number(in: chars, at: 0), end == chars.count else { return nil }
            return value
        }
    }
}

/// The keys output scalars used, numbered in the order first seen, and found again by their
/// bytes: a line's keys are nearly always ones seen before, and finding them makes no String.
struct KeyTable {
    private(set) var names: [String] = []
    private var spelled: [[UInt8]] = []
    /// Keys compared byte by byte before a String is made to look one up.
    static let directlyCompared = 32

    /// The number of the key spelled by `bytes`, added to the table and to `points` (whose
    /// keys are this table's, in order) when new.
    mutating func number(of bytes: UnsafeBufferPointer<UInt8>, in points: inout MetricPoints) -> UInt32 {
        for index in 0..<min(spelled.count, Self.directlyCompared) where spelled[index].count == bytes.count {
            let same = spelled[index].withUnsafeBufferPointer { known in
                memcmp(known.baseAddress!, bytes.baseAddress!, bytes.count) == 0
            }
            if same { return UInt32(index) }
        }
        return number(of: String(decoding: bytes, as: UTF8.self), in: &points)
    }

    mutating func number(of name: String, in points: inout MetricPoints) -> UInt32 {
        // A batch starts with every key of the table, so a known key keeps its number there.
        let number = points.keyNumber(name)
        if Int(number) == names.count {
            names.append(name)
            spelled.append(Array(name.utf8))
        }
        return number
    }
}

extension MetricPoint {
    /// Points from several sources merged: a (key, step) that a preferred source has
    /// (file > tensorboard > csv > stdout) is dropped from the others. The result is ordered
    /// by step (points without a step first), then in the order given, so a summary's
    /// `last` is the value at the latest step.
    ///
    /// Made for millions of points: one source alone is not deduplicated, and points already
    /// in step order are not copied.
    public static func merge(_ sources: [[MetricPoint]]) -> [MetricPoint] {
        let nonEmpty = sources.filter { !$0.isEmpty }
        var all: [MetricPoint]
        if nonEmpty.count == 1 {
            all = nonEmpty[0]
        } else {
            all = []
            all.reserveCapacity(nonEmpty.reduce(0) { $0 + $1.count })
            for source in nonEmpty { all += source }
        }
        var sources = Set<MetricSource>()
        for point in all where sources.count < 2 { sources.insert(point.source) }
        var kept: [Int]?
        if sources.count > 1 {
            struct Slot: Hashable {
                var key: String
                var step: Double?
            }
            var best: [Slot: MetricSource] = [:]
            for point in all {
                let slot = Slot(key: point.key, step: point.step)
                if let current = best[slot], current <= point.source { continue }
                best[slot] = point.source
            }
            kept = all.indices.filter { best[Slot(key: all[$0].key, step: all[$0].step)] == all[$0].source }
        }
        func step(_ index: Int) -> Double { all[index].step ?? -.infinity }
        var order = kept ?? Array(all.indices)
        var sorted = true
        for position in order.indices.dropFirst() where step(order[position - 1]) > step(order[position]) {
            sorted = false
            break
        }
        if sorted && kept == nil { return all }
        if !sorted { order.sort { (step($0), $0) < (step($1), $1) } }
        return order.map { all[$0] }
    }
}
