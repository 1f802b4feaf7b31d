public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads metrics from a command's output as it streams: `key: value` and `key=value` pairs
/// anywhere in a line (`epoch 3 | loss=0.52 acc: 0.91`), Hugging Face dict lines
/// (`{'loss': 0.5, 'epoch': 0.1}`), Keras and Lightning progress lines, Guild AI's
/// `loss: 0.4 (step 3)`. Values are numbers (`1e-3`, `-0.5`, `nan`, `inf`; `91.2%` is 91.2)
/// that end at a separator, so times (`12:30:01`), versions (`torch: 2.5.1`), dates and
/// addresses yield nothing. A `step`, `global_step`, `iter`, `iteration` or `epoch` pair, or
/// an `Epoch N` / `Step N` prefix, sets the step for the pairs after it on that line and on
/// later lines. Each `\r`-separated segment (progress bar updates) is read like a line; a
/// key logged again at the step of its last point replaces that point (a progress bar
/// redrawn), while a return to an earlier step adds a point.
public struct OutputScalarParser {
    /// Keys that set the step instead of being metrics.
    static let stepKeys: Set<String> = ["step", "global_step", "iter", "iteration", "epoch"]
    /// Keys progress bars print that are not metrics.
    static let ignoredKeys: Set<String> = ["v_num"]
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
        if extraPatterns.isEmpty {
            // The common case, a line without escapes: read from its bytes as they are, no
            // String, no array per line.
            if memchr(base, 27, chars.count) == nil {
                var current = step
                Self.scan(chars, step: &current) { keyStart, keyEnd, value, step in
                    record(
                        key: keys.number(of: UnsafeBufferPointer(rebasing: chars[keyStart..<keyEnd]), in: &points),
                        value: value, step: step)
                }
                step = current
                return
            }
            // Without `:` or `=` only an `Epoch N` / `Step N` prefix counts.
            if memchr(base, 58, chars.count) == nil && memchr(base, 61, chars.count) == nil {
                if chars[0] != 27, let prefixStep = Self.prefixStep(chars) { step = prefixStep }
                return
            }
        }
        for scalar in parse(String(decoding: chars, as: UTF8.self)) {
            record(key: keys.number(of: scalar.key, in: &points), value: scalar.value, step: scalar.step)
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
        var current = step
        Array(clean.utf8).withUnsafeBufferPointer { chars in
            Self.scan(chars, step: &current) { keyStart, keyEnd, value, step in
                result.append(
                    (
                        String(decoding: UnsafeBufferPointer(rebasing: chars[keyStart..<keyEnd]), as: UTF8.self), value,
                        step
                    ))
            }
        }
        step = current
        return result
    }

    /// The pairs of one line's bytes (escapes removed), in order, each as the range of its key,
    /// its value and its step; updates `step` on the way (an `Epoch N` prefix, a `step=` pair).
    ///
    /// It goes from separator to separator (`memchr` for `:` and `=`) and reads the key before
    /// each and the number after it, so a long line costs a scan: what it finds is what reading
    /// the line word by word from the left finds (a key starts at a boundary, after the text
    /// the previous pair used up).
    static func scan(
        _ chars: UnsafeBufferPointer<UInt8>, step: inout Double?,
        _ emit: (_ keyStart: Int, _ keyEnd: Int, _ value: Double, _ step: Double?) -> Void
    ) {
        if let prefixStep = Self.prefixStep(chars) { step = prefixStep }
        guard let base = chars.baseAddress else { return }
        let count = chars.count
        // Where the next key may start: after the text the previous pair used up.
        var low = 0
        var searchFrom = 0
        var nextColon = -1
        var nextEquals = -1
        while searchFrom < count {
            if nextColon < searchFrom { nextColon = find(58, base, from: searchFrom, count: count) }
            if nextEquals < searchFrom { nextEquals = find(61, base, from: searchFrom, count: count) }
            let separator = min(nextColon, nextEquals)
            guard separator < count else { return }
            searchFrom = separator + 1
            guard separator >= low, let key = keyBefore(separator, low: low, in: chars) else { continue }
            var cursor = separator + 1
            while cursor < count && chars[cursor] == 32 { cursor += 1 }
            guard let (value, valueEnd) = number(in: chars, at: cursor) else {
                low = cursor
                continue
            }
            var end = valueEnd
            let pairStep = guildStep(in: chars, at: &end)
            low = end
            searchFrom = max(searchFrom, end)
            if isStepKey(chars, key.start, key.end) {
                step = value
                continue
            }
            if key.end - key.start == 5 && matches(chars, key.start, "v_num", ignoringCase: false) { continue }
            emit(key.start, key.end, value, pairStep ?? step)
        }
    }

