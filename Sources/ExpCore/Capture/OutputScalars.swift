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
/// key logged again at the same step keeps its last value.
public struct OutputScalarParser {
    /// Keys that set the step instead of being metrics.
    static let stepKeys: Set<String> = ["step", "global_step", "iter", "iteration", "epoch"]
    /// Keys progress bars print that are not metrics.
    static let ignoredKeys: Set<String> = ["v_num"]
    /// Longest line kept; the rest of a longer line is dropped.
    static let maxLineLength = 16 * 1024

    /// Extra patterns (`exp.outputPattern`): regexes with named groups `key`, `value` and
    /// optionally `step`.
    let extraPatterns: [NSRegularExpression]
    private var line: [UInt8] = []
    private var overflow = false
    private(set) var step: Double?
    /// Points so far, in order; a point with a step replaces an earlier one of the same key
    /// and step.
    private(set) var points = MetricPoints()
    private var positions: [StepKey: Int] = [:]
    private let clock: () -> Double

    public init(extraPatterns: [String] = [], clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        self.extraPatterns = try extraPatterns.map { pattern in
            do {
                return try NSRegularExpression(pattern: pattern)
            } catch {
                throw ExpError(
                    "bad exp.outputPattern '\(pattern)': not a regular expression",
                    hint: "use named groups, e.g. (?<key>\\w+) -> (?<value>[0-9.]+)")
            }
        }
        self.clock = clock
    }

    /// A key (its number in `points`) at a step.
    struct StepKey: Hashable {
        var key: UInt32
        var step: Double
    }

