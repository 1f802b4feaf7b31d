#if canImport(Glibc)
    import Glibc
#endif

/// Reads the metric points of output lines, one line at a time, remembering what a line says
/// about the ones after it (the step, a table's header, a block of `| key | value |` rows).
///
/// What a line may hold, beyond `key: value` and `key=value`:
/// - `key value` pairs, when the line's shape says it reports metrics: it has a step
///   (`iter 10: loss 2.31`, `it 120 loss 2.3 lr 3e-4`) or several such pairs
///   (`train loss 0.41, valid loss 0.45`);
/// - keys of up to four words (`train loss` → `train_loss`, `valid_0's l2` → `valid_0_l2`,
///   `elapsed time per iteration (ms)` → `elapsed_time_per_iteration_ms`), a line-start label
///   joined to the first key (`Test set: Average loss` → `test_set_average_loss`); keys are
///   lowercased, so `Loss` and `loss` are one metric;
/// - the step anywhere in the line, for all its pairs: `step 15:`, `iter 10:`, `it 120`,
///   `iteration 10/500`, `Epoch [3/10]`, `Epoch 3/10`, `epoch=3`, `[10]` or `10:` at the start;
///   a finer step (`step`, `iter`) wins over `epoch`. An epoch with the position in it
///   (`Epoch 2 [1280/50000 (3%)]`, a progress bar's `Epoch 0: 26%| 500/1875`) is no step: the
///   record keeps one value per key and step, and each report inside an epoch is a point;
/// - tables: a header row of names (columns apart by tabs, two spaces or `|`) and rows of
///   numbers under it (fastai, markdown); Stable-Baselines3's `| prefix/ | |` and
///   `|    key | value |` blocks, whose points take the block's `total_timesteps` as step;
/// - Keras ` - loss: 0.08 - val_loss: 0.09`, dict reprs (`{'loss': 0.5}`).
///
/// Values: decimal and scientific numbers, `nan`, `inf`. A unit right after the number is
/// dropped and the number kept as printed (`31.5ms` is 31.5, `91.2%` is 91.2, `3.8s` is 3.8):
/// the key says what was measured, and the number matches what the user saw. A running
/// average in parentheses after a value (`Loss 0.6931 (0.7012)`) is skipped. Counts
/// (`1280/50000`), rates (`121.02it/s`, `5ms/step`), times of day, dates, versions and
/// addresses are never values, and timers (`eta`, `remaining`, `total`, `best`) never keys.
///
/// Bounded: lines are read in full up to `OutputScalarParser.maxLineLength`, at most
/// `maxTokens` pieces and `maxPairs` pairs a line.
struct OutputLineReader {
    /// A point read from a line: its key's bytes in `keyBytes`, its value and step.
    struct Pair {
        var keyStart: Int
        var keyEnd: Int
        var value: Double
        var step: Double?
    }

    static let maxTokens = 512
    static let maxPairs = 64
    static let maxKeyWords = 4
    static let maxKeyLength = 96
    /// Keys that set the step instead of being metrics; `epoch` is the coarsest.
    static let stepWords: Set<String> = ["step", "global_step", "iter", "iteration", "epoch", "it"]
    /// Keys that are never metrics: progress bars' version, timers and running bests.
    static let ignoredKeys: Set<String> = [
        "v_num", "eta", "remaining", "total", "best", "rank", "remaining_time", "time_remaining", "total_time",
        "total_training_time",
    ]

    /// The points of the last line read.
    private(set) var pairs: [Pair] = []
    /// The keys of `pairs`, normalised.
    private(set) var keyBytes: [UInt8] = []

    private var tokens: [Token] = []
    /// The pairs of the line being read, before they become points (kept for its capacity).
    private var foundBuffer: [Found] = []
    /// The header of the table being read, as normalised column names (nil: no table).
    private var header: [[UInt8]]?
    /// Which column of `header` holds the step, and which the epoch, if any.
    private var headerStep: Int?
    private var headerEpoch: Int?
    /// Rows of the Stable-Baselines3 block being read: keys in `blockKeys`, values.
    private var block: [(start: Int, end: Int, value: Double)] = []
    private var blockKeys: [UInt8] = []
    private var blockPrefix: [UInt8] = []

    struct Token {
        enum Kind: UInt8 {
            case word, number, count, colon, equals, separator, open, close, quote, other
        }
        var kind: Kind
        var start: Int
        var end: Int
        /// A number's value; a count's first number.
        var value: Double = 0
        /// Space before the token: 0 none, 1 one space, 2 more (or a tab).
        var gap: UInt8 = 0
        /// A word followed by `'s`.
        var possessive = false
        /// A number followed by a unit or `%`.
        var unit = false
    }

    // MARK: Lines

    /// Reads one line (no newline, escapes removed): its points land in `pairs`; `step` is the
    /// step in force, updated when the line sets one.
    mutating func read(_ chars: UnsafeBufferPointer<UInt8>, step: inout Double?) {
        pairs.removeAll(keepingCapacity: true)
        keyBytes.removeAll(keepingCapacity: true)
        if readBlockRow(chars, step: &step) { return }
        tokenize(chars)
        if readTableLine(chars, step: &step) { return }
        readPairs(chars, step: &step)
    }

    /// Ends the output: a block not closed yet is read.
    mutating func finish(step: inout Double?) {
        pairs.removeAll(keepingCapacity: true)
        keyBytes.removeAll(keepingCapacity: true)
        flushBlock(step: &step)
    }

    // MARK: Pieces

