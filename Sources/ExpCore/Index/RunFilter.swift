/// A condition on runs, as typed after `exp list --where` or in `min:KEY@FILTER`:
///
///     lr < 0.01 and status = succeeded and val_loss.min < 0.3
///     name ~ 'sweep-*' or (host = gpu01 and not dirty = true)
///     started within 7d
///     started before 2026-11-01 and ended after 2026-10-01
///
/// Words are `and`, `or`, `not` and parentheses; a comparison is `KEY OP VALUE` with OP one
/// of `=` (also `==`), `!=`, `<`, `<=`, `>`, `>=`, `~` (glob match) and `!~`, or for a time
/// (`started`, `ended`) `within AGE` (in the last AGE), `before TIME` and `after TIME`, where
/// TIME is a date or an age such as 7d (that long ago); `started > 7d` still means
/// `started within 7d`. KEY is a run
/// field (`name`, `status`, `started`, …: see `RunField`), a param, or a metric (its last
/// value, or `KEY.min`, `.max`, `.count`, `.step`); what it names is decided against the
/// runs there are. VALUE is a number, a word, or a quoted string (`'…'` or `"…"`).
public indirect enum RunFilter: Equatable, Sendable {
    case and(RunFilter, RunFilter)
    case or(RunFilter, RunFilter)
    case not(RunFilter)
    case compare(key: String, keyColumn: Int, op: Comparison, value: String, valueColumn: Int)

    /// A comparison operator.
    public enum Comparison: String, Sendable, CaseIterable {
        case equal = "="
        case notEqual = "!="
        case less = "<"
        case lessOrEqual = "<="
        case greater = ">"
        case greaterOrEqual = ">="
        case matches = "~"
        case notMatches = "!~"
        /// `started within 7d`: in the last 7 days.
        case within
        /// `started before 2026-11-01`, or `before 7d`: earlier than that.
        case before
        /// `started after 2026-11-01`, or `after 7d`: later than that.
        case after

        /// `within`, `before` and `after`: words that compare times.
        public var isTimeWord: Bool { self == .within || self == .before || self == .after }
    }

    /// Every key the filter compares (to tell whether it mentions `status`, for example).
    public var keys: [String] {
        switch self {
        case .and(let a, let b), .or(let a, let b): a.keys + b.keys
        case .not(let inner): inner.keys
        case .compare(let key, _, _, _, _): [key]
        }
    }

    /// Parses a filter. Errors carry the column (1-based) where parsing failed.
    public init(parsing text: String) throws(RunFilterError) {
        var parser = RunFilterParser(text)
        self = try parser.parseAll()
    }
}

/// A filter that could not be parsed or understood, and where (1-based column).
public struct RunFilterError: Error, Equatable, Sendable {
    public var message: String
    public var column: Int

    public init(_ message: String, column: Int) {
        self.message = message
        self.column = column
    }

    /// The error for the user: the message, then the filter with a caret under the column.
    /// `option` names where the filter was given: "run reference" for one inside `min:`/`max:`,
    /// else a filter of its own (the CLI's option name).
    public func expError(in text: String, option: String) -> ExpError {
        // A long filter is shown around the column only: 40 characters either side.
        let characters = Array(text)
        let start = max(0, min(column - 1, characters.count) - 40)
        let end = min(characters.count, start + 80)
        let shown =
            (start > 0 ? "…" : "") + String(characters[start..<end]) + (end < characters.count ? "…" : "")
        let caret = String(repeating: " ", count: max(0, column - 1 - start + (start > 0 ? 1 : 0))) + "^"
        let inReference = option == "run reference"
        return ExpError(
            .usage, "\(option): \(message) at column \(column)\n  \(shown)\n  \(caret)",
            hint: inReference
                ? "e.g. min:val_loss@lr<0.01, or max:val_acc@\"status = succeeded and epochs >= 10\""
                : "e.g. lr < 0.01 and status = succeeded and val_loss.min < 0.3",
            reason: inReference ? .badRunReference(text) : .badFilter(text))
    }
}

/// Recursive-descent parser for `RunFilter`: or → and → not → comparison | ( or ).
///
/// Bounded for any input: parentheses and `not`s nest at most `maxNesting` deep and a filter
/// holds at most `maxConditions` comparisons, so neither this parser nor SQLite's, which the
/// filter becomes (its parser stack holds about 20 levels of parentheses), can be overrun.
struct RunFilterParser {
    /// The deepest nesting of `(` and `not` accepted.
    static let maxNesting = 16
    /// The most comparisons one filter may hold.
    static let maxConditions = 256

    private let characters: [Character]
    private var position = 0
    private var nesting = 0
    private var conditions = 0

    init(_ text: String) { characters = Array(text) }

    private var column: Int { position + 1 }

    mutating func parseAll() throws(RunFilterError) -> RunFilter {
        skipSpaces()
        guard position < characters.count else { throw RunFilterError("empty filter", column: 1) }
        let filter = try parseOr()
        skipSpaces()
        if position < characters.count {
            if characters[position] == ")" { throw RunFilterError("unmatched ')'", column: column) }
            throw RunFilterError("expected 'and', 'or' or the end, found '\(rest(12))'", column: column)
        }
        return filter
    }

    private mutating func parseOr() throws(RunFilterError) -> RunFilter {
        var left = try parseAnd()
        while keyword("or") { left = .or(left, try parseAnd()) }
        return left
    }

