/// A user's pattern for metrics in a command's output (`exp.outputPattern`): a regular
/// expression with named groups `key`, `value` and optionally `step`, matched in time linear
/// in the line's length, whatever the pattern.
///
/// Patterns come from config a user may have copied from anywhere, and are tried on every
/// line a command prints; a backtracking engine (ICU's, behind `NSRegularExpression`) can
/// spend seconds on one line for a pattern like `(a+)+$`. This one is a Pike VM, as RE2 and
/// Go's `regexp` are: every position of the line is visited once, with at most one thread per
/// instruction, so the work is bounded by the line's length times the program's size.
///
/// The syntax is the common subset of ICU's and PCRE's, with the same leftmost-first results:
/// literals and `\` escapes, `.`, classes (`[a-z_]`, `[^…]`, `\d \w \s \D \W \S`), anchors
/// `^ $ \b \B`, groups (`(…)`, `(?:…)`, `(?<name>…)`, `(?P<name>…)`), `|`, and the quantifiers
/// `* + ? {n} {n,} {n,m}` with their lazy forms; `(?i)` at the start ignores ASCII case.
/// Back-references and look-around cannot be matched in linear time and are refused with an
/// error that says so. Whole matches are ICU's; a group inside a loop whose body can match
/// nothing (`(x|\b)*`) may report another iteration than ICU does.
public struct OutputPattern: Sendable {
    /// The longest pattern accepted, in characters.
    static let maxPatternLength = 2_000
    /// The largest program accepted (counted repetitions are written out).
    static let maxProgramSize = 20_000
    /// The deepest nesting of groups accepted.
    static let maxNesting = 100

    /// The pattern as given.
    public let source: String
    private let program: [Instruction]
    /// Capture group numbers by name (group 0 is the whole match).
    private let names: [String: Int]
    private let groupCount: Int
    private let ignoreCase: Bool
    /// Capture slots, then one per loop whose body can match nothing.
    private let slotCount: Int

    /// A match: the text of each group that took part, by group number.
    public struct Match: Sendable, Equatable {
        /// The ranges (in Unicode scalars of the line) of each group, nil when it took no part.
        public var groups: [Range<Int>?]
    }

    /// Compiles `pattern`; an unsupported or malformed one throws with the column where it went
    /// wrong.
    public init(_ pattern: String) throws(OutputPatternError) {
        source = pattern
        let scalars = Array(pattern.unicodeScalars)
        guard scalars.count <= Self.maxPatternLength else {
            throw OutputPatternError(
                "the pattern is longer than \(Self.maxPatternLength) characters", column: Self.maxPatternLength)
        }
        guard !scalars.isEmpty else { throw OutputPatternError("the pattern is empty", column: 1) }
        var parser = PatternParser(scalars)
        let tree = try parser.parse()
        var compiler = PatternCompiler(ignoreCase: parser.ignoreCase, captureSlots: 2 * (parser.groupCount + 1))
        try compiler.emitWhole(tree)
        program = compiler.program
        slotCount = compiler.slotCount
        names = parser.names
        groupCount = parser.groupCount
        ignoreCase = parser.ignoreCase
    }

    /// The group number of `name`, if the pattern has such a group.
    public func group(named name: String) -> Int? { names[name] }

    /// Every non-overlapping match in `line`, left to right, as `NSRegularExpression.matches`
    /// gives them.
    public func matches(in line: [Unicode.Scalar]) -> [Match] {
        var result: [Match] = []
        var start = 0
        var vm = PikeVM(program: program, slots: slotCount, ignoreCase: ignoreCase)
        while start <= line.count {
            guard let slots = vm.firstMatch(in: line, from: start) else { break }
            var groups: [Range<Int>?] = []
            for group in 0...groupCount {
                let from = slots[2 * group]
                let to = slots[2 * group + 1]
                groups.append(from >= 0 && to >= from ? from..<to : nil)
            }
            result.append(Match(groups: groups))
            let whole = slots[0]..<slots[1]
            start = whole.isEmpty ? whole.upperBound + 1 : whole.upperBound
        }
        return result
    }
}

/// A pattern that cannot be compiled, and where (1-based column).
public struct OutputPatternError: Error, Equatable, Sendable {
    public var message: String
    public var column: Int

    init(_ message: String, column: Int) {
        self.message = message
        self.column = column
    }
}

// MARK: - Syntax tree