    /// Feeds a chunk of output. Lines are found with `memchr`, so output without scalars (or
    /// one endless line) costs little more than a scan.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        var offset = 0
        var nextNewline = -1
        var nextReturn = -1
        while offset < count {
            if nextNewline < offset { nextNewline = Self.find(10, base, from: offset, count: count) }
            if nextReturn < offset { nextReturn = Self.find(13, base, from: offset, count: count) }
            let end = min(nextNewline, nextReturn)
            if !overflow {
                let length = end - offset
                if line.count + length <= Self.maxLineLength {
                    line.append(contentsOf: UnsafeRawBufferPointer(start: base + offset, count: length))
                } else {
                    overflow = true
                }
            }
            if end < count { finishLine() }
            offset = end + 1
        }
    }

    /// The index of the next `byte` at or after `offset`, or `count` when there is none.
    private static func find(_ byte: Int32, _ base: UnsafeRawPointer, from offset: Int, count: Int) -> Int {
        guard let found = memchr(base + offset, byte, count - offset) else { return count }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// Reads what is left after the output ended.
    public mutating func finish() -> [MetricPoint] {
        finishLine()
        return Array(points)
    }

    private mutating func finishLine() {
        defer {
            line.removeAll(keepingCapacity: true)
            overflow = false
        }
        guard !line.isEmpty, !overflow else { return }
        // Most output has no pair: without `:` or `=` only an `Epoch N` / `Step N` prefix counts.
        if extraPatterns.isEmpty,
            line.withUnsafeBytes({ bytes in
                guard let base = bytes.baseAddress else { return true }
                return memchr(base, 58, bytes.count) == nil && memchr(base, 61, bytes.count) == nil
            })
        {
            if line.first != 27, let prefixStep = Self.prefixStep(line) { step = prefixStep }
            return
        }
        // The common case, a line without escapes read without patterns, is read from its
        // bytes as they are: no String, no array per line.
        if extraPatterns.isEmpty,
            line.withUnsafeBytes({ bytes in memchr(bytes.baseAddress!, 27, bytes.count) == nil })
        {
            var current = step
            line.withUnsafeBufferPointer { chars in
                Self.scan(chars, step: &current) { key, value, step in
                    record((key, value, step))
                }
            }
            step = current
            return
        }
        for scalar in parse(String(decoding: line, as: UTF8.self)) {
            record(scalar)
        }
    }

    /// Hands out the points read since the last call and forgets them, so a long run's
    /// points are held once, by the caller. A key logged again at a step already handed out
    /// comes again: the caller keeps the last value of a (key, step).
    public mutating func takeNew() -> MetricPoints {
        defer {
            points = MetricPoints()
            positions.removeAll(keepingCapacity: true)  // the next second's as many again
        }
        return points
    }

    private mutating func record(_ scalar: (key: String, value: Double, step: Double?)) {
        let point = MetricPoint(key: scalar.key, step: scalar.step, time: clock(), value: scalar.value, source: .stdout)
        if let step = scalar.step {
            let slot = StepKey(key: points.keyNumber(scalar.key), step: step)
            if let position = positions[slot] {
                points[position] = point
                return
            }
            positions[slot] = points.count
        }
        points.append(point)
    }

    /// The pairs of one line (without its newline), updating the current step.
    public mutating func parse(_ text: String) -> [(key: String, value: Double, step: Double?)] {
        let clean = Self.stripEscapes(text)
        var result: [(key: String, value: Double, step: Double?)] = []
        for pattern in extraPatterns {
            let range = NSRange(clean.startIndex..., in: clean)
            for match in pattern.matches(in: clean, range: range) {
                guard let key = Self.group(match, "key", in: clean),
                    let value = Self.group(match, "value", in: clean).flatMap(Self.number)
                else { continue }
                let step = Self.group(match, "step", in: clean).flatMap(Self.number) ?? step
                result.append((key, value, step))
            }
        }
        var current = step
        Array(clean.utf8).withUnsafeBufferPointer { chars in
            Self.scan(chars, step: &current) { key, value, step in result.append((key, value, step)) }
        }
        step = current
        return result
    }

    /// The pairs of one line's bytes (escapes removed), in order, each with its step;
    /// updates `step` on the way (an `Epoch N` prefix, a `step=` pair).
    static func scan(
        _ chars: UnsafeBufferPointer<UInt8>, step: inout Double?, _ emit: (String, Double, Double?) -> Void
    ) {
        var index = 0
        if let prefixStep = Self.prefixStep(chars) { step = prefixStep }
        while index < chars.count {
            guard let pair = Self.pair(in: chars, at: &index) else { continue }
            if pair.isStepKey {
                step = pair.value
                continue
            }
            if ignoredKeys.contains(pair.key) { continue }
            emit(pair.key, pair.value, pair.step ?? step)
        }
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

    private static func group(_ match: NSTextCheckingResult, _ name: String, in text: String) -> String? {
        let range = match.range(withName: name)
        guard range.location != NSNotFound, let swiftRange = Range(range, in: text) else { return nil }
        return String(text[swiftRange])
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

    /// The next `key: value` / `key=value` pair at or after `index`; advances `index` past
    /// what it looked at. Returns nil (with `index` advanced) when the text there is not one.
    static func pair(
        in chars: UnsafeBufferPointer<UInt8>, at index: inout Int
    ) -> (key: String, value: Double, step: Double?, isStepKey: Bool)? {
        // Find a key start at a boundary.
        while index < chars.count {
            if isKeyStart(chars[index]) && (index == 0 || isKeyBoundary(chars[index - 1])) { break }
            index += 1
        }
        guard index < chars.count else { return nil }
        let keyStart = index
        while index < chars.count && isKeyChar(chars[index]) { index += 1 }
        var keyEnd = index
        // A key may not end in '.', '/' or '-' (sentences, paths).
        while keyEnd > keyStart
            && (chars[keyEnd - 1] == UInt8(ascii: ".") || chars[keyEnd - 1] == UInt8(ascii: "/")
                || chars[keyEnd - 1] == UInt8(ascii: "-"))
        {
            keyEnd -= 1
        }
        guard keyEnd > keyStart else {
            index = max(index, keyStart + 1)
            return nil
        }
        var cursor = index
        if cursor < chars.count && (chars[cursor] == UInt8(ascii: "'") || chars[cursor] == UInt8(ascii: "\"")) {
            cursor += 1  // a quoted key: 'loss': 0.5
        }
        while cursor < chars.count && chars[cursor] == 32 { cursor += 1 }
        guard cursor < chars.count, chars[cursor] == UInt8(ascii: ":") || chars[cursor] == UInt8(ascii: "=") else {
            return nil
        }
        cursor += 1
        while cursor < chars.count && chars[cursor] == 32 { cursor += 1 }
        guard let (value, valueEnd) = number(in: chars, at: cursor) else {
            index = cursor
            return nil
        }
        index = valueEnd
        let key = String(decoding: UnsafeBufferPointer(rebasing: chars[keyStart..<keyEnd]), as: UTF8.self)
        let isStepKey = isStepKey(chars, keyStart, keyEnd)
        // Guild AI's `loss: 0.4 (step 3)`.
        var step: Double?
        if matches(chars, index, " (step ", ignoringCase: false) {
            let window = min(chars.count, index + 24)
            var cursor = index + 7
            while cursor < window && isDigit(chars[cursor]) { cursor += 1 }
            if cursor < window && chars[cursor] >= 0x80 {
                // Other digits than ASCII: read as before, as characters.
                let rest = String(decoding: UnsafeBufferPointer(rebasing: chars[index..<window]), as: UTF8.self)
                let digits = rest.dropFirst(7).prefix { $0.isNumber }
                if !digits.isEmpty, rest.dropFirst(7 + digits.count).first == ")" {
                    step = Double(digits)
                    index += 7 + digits.count + 1
                }
            } else if cursor > index + 7, cursor < window, chars[cursor] == UInt8(ascii: ")") {
                step = Double(
                    String(decoding: UnsafeBufferPointer(rebasing: chars[(index + 7)..<cursor]), as: UTF8.self))
                index = cursor + 1
            }
        }
        return (key, value, step, isStepKey)
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