    /// The key that ends just before the separator at `separator` (past one quote and
    /// spaces): the run of key characters there, from its first character that may start a
    /// key (a letter or `_` at a boundary) at or after `low`, less a trailing `.`, `/` or `-`.
    static func keyBefore(
        _ separator: Int, low: Int, in chars: UnsafeBufferPointer<UInt8>
    ) -> (start: Int, end: Int)? {
        var cursor = separator
        while cursor > low && chars[cursor - 1] == 32 { cursor -= 1 }
        if cursor > low && (chars[cursor - 1] == UInt8(ascii: "'") || chars[cursor - 1] == UInt8(ascii: "\"")) {
            cursor -= 1  // a quoted key: 'loss': 0.5
        }
        let runEnd = cursor
        while cursor > low && isKeyChar(chars[cursor - 1]) { cursor -= 1 }
        var start = cursor
        while start < runEnd && !(isKeyStart(chars[start]) && (start == 0 || isKeyBoundary(chars[start - 1]))) {
            start += 1
        }
        guard start < runEnd else { return nil }
        var end = runEnd
        // A key may not end in '.', '/' or '-' (sentences, paths).
        while end > start
            && (chars[end - 1] == UInt8(ascii: ".") || chars[end - 1] == UInt8(ascii: "/")
                || chars[end - 1] == UInt8(ascii: "-"))
        {
            end -= 1
        }
        return (start, end)
    }

    /// Guild AI's `loss: 0.4 (step 3)`: the step after a value ending at `index`, which then
    /// moves past it.
    static func guildStep(in chars: UnsafeBufferPointer<UInt8>, at index: inout Int) -> Double? {
        guard matches(chars, index, " (step ", ignoringCase: false) else { return nil }
        let window = min(chars.count, index + 24)
        var cursor = index + 7
        while cursor < window && isDigit(chars[cursor]) { cursor += 1 }
        if cursor < window && chars[cursor] >= 0x80 {
            // Other digits than ASCII: read as before, as characters.
            let rest = String(decoding: UnsafeBufferPointer(rebasing: chars[index..<window]), as: UTF8.self)
            let digits = rest.dropFirst(7).prefix { $0.isNumber }
            if !digits.isEmpty, rest.dropFirst(7 + digits.count).first == ")" {
                index += 7 + digits.utf8.count + 1
                return Double(digits)
            }
        } else if cursor > index + 7, cursor < window, chars[cursor] == UInt8(ascii: ")") {
            let step = Double(
                String(decoding: UnsafeBufferPointer(rebasing: chars[(index + 7)..<cursor]), as: UTF8.self))
            index = cursor + 1
            return step
        }
        return nil
    }

    /// Whether `chars[start..<end]` is one of `stepKeys`, in any case.
    static func isStepKey(_ chars: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        switch end - start {
        case 4: return matches(chars, start, "iter") || matches(chars, start, "step")
        case 5: return matches(chars, start, "epoch")
        case 9: return matches(chars, start, "iteration")
        case 11: return matches(chars, start, "global_step")
        default: return false
        }
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

    /// `Epoch 3:`, `Epoch 3/10`, `Step 120` at the start of a line.
    static func prefixStep(_ chars: [UInt8]) -> Double? {
        chars.withUnsafeBufferPointer { prefixStep($0) }
    }

    static func prefixStep(_ chars: UnsafeBufferPointer<UInt8>) -> Double? {
        var index = 0
        while index < chars.count && chars[index] == 32 { index += 1 }
        for word: StaticString in ["epoch", "step"] {
            let end = index + word.utf8CodeUnitCount
            guard end < chars.count, matches(chars, index, word), chars[end] == 32 else { continue }
            var cursor = end + 1
            let start = cursor
            while cursor < chars.count && isDigit(chars[cursor]) { cursor += 1 }
            guard cursor > start else { return nil }
            if cursor < chars.count {
                switch chars[cursor] {
                case UInt8(ascii: ":"), UInt8(ascii: "/"), 32, UInt8(ascii: ","): break
                default: return nil
                }
            }
            return Double(String(decoding: UnsafeBufferPointer(rebasing: chars[start..<cursor]), as: UTF8.self))
        }
        return nil
    }

    static func isDigit(_ c: UInt8) -> Bool { (48...57).contains(c) }
    static func isKeyStart(_ c: UInt8) -> Bool { (65...90).contains(c) || (97...122).contains(c) || c == 95 }
    static func isKeyChar(_ c: UInt8) -> Bool {
        isKeyStart(c) || isDigit(c) || c == UInt8(ascii: "/") || c == UInt8(ascii: ".") || c == UInt8(ascii: "-")
    }

    /// Characters that may come before a key.
    static func isKeyBoundary(_ c: UInt8) -> Bool {
        switch c {
        case 32, 9, UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "|"), UInt8(ascii: "("), UInt8(ascii: "["),
            UInt8(ascii: "{"), UInt8(ascii: "-"), UInt8(ascii: "'"), UInt8(ascii: "\""):
            return true
        default:
            return false
        }
    }

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
        while cursor < chars.count && (isKeyStart(chars[cursor])) { cursor += 1 }
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