/// One set of characters: single scalars, ranges and the `\d \w \s` classes, maybe negated.
struct ScalarSet: Sendable, Equatable {
    enum Class: Sendable, Equatable {
        case digit, word, space
        case notDigit, notWord, notSpace
    }

    var ranges: [ClosedRange<UInt32>] = []
    var classes: [Class] = []
    var negated = false

    func contains(_ scalar: Unicode.Scalar, ignoreCase: Bool) -> Bool {
        var found = containsExactly(scalar)
        if !found && ignoreCase, let other = Self.otherCase(scalar) { found = containsExactly(other) }
        return found != negated
    }

    private func containsExactly(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        for range in ranges where range.contains(value) { return true }
        for kind in classes where Self.isMember(scalar, of: kind) { return true }
        return false
    }

    /// The other ASCII case of a letter.
    static func otherCase(_ scalar: Unicode.Scalar) -> Unicode.Scalar? {
        switch scalar.value {
        case 0x41...0x5A: Unicode.Scalar(scalar.value + 32)
        case 0x61...0x7A: Unicode.Scalar(scalar.value - 32)
        default: nil
        }
    }

    /// ICU's meaning of `\d`, `\w` and `\s` (Unicode-aware, as `NSRegularExpression`'s).
    static func isMember(_ scalar: Unicode.Scalar, of kind: Class) -> Bool {
        switch kind {
        case .digit: isDigit(scalar)
        case .word: isWord(scalar)
        case .space: isSpace(scalar)
        case .notDigit: !isDigit(scalar)
        case .notWord: !isWord(scalar)
        case .notSpace: !isSpace(scalar)
        }
    }

    static func isDigit(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return (0x30...0x39).contains(scalar.value) }
        return scalar.properties.generalCategory == .decimalNumber
    }

    static func isWord(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII {
            let v = scalar.value
            return (0x30...0x39).contains(v) || (0x41...0x5A).contains(v) || (0x61...0x7A).contains(v) || v == 0x5F
        }
        if scalar.value == 0x200C || scalar.value == 0x200D { return true }
        let properties = scalar.properties
        switch properties.generalCategory {
        case .decimalNumber, .nonspacingMark, .spacingMark, .enclosingMark, .connectorPunctuation: return true
        default: return properties.isAlphabetic
        }
    }

    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.isASCII { return scalar.value == 0x20 || (0x09...0x0D).contains(scalar.value) }
        return scalar.properties.isWhitespace
    }
}

/// A parsed pattern.
indirect enum PatternNode: Sendable {
    case empty
    case set(ScalarSet)
    /// `.`: any scalar but a line terminator.
    case any
    case lineStart, lineEnd, wordBoundary, notWordBoundary
    case group(PatternNode, number: Int?)
    case concatenation([PatternNode])
    case alternation([PatternNode])
    case repetition(PatternNode, min: Int, max: Int?, lazy: Bool)
}

extension PatternNode {
    /// Whether the node can match without consuming anything.
    var isNullable: Bool {
        switch self {
        case .empty, .lineStart, .lineEnd, .wordBoundary, .notWordBoundary: true
        case .set, .any: false
        case .group(let inner, _): inner.isNullable
        case .concatenation(let items): items.allSatisfy(\.isNullable)
        case .alternation(let branches): branches.contains(where: \.isNullable)
        case .repetition(let inner, let min, _, _): min == 0 || inner.isNullable
        }
    }
}