    private mutating func tokenize(_ chars: UnsafeBufferPointer<UInt8>) {
        tokens.removeAll(keepingCapacity: true)
        let classes = Self.classes
        let count = chars.count
        var index = 0
        var gap: UInt8 = 0
        while index < count && tokens.count < Self.maxTokens {
            let c = chars[index]
            if c == 32 {
                var end = index + 1
                while end < count && chars[end] == 32 { end += 1 }
                gap = end - index > 1 ? 2 : max(gap, 1)
                index = end
                continue
            }
            if c == 9 {
                gap = 2
                index += 1
                continue
            }
            let start = index
            var token = Token(kind: .other, start: start, end: start + 1, gap: gap)
            gap = 0
            let kind = classes[Int(c)]
            if kind & Self.letter != 0 {
                let end = Self.skipKeyChars(chars, from: index + 1)
                index = end
                if let special = Self.specialNumber(chars, start, end, negative: false) {
                    token.kind = .number
                    token.value = special
                    token.end = end
                    if end < count && !Self.isValueEnd(chars[end]) { token.kind = .other }
                } else {
                    token.kind = .word
                    // A key may not end in '.', '/' or '-' (sentences, paths, prefixes).
                    var wordEnd = end
                    while wordEnd > start + 1 && classes[Int(chars[wordEnd - 1])] & Self.trailing != 0 {
                        wordEnd -= 1
                    }
                    token.end = wordEnd
                    if end + 1 < count && chars[end] == UInt8(ascii: "'") && chars[end + 1] == UInt8(ascii: "s")
                        && (end + 2 == count || classes[Int(chars[end + 2])] & Self.keyChar == 0)
                    {
                        token.possessive = true
                        index = end + 2
                    }
                }
            } else if kind & Self.digit != 0
                || ((c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: "."))
                    && Self.startsNumber(chars, index + 1))
            {
                index = readNumber(chars, at: index, into: &token)
            } else if kind & Self.keyChar != 0 {
                // '/', '.', '-' runs: paths and rules, never keys.
                var end = index + 1
                while end < count && classes[Int(chars[end])] & Self.keyChar != 0 { end += 1 }
                if c == UInt8(ascii: "-") && end == index + 1 && token.gap > 0 && (end == count || chars[end] == 32) {
                    token.kind = .separator  // Keras' " - "
                }
                token.end = end
                index = end
            } else {
                switch c {
                case UInt8(ascii: ":"): token.kind = .colon
                case UInt8(ascii: "="): token.kind = .equals
                case UInt8(ascii: "|"), UInt8(ascii: ","), UInt8(ascii: ";"): token.kind = .separator
                case UInt8(ascii: "("), UInt8(ascii: "["), UInt8(ascii: "{"): token.kind = .open
                case UInt8(ascii: ")"), UInt8(ascii: "]"), UInt8(ascii: "}"): token.kind = .close
                case UInt8(ascii: "'"), UInt8(ascii: "\""): token.kind = .quote
                default:
                    // Anything else (bars, arrows, other scripts): one piece up to a space.
                    var end = index + 1
                    while end < count && classes[Int(chars[end])] & (Self.letter | Self.digit | Self.stop) == 0 {
                        end += 1
                    }
                    token.end = end
                    index = end
                    tokens.append(token)
                    continue
                }
                index += 1
            }
            tokens.append(token)
        }
    }

    /// Where a run of key characters starting at `start` ends. Past `maxKeyLength` it cannot
    /// be a key, and the run is taken to the next space or tab (found with `memchr`), so a long
    /// word (padding, a hash, a path) costs little.
    @inline(__always)
    private static func skipKeyChars(_ chars: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        guard let base = chars.baseAddress else { return start }
        let classes = Self.classes
        let count = chars.count
        let limit = min(count, start + maxKeyLength)
        var index = start
        while index < limit && classes[Int(base[index])] & keyChar != 0 { index += 1 }
        guard index == limit && limit < count else { return index }
        let space = OutputScalarParser.find(32, base, from: index, count: count)
        return min(space, OutputScalarParser.find(9, base, from: index, count: space))
    }

    /// Whether a number starts at `index` (after a sign or a point).
    private static func startsNumber(_ chars: UnsafeBufferPointer<UInt8>, _ index: Int) -> Bool {
        guard index < chars.count else { return false }
        let c = chars[index]
        if classes[Int(c)] & digit != 0 { return true }
        if c == UInt8(ascii: ".") { return index + 1 < chars.count && classes[Int(chars[index + 1])] & digit != 0 }
        if classes[Int(c)] & letter != 0 {
            var end = index
            while end < chars.count && classes[Int(chars[end])] & letter != 0 { end += 1 }
            return specialNumber(chars, index, end, negative: false) != nil
        }
        return false
    }

    /// `nan`, `inf`, `infinity` in any case.
    private static func specialNumber(_ chars: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int, negative: Bool)
        -> Double?
    {
        switch end - start {
        case 3:
            if OutputScalarParser.matches(chars, start, "nan") { return .nan }
            if OutputScalarParser.matches(chars, start, "inf") { return negative ? -.infinity : .infinity }
        case 8:
            if OutputScalarParser.matches(chars, start, "infinity") { return negative ? -.infinity : .infinity }
        default: break
        }
        return nil
    }

    /// Reads a number (or a count, or something that only starts like one) at `start`; returns
    /// where reading goes on.
    private func readNumber(_ chars: UnsafeBufferPointer<UInt8>, at start: Int, into token: inout Token) -> Int {
        let count = chars.count
        let classes = Self.classes
        var cursor = start
        var negative = false
        if chars[cursor] == UInt8(ascii: "-") || chars[cursor] == UInt8(ascii: "+") {
            negative = chars[cursor] == UInt8(ascii: "-")
            cursor += 1
        }
        if cursor < count && classes[Int(chars[cursor])] & Self.letter != 0 {
            var end = cursor
            while end < count && classes[Int(chars[end])] & Self.letter != 0 { end += 1 }
            token.value = Self.specialNumber(chars, cursor, end, negative: negative) ?? .nan
            token.kind = end == count || Self.isValueEnd(chars[end]) ? .number : .other
            token.end = end
            return token.kind == .number ? end : skipOther(chars, from: end, token: &token)
        }
        let digitsStart = cursor
        while cursor < count && classes[Int(chars[cursor])] & Self.digit != 0 { cursor += 1 }
        if cursor < count && chars[cursor] == UInt8(ascii: ".") {
            cursor += 1
            while cursor < count && classes[Int(chars[cursor])] & Self.digit != 0 { cursor += 1 }
        }
        if cursor < count && (chars[cursor] == UInt8(ascii: "e") || chars[cursor] == UInt8(ascii: "E")) {
            var exponent = cursor + 1
            if exponent < count && (chars[exponent] == UInt8(ascii: "-") || chars[exponent] == UInt8(ascii: "+")) {
                exponent += 1
            }
            let exponentDigits = exponent
            while exponent < count && classes[Int(chars[exponent])] & Self.digit != 0 { exponent += 1 }
            if exponent > exponentDigits { cursor = exponent }
        }
        let numberEnd = cursor
        guard numberEnd > digitsStart, let value = Self.double(chars, start, numberEnd) else {
            token.end = numberEnd
            return skipOther(chars, from: numberEnd, token: &token)
        }
        token.value = value
        token.end = numberEnd
        if cursor == count {
            token.kind = .number
            return cursor
        }
        let next = chars[cursor]
        let whole = !chars[start..<numberEnd].contains(UInt8(ascii: "."))
        if whole && next == UInt8(ascii: ",") && cursor + 3 < count && classes[Int(chars[cursor + 1])] & Self.digit != 0
            && classes[Int(chars[cursor + 2])] & Self.digit != 0 && classes[Int(chars[cursor + 3])] & Self.digit != 0
            && (cursor + 4 == count || classes[Int(chars[cursor + 4])] & Self.digit == 0)
        {
            // `39,469,056`: a count with thousands separators, never a value.
            var end = cursor
            while end + 3 < count && chars[end] == UInt8(ascii: ",")
                && classes[Int(chars[end + 1])] & classes[Int(chars[end + 2])] & classes[Int(chars[end + 3])]
                    & Self.digit != 0
            {
                end += 4
            }
            token.kind = .other
            token.end = end
            return end
        }
        if whole && next == 32 && cursor + 3 < count && chars[cursor + 1] == UInt8(ascii: "/")
            && chars[cursor + 2] == 32
        {
            // `100 / 1101`: a count written with spaces.
            var denominator = cursor + 3
            while denominator < count && chars[denominator] == 32 { denominator += 1 }
            let digits = denominator
            while denominator < count && classes[Int(chars[denominator])] & Self.digit != 0 { denominator += 1 }
            if denominator > digits && (denominator == count || Self.isValueEnd(chars[denominator])) {
                token.kind = .count
                token.end = denominator
                return denominator
            }
        }
        if next == UInt8(ascii: "%") {
            cursor += 1
            token.unit = true
        } else if next == UInt8(ascii: "/") {
            // A count: `1280/50000`, `10/  500000`.
            var denominator = cursor + 1
            while denominator < count && chars[denominator] == 32 { denominator += 1 }
            let digits = denominator
            while denominator < count && classes[Int(chars[denominator])] & Self.digit != 0 { denominator += 1 }
            if denominator > digits && (denominator == count || Self.isValueEnd(chars[denominator])) {
                token.kind = .count
                token.end = denominator
                return denominator
            }
        } else if classes[Int(next)] & Self.letter != 0 || next == 0xC2 {
            var unitEnd = cursor + (next == 0xC2 ? 2 : 1)  // µ
            while unitEnd < count && classes[Int(chars[unitEnd])] & Self.letter != 0 { unitEnd += 1 }
            if unitEnd <= count && Self.isUnit(chars, cursor, unitEnd) {
                cursor = unitEnd
                token.unit = true
            }
        } else if next == UInt8(ascii: ":") {
            // `10:` ends a number; `12:30` does not.
            if cursor + 1 == count || chars[cursor + 1] == 32 || chars[cursor + 1] == 9 {
                token.kind = .number
                return cursor
            }
        }
        if cursor == count || Self.isValueEnd(chars[cursor]) {
            token.kind = .number
            return cursor
        }
        return skipOther(chars, from: cursor, token: &token)
    }

    /// Makes `token` an `other` that runs to the next value end.
    private func skipOther(_ chars: UnsafeBufferPointer<UInt8>, from start: Int, token: inout Token) -> Int {
        var end = start
        while end < chars.count && !Self.isValueEnd(chars[end]) { end += 1 }
        token.kind = .other
        token.end = end
        return end
    }

    /// Powers of ten that a Double holds exactly.
    private static let powersOfTen: [Double] = (0...22).map { pow(10, Double($0)) }

    private static func double(_ chars: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Double? {
        guard end - start < 64, let base = chars.baseAddress else { return nil }
        // The common case, at most 15 digits and no exponent: the digits as an integer divided
        // by a power of ten, both exact, so the one division rounds as strtod does.
        var index = start
        let negative = base[index] == UInt8(ascii: "-")
        if negative || base[index] == UInt8(ascii: "+") { index += 1 }
        var mantissa: UInt64 = 0
        var digits = 0
        var fraction = -1
        while index < end {
            let c = base[index]
            if c >= 48 && c <= 57 {
                mantissa = mantissa &* 10 &+ UInt64(c &- 48)
                digits += 1
                if fraction >= 0 { fraction += 1 }
            } else if c == UInt8(ascii: ".") && fraction < 0 {
                fraction = 0
            } else {
                break
            }
            index += 1
        }
        if index == end && digits > 0 && digits <= 15 {
            let value = Double(mantissa) / powersOfTen[max(fraction, 0)]
            return negative ? -value : value
        }
        // strtod on a terminated copy: the bytes checked above are a plain decimal number.
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: end - start + 1) { buffer in
            for offset in 0..<(end - start) { buffer[offset] = CChar(bitPattern: base[start + offset]) }
            buffer[end - start] = 0
            return strtod(buffer.baseAddress!, nil)
        }
    }

    /// Units dropped after a number.
    private static func isUnit(_ chars: UnsafeBufferPointer<UInt8>, _ start: Int, _ end: Int) -> Bool {
        switch end - start {
        case 1:
            // Seconds; sizes (`2757M`, `3.39G`).
            switch chars[start] {
            case UInt8(ascii: "s"), UInt8(ascii: "K"), UInt8(ascii: "M"), UInt8(ascii: "G"), UInt8(ascii: "B"):
                return true
            default: return false
            }
        case 2:
            for unit: StaticString in ["ms", "us", "ns", "gb", "mb", "kb"]
            where OutputScalarParser.matches(chars, start, unit) {
                return true
            }
            return false
        case 3:
            if chars[start] == 0xC2 && chars[start + 1] == 0xB5 && chars[start + 2] == UInt8(ascii: "s") { return true }
            for unit: StaticString in ["sec", "min", "gib", "mib"] where OutputScalarParser.matches(chars, start, unit)
            {
                return true
            }
            return false
        default: return false
        }
    }

    // MARK: Pairs

    /// What a line's pairs say, before they become points.
    private struct Found {
        var keyStart: Int
        var keyEnd: Int
        var value: Double
        var spaced: Bool
        var step: Double?
    }

    /// What one line says, gathered while its pairs are read.
    private struct LineState {
        var step: Double?
        var stepIsEpoch = false
        /// The token of the epoch's value, and whether a position followed it.
        var epochAt = Int.max
        var epochInProgress = false
        /// The last count that was no key's value.
        var lastCount = -1
        var spacedCount = 0
        /// A failed pair of text (`'name': None`) inside a dict or a call: a config echo.
        var config = false
        /// The colon that ends a line-start label (`Test:`), or -1.
        var labelEnd = -1
        /// Whether a call (`Name(`) is on the line.
        var hasCall = false
        /// The split a line names as `Epoch(val)`: its word's token, or -1.
        var split = -1
    }

    private mutating func readPairs(_ chars: UnsafeBufferPointer<UInt8>, step: inout Double?) {
        var found: [Found] = []
        swap(&found, &foundBuffer)
        defer {
            found.removeAll(keepingCapacity: true)
            swap(&found, &foundBuffer)
        }
        var line = LineState()
        var first = 0
        // A timestamp or a level in brackets at the start: `[2026-12-01 10:00:05]`.
        if first < tokens.count && tokens[first].kind == .open && chars[tokens[first].start] == UInt8(ascii: "[") {
            if first + 2 < tokens.count && tokens[first + 1].kind == .number && tokens[first + 2].kind == .close
                && !tokens[first + 1].unit
            {
                line.step = tokens[first + 1].value  // `[10]`: LightGBM, XGBoost
                first += 3
            } else if let close = tokens[first...].firstIndex(where: { $0.kind == .close }), close < first + 12 {
                first = close + 1
            }
        } else if first + 1 < tokens.count && tokens[first].kind == .number && tokens[first + 1].kind == .colon
            && !tokens[first].unit && tokens[first].value >= 0
        {
            line.step = tokens[first].value  // `20:` CatBoost
            first += 2
        }
        // A dict or a call (`Namespace(`) on the line: text values there make it a config echo.
        var hasDictOrCall = false
        for index in tokens.indices where tokens[index].kind == .open {
            let c = chars[tokens[index].start]
            if c == UInt8(ascii: "{") { hasDictOrCall = true }
            if c == UInt8(ascii: "("), index > 0, tokens[index - 1].kind == .word, tokens[index].gap == 0 {
                hasDictOrCall = true
                line.hasCall = true
            }
        }
        if line.hasCall {
            // `Epoch(val)`: the line's keys are the split's (`val_time`); training is the default.
            for index in 1..<max(1, tokens.count - 2)
            where tokens[index].kind == .open && tokens[index + 1].kind == .word && tokens[index + 2].kind == .close
                && tokens[index - 1].kind == .word && tokens[index].gap == 0
            {
                let word = tokens[index + 1]
                let name = String(decoding: UnsafeBufferPointer(rebasing: chars[word.start..<word.end]), as: UTF8.self)
                if ["val", "valid", "validation", "test", "eval"].contains(name.lowercased()) {
                    line.split = index + 1
                    break
                }
            }
        }
        var index = first
        while index < tokens.count {
            let token = tokens[index]
            switch token.kind {
            case .colon, .equals:
                var valueAt = index + 1
                var after = index + 2
                // A one-element list stands for its number: `lr=[0.00015]`, `[12.]`.
                if valueAt + 2 < tokens.count && tokens[valueAt].kind == .open && tokens[valueAt + 1].kind == .number
                    && tokens[valueAt + 2].kind == .close && chars[tokens[valueAt].start] == UInt8(ascii: "[")
                {
                    valueAt += 1
                    after = valueAt + 2
                }
                let spacedEquals = token.kind == .equals && token.gap > 0
                guard valueAt < tokens.count, tokens[valueAt].kind == .number || tokens[valueAt].kind == .count,
                    let key = keyBefore(index, first: first, line: line, lastWordAlone: token.kind == .colon, chars)
                else {
                    if token.kind == .colon && line.labelEnd < 0 && isLabel(first, index, chars) {
                        line.labelEnd = index
                    }
                    if hasDictOrCall, valueAt < tokens.count,
                        tokens[valueAt].kind == .word || tokens[valueAt].kind == .quote,
                        keyBefore(index, first: first, line: line, lastWordAlone: false, chars) != nil
                    {
                        line.config = true
                    }
                    index += 1
                    continue
                }
                if spacedEquals && key.lastWord > key.firstWord {
                    // `Num examples = 3668`, `setting weight_decay = 0.1`: a banner, not a metric.
                    index = after
                    continue
                }
                index = take(key, valueAt: valueAt, after: after, spaced: false, chars, into: &found, line: &line)
            case .number, .count:
                // `key value`: a word right before the number, one or more spaces apart.
                if token.gap > 0, index > first, tokens[index - 1].kind == .word || isUnitGroupEnd(index - 1, chars),
                    let key = keyBefore(index, first: first, line: line, lastWordAlone: false, chars)
                {
                    let before = found.count
                    index = take(key, valueAt: index, after: index + 1, spaced: true, chars, into: &found, line: &line)
                    line.spacedCount += found.count - before
                } else {
                    if token.kind == .count { line.lastCount = index }
                    index += 1
                }
            case .open:
                // `Epoch [3/10]`, `Epoch: [0]`: the number in brackets is the key's value.
                let valueAt = index + 1
                if valueAt + 1 < tokens.count, index > first,
                    tokens[index - 1].kind == .word || tokens[index - 1].kind == .colon,
                    tokens[valueAt].kind == .count || tokens[valueAt].kind == .number,
                    tokens[valueAt + 1].kind == .close, chars[token.start] == UInt8(ascii: "["),
                    let key = keyBefore(
                        tokens[index - 1].kind == .colon ? index - 1 : index, first: first, line: line,
                        lastWordAlone: false, chars)
                {
                    index = take(
                        key, valueAt: valueAt, after: valueAt + 2, spaced: true, chars, into: &found, line: &line)
                } else {
                    index += 1
                }
            default:
                index += 1
            }
            if found.count >= Self.maxPairs { break }
        }
        if line.config { return }
        let hasStep = line.step != nil || line.epochInProgress
        if line.stepIsEpoch && line.lastCount > line.epochAt { line.epochInProgress = true }
        if line.epochInProgress && line.stepIsEpoch { line.step = nil }
        if let lineStep = line.step { step = lineStep }
        let pointStep = line.epochInProgress && line.step == nil ? nil : step
        // One `name   value` pair, the line's only content, aligned: a two-column table row.
        let aligned =
            found.count == 1 && tokens.last?.kind == .number && tokens.last?.gap == 2
            && tokens.dropLast().allSatisfy { $0.kind == .word }
        // Words after the last value (`… 4 epochs took 0.01 seconds`): a sentence, unless stepped.
        let endsInWords = tokens.last?.kind == .word
        let keepSpaced = hasStep || (line.spacedCount >= 2 && !endsInWords) || aligned
        for pair in found where keepSpaced || !pair.spaced {
            pairs.append(
                Pair(keyStart: pair.keyStart, keyEnd: pair.keyEnd, value: pair.value, step: pair.step ?? pointStep))
        }
    }

    /// Whether tokens `first..<colon` are a label that names what follows (`Test set:`,
    /// `Test:`): one to three words, not a step word, not a lone capitalised level (`INFO`).
    private func isLabel(_ first: Int, _ colon: Int, _ chars: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = colon - first
        guard (1...3).contains(count), tokens[first..<colon].allSatisfy({ $0.kind == .word }),
            colon + 1 < tokens.count, tokens[colon + 1].gap > 0
        else { return false }
        for index in (first + 1)..<colon where tokens[index].gap != 1 { return false }
        let last = tokens[colon - 1]
        let word = String(decoding: UnsafeBufferPointer(rebasing: chars[last.start..<last.end]), as: UTF8.self)
            .lowercased()
        if Self.stepWords.contains(word) { return false }
        if count == 1 {
            let letters = chars[last.start..<last.end]
            if !letters.contains(where: { (97...122).contains($0) }) { return false }  // INFO, WARNING
        }
        return true
    }

    /// Whether the token at `index` closes a unit group such as `(ms)`.
    private func isUnitGroupEnd(_ index: Int, _ chars: UnsafeBufferPointer<UInt8>) -> Bool {
        index >= 2 && tokens[index].kind == .close && tokens[index - 1].kind == .word && tokens[index - 2].kind == .open
            && chars[tokens[index - 2].start] == UInt8(ascii: "(")
            && tokens[index - 1].end - tokens[index - 1].start <= 4
    }

    /// A key found before a separator or a value: its words (token indices) and unit group.
    private struct Key {
        var firstWord: Int
        var lastWord: Int
        var unit: Int?
        var label: (first: Int, last: Int)?
    }

    /// The key that ends right before token `index`: up to `maxKeyWords` words one space
    /// apart (more: the last one alone when `lastWordAlone`, else none), past a closing quote
    /// and a unit group, starting at a boundary; with the line's label, if any, as prefix.
    private func keyBefore(
        _ index: Int, first: Int, line: LineState, lastWordAlone: Bool, _ chars: UnsafeBufferPointer<UInt8>
    ) -> Key? {
        var cursor = index - 1
        if cursor >= first && tokens[cursor].kind == .quote { cursor -= 1 }
        var unit: Int?
        if cursor >= first && isUnitGroupEnd(cursor, chars) && tokens[cursor - 2].gap == 1 {
            unit = cursor - 1
            cursor -= 3
        }
        guard cursor >= first, cursor > line.labelEnd, tokens[cursor].kind == .word else { return nil }
        let lastWord = cursor
        var firstWord = cursor
        while firstWord - 1 >= first && firstWord - 1 > line.labelEnd && tokens[firstWord - 1].kind == .word
            && tokens[firstWord].gap == 1
        {
            firstWord -= 1
        }
        // The key starts at a boundary: the line's start or a separating character.
        let start = tokens[firstWord].start
        if start > 0 {
            switch chars[start - 1] {
            case 32, 9, UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "|"), UInt8(ascii: "("),
                UInt8(ascii: "["), UInt8(ascii: "{"), UInt8(ascii: "-"), UInt8(ascii: "'"), UInt8(ascii: "\""),
                UInt8(ascii: ":"), UInt8(ascii: "]"), UInt8(ascii: ")"):
                break
            default:
                return nil
            }
        }
        if lastWord - firstWord + 1 > Self.maxKeyWords {
            guard lastWordAlone else { return nil }
            firstWord = lastWord
        }
        var key = Key(firstWord: firstWord, lastWord: lastWord, unit: unit)
        if line.labelEnd >= 0 {
            var labelFirst = line.labelEnd - 1
            while labelFirst > first && tokens[labelFirst - 1].kind == .word { labelFirst -= 1 }
            key.label = (labelFirst, line.labelEnd - 1)
        }
        return key
    }

    /// Takes the pair of `key` and the value at `valueAt` (reading goes on at `after`): a
    /// point, the line's step, or nothing; returns where reading goes on (past a running
    /// average in parentheses).
    private mutating func take(
        _ key: Key, valueAt: Int, after: Int, spaced: Bool, _ chars: UnsafeBufferPointer<UInt8>,
        into found: inout [Found], line: inout LineState
    ) -> Int {
        let value = tokens[valueAt]
        var next = after
        // `Epoch 2 [1280/50000 (3%)]`, `Train: 0 [ 50/1251]`: a position, not a value.
        var position = false
        if next + 1 < tokens.count && tokens[next].kind == .open && tokens[next + 1].kind == .count {
            position = true
        }
        // `Loss: 1.87:` (a description before a progress bar): a label, not a pair.
        let labelled = next < tokens.count && tokens[next].kind == .colon
        var pairStep: Double?
        if next < tokens.count && tokens[next].kind == .open && chars[tokens[next].start] == UInt8(ascii: "(")
            && !position
        {
            // `(0.7012)`: a running average; `(step 3)`: the step of this value.
            if next + 2 < tokens.count && tokens[next + 1].kind == .number {
                var close = next + 2
                while close < tokens.count && close < next + 8 && tokens[close].kind != .close { close += 1 }
                if close < tokens.count && tokens[close].kind == .close { next = close + 1 }
            } else if next + 3 < tokens.count && tokens[next + 1].kind == .word && tokens[next + 2].kind == .number
                && tokens[next + 3].kind == .close
                && tokens[next + 1].end - tokens[next + 1].start == 4
                && OutputScalarParser.matches(chars, tokens[next + 1].start, "step", ignoringCase: false)
            {
                pairStep = tokens[next + 2].value
                next += 4
            }
        }
        // `speed: 298 iterations in 0:02:29`: a value in a sentence.
        if next + 1 < tokens.count && tokens[next].kind == .word && tokens[next].gap == 1
            && tokens[next + 1].kind == .word
            && (next + 2 == tokens.count || !Self.isValueKind(tokens[next + 2].kind))
        {
            return next
        }
        // `CudaDevice(id=0)`, `Namespace(lr=0.1)`: an object's fields, not metrics.
        if line.hasCall && callDepth(at: valueAt, chars) > 0 { return next }
        let keyStart = keyBytes.count
        writeKey(key, chars)
        let keyEnd = keyBytes.count
        let stepKind = stepKind(keyStart, keyEnd, key: key, value: value)
        if stepKind == 1 || stepKind == 2 {
            keyBytes.removeSubrange(keyStart...)
            if position {
                if stepKind == 1 { line.epochInProgress = true }
                return next
            }
            if stepKind == 2 || line.step == nil {
                line.step = value.value
                line.stepIsEpoch = stepKind == 1
                if stepKind == 1 { line.epochAt = valueAt }
            }
            return next
        }
        if stepKind == 3 && !position && !labelled {
            line.step = value.value  // `num_updates=100`: the step, and a metric too
            line.stepIsEpoch = false
        }
        if value.kind == .count || position || labelled || keyEnd == keyStart
            || Self.isIgnored(keyBytes, keyStart, keyEnd)
        {
            keyBytes.removeSubrange(keyStart...)
            return next
        }
        var end = keyEnd
        if line.split >= 0 && !keyBytes[keyStart..<keyEnd].contains(UInt8(ascii: "/")) {
            // A namespaced key (`coco/bbox_mAP`) already says where it comes from.
            let word = tokens[line.split]
            var prefix = chars[word.start..<word.end].map { (65...90).contains($0) ? $0 + 32 : $0 }
            prefix.append(UInt8(ascii: "_"))
            keyBytes.insert(contentsOf: prefix, at: keyStart)
            end += prefix.count
        }
        found.append(Found(keyStart: keyStart, keyEnd: end, value: value.value, spaced: spaced, step: pairStep))
        return next
    }

    private static func isValueKind(_ kind: Token.Kind) -> Bool {
        switch kind {
        case .number, .count, .colon, .equals: return true
        default: return false
        }
    }

    /// How many calls (`Name(`) are open at token `index`.
    private func callDepth(at index: Int, _ chars: UnsafeBufferPointer<UInt8>) -> Int {
        var depth = 0
        var calls: [Bool] = []
        for position in 0..<index {
            let token = tokens[position]
            if token.kind == .open {
                let call =
                    chars[token.start] == UInt8(ascii: "(") && position > 0 && tokens[position - 1].kind == .word
                    && token.gap == 0
                calls.append(call)
                if call { depth += 1 }
            } else if token.kind == .close, let call = calls.popLast(), call {
                depth -= 1
            }
        }
        return depth
    }

    /// 2 for a step key (`step`, `iter`, `train step`), 1 for an epoch (`Epoch`, `end of epoch`
    /// with a whole number), 3 for a counter that is a step and a metric (`num_updates`,
    /// `total_timesteps`), 0 for other keys.
    private func stepKind(_ start: Int, _ end: Int, key: Key, value: Token) -> Int {
        guard key.unit == nil, key.label == nil else { return 0 }
        // The key's last word decides: `Train Epoch`, `global step`, `end of epoch 1`.
        var lastStart = end
        while lastStart > start && keyBytes[lastStart - 1] != UInt8(ascii: "_") { lastStart -= 1 }
        let single = key.firstWord == key.lastWord
        let last = single ? keyBytes[start..<end] : keyBytes[lastStart..<end]
        if !single && (value.unit || value.value.rounded() != value.value) { return 0 }
        func equals(_ word: StaticString) -> Bool {
            last.count == word.utf8CodeUnitCount
                && last.elementsEqual(UnsafeBufferPointer(start: word.utf8Start, count: word.utf8CodeUnitCount))
        }
        if equals("epoch") { return 1 }
        if equals("step") || equals("iter") || equals("iteration") || equals("global_step") { return 2 }
        if single && (equals("num_updates") || equals("total_timesteps") || equals("num_timesteps")) { return 3 }
        // `it 120` only at the start of a line.
        if equals("it") && single && tokens[key.firstWord].start <= 1 { return 2 }
        return 0
    }

    private static let ignoredSpellings: [[UInt8]] = ignoredKeys.map { Array($0.utf8) }

    /// Whether a key is never a metric: one of `ignoredKeys`, a running best (`best_loss`), or
    /// a source location (`train.py:172`, as logging prefixes print it).
    private static func isIgnored(_ bytes: [UInt8], _ start: Int, _ end: Int) -> Bool {
        let count = end - start
        let key = bytes[start..<end]
        if count > 5 && key.starts(with: "best_".utf8) { return true }
        if key.suffix(6).contains(UInt8(ascii: ".")) {
            for suffix: StaticString in [".py", ".cc", ".cpp", ".h", ".rs", ".go", ".js", ".java"] {
                let length = suffix.utf8CodeUnitCount
                if count > length
                    && key.suffix(length).elementsEqual(UnsafeBufferPointer(start: suffix.utf8Start, count: length))
                {
                    return true
                }
            }
        }
        guard count <= 19 else { return false }
        return ignoredSpellings.contains { $0.count == count && $0.elementsEqual(key) }
    }

    /// Writes the key's normalised spelling to `keyBytes`: lowercase words joined by `_`.
    private mutating func writeKey(_ key: Key, _ chars: UnsafeBufferPointer<UInt8>) {
        let start = keyBytes.count
        func word(_ token: Token) {
            if keyBytes.count > start { keyBytes.append(UInt8(ascii: "_")) }
            for index in token.start..<token.end {
                var c = chars[index]
                if (65...90).contains(c) { c += 32 }
                keyBytes.append(c)
            }
        }
        if let label = key.label {
            for index in label.first...label.last { word(tokens[index]) }
        }
        for index in key.firstWord...key.lastWord { word(tokens[index]) }
        if let unit = key.unit { word(tokens[unit]) }
        if keyBytes.count - start > Self.maxKeyLength { keyBytes.removeSubrange(start...) }
    }

    // MARK: Tables

    /// A table's header (names apart by wide gaps or `|`), or a row under it.
    private mutating func readTableLine(_ chars: UnsafeBufferPointer<UInt8>, step: inout Double?) -> Bool {
        if tokens.isEmpty { return header != nil }  // a blank line inside a table
        if let header {
            if tokens.allSatisfy({ $0.kind == .separator || $0.kind == .other || $0.kind == .colon })
                && !tokens.contains(where: { $0.kind == .other && Self.classes[Int(chars[$0.start])] & Self.digit != 0 }
                )
            {
                return true  // a rule under the header: `|---|:--|`
            }
            if let cells = rowCells(chars), cells.count == header.count {
                var rowStep: Double?
                if let headerStep, let value = cells[headerStep] { rowStep = value }
                if let rowStep { step = rowStep }
                for (column, value) in cells.enumerated() where column != headerStep && column != headerEpoch {
                    guard let value, !Self.isIgnored(header[column], 0, header[column].count) else { continue }
                    let keyStart = keyBytes.count
                    keyBytes.append(contentsOf: header[column])
                    pairs.append(Pair(keyStart: keyStart, keyEnd: keyBytes.count, value: value, step: step))
                }
                return true
            }
            self.header = nil
            headerStep = nil
            headerEpoch = nil
        }
        if let names = headerNames(chars) {
            header = names
            // The finest counter is the step; an epoch column (`epoch`, spaCy's `e`) is never a metric.
            let spelled = names.map { String(decoding: $0, as: UTF8.self) }
            headerStep =
                spelled.firstIndex { ["step", "iter", "iteration", "global_step", "#"].contains($0) }
                ?? spelled.firstIndex { ["epoch", "e"].contains($0) }
            headerEpoch = spelled.firstIndex { ["epoch", "e"].contains($0) }
            return true
        }
        return false
    }

    /// The cells of a line as a table's columns: runs of tokens apart by a wide gap or `|`.
    private func cells(_ chars: UnsafeBufferPointer<UInt8>) -> [Range<Int>]? {
        var result: [Range<Int>] = []
        var piped = false
        var cellStart = -1
        for (index, token) in tokens.enumerated() {
            if token.kind == .separator && chars[token.start] == UInt8(ascii: "|") {
                piped = true
                if cellStart >= 0 { result.append(cellStart..<index) }
                cellStart = -1
                continue
            }
            if cellStart >= 0 && token.gap == 2 && !piped {
                result.append(cellStart..<index)
                cellStart = index
            } else if cellStart < 0 {
                cellStart = index
            }
        }
        if cellStart >= 0 { result.append(cellStart..<tokens.count) }
        return result.count >= 2 ? result : nil
    }

    /// The column names when the line is a header: two or more cells of words only, no `:` or `=`.
    private func headerNames(_ chars: UnsafeBufferPointer<UInt8>) -> [[UInt8]]? {
        guard tokens.count <= 64,
            tokens.allSatisfy({
                $0.kind == .word || $0.kind == .separator
                    || ($0.kind == .other && $0.end - $0.start == 1 && chars[$0.start] == UInt8(ascii: "#"))
            }),
            tokens.contains(where: { $0.gap == 2 || $0.kind == .separator }), let cells = cells(chars)
        else { return nil }
        var names: [[UInt8]] = []
        for cell in cells {
            if cell.count == 1 && tokens[cell.lowerBound].kind == .other {
                names.append([UInt8(ascii: "#")])  // spaCy's step column
                continue
            }
            guard !cell.isEmpty, cell.count <= Self.maxKeyWords,
                tokens[cell].allSatisfy({ $0.kind == .word }),
                tokens[cell].dropFirst().allSatisfy({ $0.gap == 1 })
            else { return nil }
            var name: [UInt8] = []
            for token in tokens[cell] {
                if !name.isEmpty { name.append(UInt8(ascii: "_")) }
                for index in token.start..<token.end {
                    let c = chars[index]
                    name.append((65...90).contains(c) ? c + 32 : c)
                }
            }
            names.append(name)
        }
        return names
    }

    /// A row's values by column (nil: not a number, such as `00:03`), when every cell is one
    /// piece and at least one is a number.
    private func rowCells(_ chars: UnsafeBufferPointer<UInt8>) -> [Double?]? {
        guard let cells = cells(chars) else { return nil }
        var values: [Double?] = []
        var numbers = 0
        for cell in cells {
            guard cell.count == 1 else { return nil }
            let token = tokens[cell.lowerBound]
            switch token.kind {
            case .number:
                values.append(token.value)
                numbers += 1
            case .other:
                values.append(nil)
            default:
                return nil
            }
        }
        return numbers > 0 ? values : nil
    }

    // MARK: Stable-Baselines3 blocks

    /// A `| key | value |` row of a block: kept until the block ends. Returns whether the line
    /// was such a row.
    private mutating func readBlockRow(_ chars: UnsafeBufferPointer<UInt8>, step: inout Double?) -> Bool {
        var bars: [Int] = []
        var start = 0
        while start < chars.count && chars[start] == 32 { start += 1 }
        guard start < chars.count, chars[start] == UInt8(ascii: "|"), chars.count <= 512 else {
            flushBlock(step: &step)
            return false
        }
        for index in start..<chars.count where chars[index] == UInt8(ascii: "|") {
            bars.append(index)
            if bars.count > 3 { break }
        }
        var end = chars.count
        while end > start && chars[end - 1] == 32 { end -= 1 }
        guard bars.count == 3, bars[2] == end - 1 else {
            flushBlock(step: &step)
            return false
        }
        var keyStart = bars[0] + 1
        while keyStart < bars[1] && chars[keyStart] == 32 { keyStart += 1 }
        let indented = keyStart - bars[0] > 2
        var keyEnd = bars[1]
        while keyEnd > keyStart && chars[keyEnd - 1] == 32 { keyEnd -= 1 }
        var valueStart = bars[1] + 1
        while valueStart < bars[2] && chars[valueStart] == 32 { valueStart += 1 }
        var valueEnd = bars[2]
        while valueEnd > valueStart && chars[valueEnd - 1] == 32 { valueEnd -= 1 }
        guard keyEnd > keyStart, Self.classes[Int(chars[keyStart])] & Self.letter != 0 else {
            flushBlock(step: &step)
            return false
        }
        let key = UnsafeBufferPointer(rebasing: chars[keyStart..<keyEnd])
        guard key.allSatisfy({ Self.classes[Int($0)] & Self.keyChar != 0 }) else {
            flushBlock(step: &step)
            return false
        }
        if valueEnd == valueStart {
            if key.last == UInt8(ascii: "/") { blockPrefix = Array(key) }  // `| rollout/ | |`
            return true
        }
        if !indented { blockPrefix = [] }
        var value: Double?
        let valueChars = UnsafeBufferPointer(rebasing: chars[valueStart..<valueEnd])
        if let (number, numberEnd) = OutputScalarParser.number(in: valueChars, at: 0), numberEnd == valueChars.count {
            value = number
        }
        guard let value, block.count < Self.maxPairs else { return true }
        let start2 = blockKeys.count
        blockKeys.append(contentsOf: blockPrefix)
        blockKeys.append(contentsOf: key)
        block.append((start2, blockKeys.count, value))
        return true
    }

    /// Hands out the block's rows as points, at the block's `total_timesteps` when it has one.
    private mutating func flushBlock(step: inout Double?) {
        guard !block.isEmpty else { return }
        var blockStep = step
        for row in block {
            var lastStart = row.end
            while lastStart > row.start && blockKeys[lastStart - 1] != UInt8(ascii: "/") { lastStart -= 1 }
            let last = String(decoding: blockKeys[lastStart..<row.end], as: UTF8.self)
            if ["total_timesteps", "timesteps", "global_step", "step"].contains(last) { blockStep = row.value }
        }
        step = blockStep
        for row in block {
            let keyStart = keyBytes.count
            keyBytes.append(contentsOf: blockKeys[row.start..<row.end])
            pairs.append(Pair(keyStart: keyStart, keyEnd: keyBytes.count, value: row.value, step: blockStep))
        }
        block.removeAll(keepingCapacity: true)
        blockKeys.removeAll(keepingCapacity: true)
        blockPrefix = []
    }

    // MARK: Characters

    static let letter: UInt8 = 1
    static let digit: UInt8 = 2
    static let keyChar: UInt8 = 4
    static let trailing: UInt8 = 8
    /// Characters that end an `other` piece: spaces and the separators the grammar reads.
    static let stop: UInt8 = 16

    /// Character classes by byte (a pointer: no bounds checks in the loops that read it);
    /// filled once when first used and only read after, so sharing it is safe.
    nonisolated(unsafe) static let classes: UnsafePointer<UInt8> = {
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        for (byte, flags) in classList.enumerated() { table[byte] = flags }
        return UnsafePointer(table)
    }()

    private static let classList: [UInt8] = (0..<256).map { byte in
        let c = UInt8(byte)
        var flags: UInt8 = 0
        if (65...90).contains(c) || (97...122).contains(c) || c == 95 { flags |= letter | keyChar }
        if (48...57).contains(c) { flags |= digit | keyChar }
        if c == UInt8(ascii: ".") || c == UInt8(ascii: "/") || c == UInt8(ascii: "-") { flags |= keyChar | trailing }
        if c == UInt8(ascii: "@") { flags |= keyChar }  // acc@1
        switch c {
        case 32, 9, UInt8(ascii: ":"), UInt8(ascii: "="), UInt8(ascii: "|"), UInt8(ascii: ","), UInt8(ascii: ";"),
            UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"),
            UInt8(ascii: "}"), UInt8(ascii: "'"), UInt8(ascii: "\""):
            flags |= stop
        default: break
        }
        return flags
    }

    static func isValueEnd(_ c: UInt8) -> Bool { OutputScalarParser.isValueEnd(c) }
}