    private mutating func parseAnd() throws(RunFilterError) -> RunFilter {
        var left = try parseNot()
        while keyword("and") { left = .and(left, try parseNot()) }
        return left
    }

    private mutating func parseNot() throws(RunFilterError) -> RunFilter {
        let start = column
        if keyword("not") {
            try enter(at: start)
            defer { nesting -= 1 }
            return .not(try parseNot())
        }
        return try parsePrimary()
    }

    /// One level deeper, or an error past `maxNesting`.
    private mutating func enter(at column: Int) throws(RunFilterError) {
        nesting += 1
        guard nesting <= Self.maxNesting else {
            throw RunFilterError(
                "the filter nests '(' and 'not' more than \(Self.maxNesting) deep", column: column)
        }
    }

    private mutating func parsePrimary() throws(RunFilterError) -> RunFilter {
        skipSpaces()
        guard position < characters.count else {
            throw RunFilterError("expected a condition such as 'lr < 0.01'", column: column)
        }
        if characters[position] == "(" {
            let open = column
            try enter(at: open)
            defer { nesting -= 1 }
            position += 1
            let inner = try parseOr()
            skipSpaces()
            guard position < characters.count, characters[position] == ")" else {
                throw RunFilterError("'(' at column \(open) is not closed", column: column)
            }
            position += 1
            return inner
        }
        let keyColumn = column
        conditions += 1
        guard conditions <= Self.maxConditions else {
            throw RunFilterError("the filter holds more than \(Self.maxConditions) comparisons", column: keyColumn)
        }
        let key = try parseKey()
        skipSpaces()
        let opColumn = column
        guard let op = parseOperator() else {
            let found = position < characters.count ? "'\(rest(12))'" : "the end"
            throw RunFilterError(
                "expected an operator (=, !=, <, <=, >, >=, ~, !~, within, before, after) after '\(key)', "
                    + "found \(found)", column: opColumn)
        }
        skipSpaces()
        let valueColumn = column
        guard let value = try parseValue() else {
            throw RunFilterError("expected a value after '\(op.rawValue)'", column: valueColumn)
        }
        return .compare(key: key, keyColumn: keyColumn, op: op, value: value, valueColumn: valueColumn)
    }

    /// A key: letters, digits and `_ . / -`, or any text in backquotes.
    private mutating func parseKey() throws(RunFilterError) -> String {
        if characters[position] == "`" {
            let start = column
            position += 1
            var text = ""
            while position < characters.count, characters[position] != "`" {
                text.append(characters[position])
                position += 1
            }
            guard position < characters.count else { throw RunFilterError("unclosed '`'", column: start) }
            position += 1
            return text
        }
        var text = ""
        while position < characters.count, Self.isKeyCharacter(characters[position]) {
            text.append(characters[position])
            position += 1
        }
        guard !text.isEmpty else {
            throw RunFilterError("expected a field, param or metric name, found '\(rest(12))'", column: column)
        }
        if ["and", "or", "not"].contains(text.lowercased()) {
            throw RunFilterError("expected a condition, found '\(text)'", column: column - text.count)
        }
        return text
    }

    static func isKeyCharacter(_ character: Character) -> Bool {
        character.isLetter || character.isNumber || "_./-".contains(character)
    }

    private mutating func parseOperator() -> RunFilter.Comparison? {
        for text in ["==", "!=", "<=", ">=", "!~", "=", "<", ">", "~"] where matches(text) {
            position += text.count
            return text == "==" ? .equal : RunFilter.Comparison(rawValue: text)
        }
        for word in [RunFilter.Comparison.within, .before, .after] where keyword(word.rawValue) {
            return word
        }
        return nil
    }

    /// A quoted string, or a bare word up to a space or a parenthesis.
    private mutating func parseValue() throws(RunFilterError) -> String? {
        guard position < characters.count else { return nil }
        let quote = characters[position]
        if quote == "'" || quote == "\"" {
            let start = column
            position += 1
            var text = ""
            while position < characters.count, characters[position] != quote {
                if characters[position] == "\\", position + 1 < characters.count { position += 1 }
                text.append(characters[position])
                position += 1
            }
            guard position < characters.count else {
                throw RunFilterError("unclosed \(quote) string", column: start)
            }
            position += 1
            return text
        }
        var text = ""
        while position < characters.count, !characters[position].isWhitespace,
            characters[position] != "(", characters[position] != ")"
        {
            text.append(characters[position])
            position += 1
        }
        return text.isEmpty ? nil : text
    }

    /// Consumes a keyword (`and`, `or`, `not`) standing alone, case-insensitively.
    private mutating func keyword(_ word: String) -> Bool {
        skipSpaces()
        let end = position + word.count
        guard end <= characters.count, String(characters[position..<end]).lowercased() == word else { return false }
        if end < characters.count, Self.isKeyCharacter(characters[end]) { return false }
        position = end
        return true
    }

    private func matches(_ text: String) -> Bool {
        let end = position + text.count
        return end <= characters.count && String(characters[position..<end]) == text
    }

    private mutating func skipSpaces() {
        while position < characters.count, characters[position].isWhitespace { position += 1 }
    }

    private func rest(_ limit: Int) -> String {
        let text = String(characters[position...].prefix(limit))
        return position + limit < characters.count ? text + "…" : text
    }
}