/// Recursive-descent parser of the supported syntax, with a nesting bound.
struct PatternParser {
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private var depth = 0
    private(set) var names: [String: Int] = [:]
    private(set) var groupCount = 0
    private(set) var ignoreCase = false

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    private var column: Int { position + 1 }
    private var atEnd: Bool { position >= scalars.count }
    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        position + offset < scalars.count ? scalars[position + offset] : nil
    }

    mutating func parse() throws(OutputPatternError) -> PatternNode {
        if scalars.starts(with: Array("(?i)".unicodeScalars)) {
            ignoreCase = true
            position = 4
        }
        let node = try parseAlternation()
        if !atEnd { throw OutputPatternError("unmatched ')'", column: column) }
        return node
    }

    private mutating func parseAlternation() throws(OutputPatternError) -> PatternNode {
        var branches = [try parseConcatenation()]
        while peek() == "|" {
            position += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseConcatenation() throws(OutputPatternError) -> PatternNode {
        var items: [PatternNode] = []
        while let next = peek(), next != "|", next != ")" {
            var atom = try parseAtom()
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        if items.isEmpty { return .empty }
        return items.count == 1 ? items[0] : .concatenation(items)
    }

    private mutating func parseQuantifiers(_ atom: PatternNode) throws(OutputPatternError) -> PatternNode {
        var node = atom
        while let next = peek() {
            let quantifierColumn = column
            var bounds: (min: Int, max: Int?)
            switch next {
            case "*": bounds = (0, nil)
            case "+": bounds = (1, nil)
            case "?": bounds = (0, 1)
            case "{":
                guard let counted = try parseCount() else { return node }
                bounds = counted
            default: return node
            }
            if next != "{" { position += 1 }
            switch node {
            case .lineStart, .lineEnd, .wordBoundary, .notWordBoundary, .empty:
                throw OutputPatternError("nothing to repeat before '\(next)'", column: quantifierColumn)
            default: break
            }
            var lazy = false
            if peek() == "?" {
                lazy = true
                position += 1
            } else if peek() == "+" {
                throw OutputPatternError(
                    "possessive quantifiers are not supported (exp matches in linear time; drop the '+')",
                    column: column)
            }
            node = .repetition(node, min: bounds.min, max: bounds.max, lazy: lazy)
        }
        return node
    }

    /// `{n}`, `{n,}` or `{n,m}` at the position; nil (and nothing read) when the brace is a
    /// literal, as ICU reads `{` that starts no count.
    private mutating func parseCount() throws(OutputPatternError) -> (min: Int, max: Int?)? {
        let start = position
        position += 1
        func number(_ parser: inout PatternParser) -> Int? {
            var value = 0
            var digits = 0
            while let scalar = parser.peek(), (0x30...0x39).contains(scalar.value), digits < 6 {
                value = value * 10 + Int(scalar.value - 0x30)
                digits += 1
                parser.position += 1
            }
            return digits > 0 ? value : nil
        }
        guard let low = number(&self) else {
            position = start
            return nil
        }
        var high: Int? = low
        if peek() == "," {
            position += 1
            high = number(&self)
        }
        guard peek() == "}" else {
            position = start
            return nil
        }
        position += 1
        if let high, high < low {
            throw OutputPatternError("the count {\(low),\(high)} goes down", column: start + 1)
        }
        return (low, high)
    }

    private mutating func parseAtom() throws(OutputPatternError) -> PatternNode {
        guard let scalar = peek() else { throw OutputPatternError("the pattern ends too soon", column: column) }
        switch scalar {
        case "(": return try parseGroup()
        case "[": return try parseClass()
        case ".":
            position += 1
            return .any
        case "^":
            position += 1
            return .lineStart
        case "$":
            position += 1
            return .lineEnd
        case "\\": return try parseEscape(inClass: false)
        case "*", "+", "?":
            throw OutputPatternError("nothing to repeat before '\(scalar)'", column: column)
        default:
            position += 1
            return .set(ScalarSet(ranges: [scalar.value...scalar.value]))
        }
    }

    private mutating func parseGroup() throws(OutputPatternError) -> PatternNode {
        let open = column
        position += 1
        depth += 1
        defer { depth -= 1 }
        guard depth <= PatternParser.maxNestingForParser else {
            throw OutputPatternError(
                "groups are nested more than \(OutputPattern.maxNesting) deep", column: open)
        }
        var number: Int? = nil
        if peek() == "?" {
            switch (peek(1), peek(2)) {
            case (":", _):
                position += 2
            case ("<", let next?) where next != "=" && next != "!":
                position += 2
                number = try parseGroupName(closing: ">")
            case ("P", "<"):
                position += 3
                number = try parseGroupName(closing: ">")
            case ("=", _), ("!", _), ("<", _):
                throw OutputPatternError(
                    "look-around is not supported (exp matches in linear time)", column: open)
            default:
                throw OutputPatternError(
                    "this group syntax is not supported; use (…), (?:…) or (?<name>…)", column: open)
            }
        } else {
            groupCount += 1
            number = groupCount
        }
        let inner = try parseAlternation()
        guard peek() == ")" else { throw OutputPatternError("'(' at column \(open) is not closed", column: column) }
        position += 1
        return .group(inner, number: number)
    }

    private static let maxNestingForParser = OutputPattern.maxNesting

    private mutating func parseGroupName(closing: Unicode.Scalar) throws(OutputPatternError) -> Int {
        let start = column
        var name = ""
        while let scalar = peek(), scalar != closing {
            guard ScalarSet.isWord(scalar), scalar.isASCII else {
                throw OutputPatternError("a group name holds letters, digits and '_' only", column: column)
            }
            name.unicodeScalars.append(scalar)
            position += 1
        }
        guard peek() == closing, !name.isEmpty else {
            throw OutputPatternError("a group name must be closed by '\(closing)'", column: start)
        }
        position += 1
        guard names[name] == nil else {
            throw OutputPatternError("the group name '\(name)' is used twice", column: start)
        }
        groupCount += 1
        names[name] = groupCount
        return groupCount
    }

    private mutating func parseClass() throws(OutputPatternError) -> PatternNode {
        let open = column
        position += 1
        var set = ScalarSet()
        if peek() == "^" {
            set.negated = true
            position += 1
        }
        var first = true
        while true {
            guard let scalar = peek() else {
                throw OutputPatternError("'[' at column \(open) is not closed", column: column)
            }
            if scalar == "]" && !first { break }
            first = false
            if scalar == "[" {
                throw OutputPatternError(
                    "nested classes and [:…:] are not supported; escape '[' as \\[", column: column)
            }
            var low: UInt32
            if scalar == "\\" {
                switch try parseEscape(inClass: true) {
                case .set(let escaped) where escaped.ranges.count == 1 && escaped.classes.isEmpty:
                    low = escaped.ranges[0].lowerBound
                case .set(let escaped):
                    set.classes += escaped.classes
                    set.ranges += escaped.ranges
                    continue
                default:
                    throw OutputPatternError("this escape cannot stand in a class", column: column)
                }
            } else {
                low = scalar.value
                position += 1
            }
            if peek() == "-", let after = peek(1), after != "]" {
                position += 1
                let high: UInt32
                if after == "\\" {
                    guard case .set(let escaped) = try parseEscape(inClass: true), escaped.ranges.count == 1,
                        escaped.classes.isEmpty
                    else {
                        throw OutputPatternError("a range must end with a single character", column: column)
                    }
                    high = escaped.ranges[0].lowerBound
                } else {
                    high = after.value
                    position += 1
                }
                guard low <= high else {
                    throw OutputPatternError("the range in the class goes down", column: column - 1)
                }
                set.ranges.append(low...high)
            } else {
                set.ranges.append(low...low)
            }
        }
        position += 1
        return .set(set)
    }

    private mutating func parseEscape(inClass: Bool) throws(OutputPatternError) -> PatternNode {
        let start = column
        position += 1
        guard let scalar = peek() else { throw OutputPatternError("'\\' ends the pattern", column: start) }
        position += 1
        func single(_ value: UInt32) -> PatternNode { .set(ScalarSet(ranges: [value...value])) }
        switch scalar {
        case "d": return .set(ScalarSet(classes: [.digit]))
        case "D": return .set(ScalarSet(classes: [.notDigit]))
        case "w": return .set(ScalarSet(classes: [.word]))
        case "W": return .set(ScalarSet(classes: [.notWord]))
        case "s": return .set(ScalarSet(classes: [.space]))
        case "S": return .set(ScalarSet(classes: [.notSpace]))
        case "t": return single(0x09)
        case "n": return single(0x0A)
        case "r": return single(0x0D)
        case "f": return single(0x0C)
        case "v": return single(0x0B)
        case "e": return single(0x1B)
        case "a": return single(0x07)
        case "b" where inClass: return single(0x08)
        case "b": return .wordBoundary
        case "B" where !inClass: return .notWordBoundary
        case "x":
            var value: UInt32 = 0
            for _ in 0..<2 {
                guard let digit = peek(), let nibble = UInt32(String(digit), radix: 16) else {
                    throw OutputPatternError("\\x takes two hexadecimal digits", column: start)
                }
                value = value * 16 + nibble
                position += 1
            }
            return single(value)
        case "1"..."9":
            throw OutputPatternError("back-references are not supported (exp matches in linear time)", column: start)
        default:
            if ScalarSet.isWord(scalar) {
                throw OutputPatternError("the escape '\\\(scalar)' is not supported", column: start)
            }
            return single(scalar.value)
        }
    }
}

// MARK: - Program

enum Instruction: Sendable {
    /// Consumes one scalar of the set.
    case set(ScalarSet)
    /// Consumes any scalar but a line terminator.
    case any
    /// Goes on at both; the first is preferred.
    case split(Int, Int)
    case jump(Int)
    /// Records the position in a slot.
    case save(Int)
    case assert(PatternNode)
    /// Back to `loop` when the position moved since `slot` was saved; on otherwise.
    case repeatIfProgress(slot: Int, loop: Int)
    case match
}

/// Turns a tree into a Pike VM program, bounding its size.
struct PatternCompiler {
    let ignoreCase: Bool
    var program: [Instruction] = []
    /// The next free slot for a loop's entry position (after the capture slots).
    private(set) var slotCount: Int

    init(ignoreCase: Bool, captureSlots: Int) {
        self.ignoreCase = ignoreCase
        slotCount = captureSlots
    }

    mutating func emitWhole(_ node: PatternNode) throws(OutputPatternError) {
        emit(.save(0))
        try emitNode(node)
        emit(.save(1))
        emit(.match)
    }

    private mutating func emit(_ instruction: Instruction) { program.append(instruction) }

    private mutating func emitNode(_ node: PatternNode) throws(OutputPatternError) {
        guard program.count <= OutputPattern.maxProgramSize else {
            throw OutputPatternError(
                "the pattern is too large once its counted repetitions are written out", column: 1)
        }
        switch node {
        case .empty: break
        case .set(let set): emit(.set(set))
        case .any: emit(.any)
        case .lineStart, .lineEnd, .wordBoundary, .notWordBoundary: emit(.assert(node))
        case .group(let inner, let number):
            if let number { emit(.save(2 * number)) }
            try emitNode(inner)
            if let number { emit(.save(2 * number + 1)) }
        case .concatenation(let items):
            for item in items { try emitNode(item) }
        case .alternation(let branches):
            var jumps: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index < branches.count - 1 {
                    let split = program.count
                    emit(.split(split + 1, -1))
                    try emitNode(branch)
                    jumps.append(program.count)
                    emit(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emitNode(branch)
                }
            }
            for jump in jumps { program[jump] = .jump(program.count) }
        case .repetition(let inner, let min, let max, let lazy):
            for _ in 0..<min { try emitNode(inner) }
            if let max {
                // Each optional copy: split(take, skip), the copy; all skips go to the end.
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(program.count)
                    emit(.split(-1, -1))
                    try emitNode(inner)
                }
                for split in splits {
                    program[split] = lazy ? .split(program.count, split + 1) : .split(split + 1, program.count)
                }
            } else if inner.isNullable {
                // A body that can match nothing: as backtracking engines do, an iteration that
                // consumed nothing ends the loop (instead of looping or dying), so captures and
                // choices come out as ICU's. The entry position is kept in a slot of its own.
                let slot = slotCount
                slotCount += 1
                let loop = program.count
                emit(.split(-1, -1))
                emit(.save(slot))
                try emitNode(inner)
                emit(.repeatIfProgress(slot: slot, loop: loop))
                program[loop] = lazy ? .split(program.count, loop + 1) : .split(loop + 1, program.count)
            } else {
                let loop = program.count
                emit(.split(-1, -1))
                try emitNode(inner)
                emit(.jump(loop))
                program[loop] = lazy ? .split(program.count, loop + 1) : .split(loop + 1, program.count)
            }
        }
    }
}

// MARK: - Matching

/// Runs a program over a line, keeping one thread per instruction, in priority order.
struct PikeVM {
    let program: [Instruction]
    let slotCount: Int
    let ignoreCase: Bool
    /// Threads of the current and next position: instruction numbers, and their slots
    /// (`slotCount` per thread, flat).
    private var current = ThreadList()
    private var next = ThreadList()
    /// Work stack for adding a thread and everything it reaches without consuming.
    private var stack: [(pc: Int, slots: [Int])] = []

    init(program: [Instruction], slots: Int, ignoreCase: Bool = false) {
        self.program = program
        self.slotCount = slots
        self.ignoreCase = ignoreCase
    }

    struct ThreadList {
        var pcs: [Int] = []
        var slots: [[Int]] = []
        /// The generation in which each instruction was last added, to add it once per step.
        var seen: [Int] = []

        mutating func reset(size: Int) {
            pcs.removeAll(keepingCapacity: true)
            slots.removeAll(keepingCapacity: true)
            if seen.count != size { seen = Array(repeating: -1, count: size) }
        }
    }

    /// The slots of the leftmost-first match starting at or after `start`, or nil.
    mutating func firstMatch(in line: [Unicode.Scalar], from start: Int) -> [Int]? {
        current.reset(size: program.count)
        next.reset(size: program.count)
        for index in current.seen.indices {
            current.seen[index] = -1
            next.seen[index] = -1
        }
        var matched: [Int]? = nil
        var position = start
        var generation = 0
        while true {
            if matched == nil {
                // A new attempt at this position, below every running thread in priority.
                Self.add(
                    to: &current, pc: 0, slots: Array(repeating: -1, count: slotCount), at: position, in: line,
                    generation: generation, program: program, stack: &stack)
            }
            if current.pcs.isEmpty && (matched != nil || position >= line.count) { break }
            generation += 1
            next.pcs.removeAll(keepingCapacity: true)
            next.slots.removeAll(keepingCapacity: true)
            let scalar: Unicode.Scalar? = position < line.count ? line[position] : nil
            var index = 0
            while index < current.pcs.count {
                let pc = current.pcs[index]
                switch program[pc] {
                case .match:
                    matched = current.slots[index]
                    // Lower-priority threads are cut: the leftmost-first answer is settled.
                    index = current.pcs.count
                    continue
                case .set(let set):
                    if let scalar, set.contains(scalar, ignoreCase: ignoreCase) {
                        Self.add(
                            to: &next, pc: pc + 1, slots: current.slots[index], at: position + 1, in: line,
                            generation: generation, program: program, stack: &stack)
                    }
                case .any:
                    if let scalar, !Self.isLineTerminator(scalar) {
                        Self.add(
                            to: &next, pc: pc + 1, slots: current.slots[index], at: position + 1, in: line,
                            generation: generation, program: program, stack: &stack)
                    }
                default: break
                }
                index += 1
            }
            swap(&current, &next)
            if position >= line.count {
                // Threads still alive here consumed past the end: none can; only matches remain.
                for (index, pc) in current.pcs.enumerated() {
                    if case .match = program[pc] {
                        matched = current.slots[index]
                        break
                    }
                }
                break
            }
            position += 1
        }
        return matched
    }

    /// Adds the thread at `pc` and, following jumps, splits, saves and assertions, every thread
    /// it reaches at `position`, in priority order, each instruction once per generation.
    private static func add(
        to list: inout ThreadList, pc: Int, slots: [Int], at position: Int, in line: [Unicode.Scalar],
        generation: Int, program: [Instruction], stack: inout [(pc: Int, slots: [Int])]
    ) {
        stack.append((pc, slots))
        while let (pc, slots) = stack.popLast() {
            guard list.seen[pc] != generation else { continue }
            list.seen[pc] = generation
            switch program[pc] {
            case .jump(let target):
                stack.append((target, slots))
            case .split(let first, let second):
                stack.append((second, slots))
                stack.append((first, slots))
            case .save(let slot):
                var saved = slots
                if slot < saved.count { saved[slot] = position }
                stack.append((pc + 1, saved))
            case .assert(let kind):
                if Self.holds(kind, at: position, in: line) { stack.append((pc + 1, slots)) }
            case .repeatIfProgress(let slot, let loop):
                stack.append((slots[slot] == position ? pc + 1 : loop, slots))
            case .set, .any, .match:
                list.pcs.append(pc)
                list.slots.append(slots)
            }
        }
    }

    /// What ICU's `.` does not match without the dot-all flag.
    static func isLineTerminator(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A...0x0D, 0x85, 0x2028, 0x2029: true
        default: false
        }
    }

    private static func holds(_ kind: PatternNode, at position: Int, in line: [Unicode.Scalar]) -> Bool {
        switch kind {
        case .lineStart: return position == 0
        case .lineEnd:
            // As ICU's `$` without multiline: at the end, or before a final line terminator.
            return position == line.count || (position == line.count - 1 && line[position] == "\n")
        case .wordBoundary, .notWordBoundary:
            let before = position > 0 && ScalarSet.isWord(line[position - 1])
            let after = position < line.count && ScalarSet.isWord(line[position])
            let boundary = before != after
            if case .wordBoundary = kind { return boundary }
            return !boundary
        default: return true
        }
    }
}
