import Foundation
import GRDB

/// Which runs to list and in what order (`exp list --where … --sort … --limit …`).
public struct RunQuery: Sendable {
    /// Only runs for which the filter holds.
    public var filter: RunFilter?
    /// Sort keys, first one first; ties end newest first.
    public var sort: [SortKey] = []
    public var limit: Int?
    public var offset = 0
    /// Include failed runs even when the filter does not mention `status` (`--all`).
    public var includeFailed = false
    /// Include autosaves along with the runs (`--all`).
    public var includeAutosaves = false
    /// Only autosaves (`--autosaves`).
    public var onlyAutosaves = false

    public init(
        filter: RunFilter? = nil, sort: [SortKey] = [], limit: Int? = nil, includeFailed: Bool = false,
        includeAutosaves: Bool = false
    ) {
        self.filter = filter
        self.sort = sort
        self.limit = limit
        self.includeFailed = includeFailed
        self.includeAutosaves = includeAutosaves
    }

    /// Whether failed runs are left out: by default, unless the filter speaks of `status`.
    var hidesFailed: Bool {
        !includeFailed && !onlyAutosaves && !(filter?.keys.contains(RunField.status.rawValue) ?? false)
    }
}

/// One `--sort` key: `val_loss` (smallest first), `-val_loss` (largest first).
public struct SortKey: Equatable, Sendable {
    public var key: String
    public var descending: Bool

    /// Parses `KEY` or `-KEY`.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        descending = trimmed.hasPrefix("-")
        key = descending ? String(trimmed.dropFirst()) : trimmed
        guard !key.isEmpty else {
            throw ExpError(
                .usage, "empty sort key in '\(text)'", hint: "e.g. val_loss, or -started for newest first")
        }
    }

    public init(key: String, descending: Bool) {
        self.key = key
        self.descending = descending
    }
}

/// SQL for a filter or a sort over the `runs` table.
struct RunSQL {
    var sql: String
    var arguments: [(any DatabaseValueConvertible)?]
}

/// Turns keys and filters into SQL, deciding what each key names against the index.
struct RunQueryCompiler {
    let db: Database
    /// "Now", for relative times (`started > 7d`).
    let now: Date

    func hasParam(_ key: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM params WHERE key = ? LIMIT 1", arguments: [key]) ?? false
    }

    func hasMetric(_ key: String) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM metrics WHERE key = ? LIMIT 1", arguments: [key]) ?? false
    }

    /// What `text` names (see `RunKey.resolve`), looked up in the index.
    func resolve(_ text: String) throws -> RunKey {
        // Fast path: most keys are fields, or exactly one param or metric.
        if RunField(rawValue: text) == nil, !text.hasPrefix("params."), !text.hasPrefix("metrics."),
            !text.hasPrefix("param."), !text.hasPrefix("metric.")
        {
            if try hasParam(text) { return .param(text) }
            if try hasMetric(text) { return .metric(text, .last) }
        }
        let params = Set(try String.fetchAll(db, sql: "SELECT DISTINCT key FROM params"))
        let metrics = Set(try String.fetchAll(db, sql: "SELECT DISTINCT key FROM metrics"))
        return try RunKey.resolve(text, params: params, metrics: metrics)
    }

    /// The SQL value of a key for one run (NULL when the run has none).
    func expression(_ key: RunKey, forSorting: Bool = false) -> RunSQL {
        switch key {
        case .field(let field):
            return RunSQL(sql: field.column, arguments: [])
        case .param(let name):
            let column = forSorting ? "coalesce(p.num, p.text)" : "p.num"
            return RunSQL(
                sql: "(SELECT \(column) FROM params p WHERE p.run = runs.run AND p.key = ?)", arguments: [name])
        case .metric(let name, let aggregate):
            let column = aggregate == .step ? "step" : aggregate.rawValue
            return RunSQL(
                sql: "(SELECT m.\(column) FROM metrics m WHERE m.run = runs.run AND m.key = ?)", arguments: [name])
        }
    }

    /// `ORDER BY` terms: runs without the key always last, whatever the direction.
    func orderBy(_ keys: [SortKey]) throws -> RunSQL {
        var terms: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        for sortKey in keys {
            let key: RunKey
            do { key = try resolve(sortKey.key) } catch let error as RunKeyError {
                throw ExpError(.notFound, "cannot sort: \(error.message)", hint: error.hint)
            }
            let value = expression(key, forSorting: true)
            terms.append("(\(value.sql))" + (sortKey.descending ? " DESC NULLS LAST" : " ASC NULLS LAST"))
            arguments += value.arguments
        }
        terms += ["runs.started DESC", "runs.id DESC"]
        return RunSQL(sql: terms.joined(separator: ", "), arguments: arguments)
    }

    /// The `WHERE` condition of a filter.
    func condition(_ filter: RunFilter) throws(RunFilterError) -> RunSQL {
        switch filter {
        case .and, .or:
            // A chain of one operator (`a and b and c`) becomes one flat SQL list: nested
            // parentheses would run into SQLite's parser stack.
            let isAnd = if case .and = filter { true } else { false }
            var operands: [RunFilter] = []
            var pending = [filter]
            while let next = pending.popLast() {
                switch next {
                case .and(let a, let b) where isAnd: pending += [b, a]
                case .or(let a, let b) where !isAnd: pending += [b, a]
                default: operands.append(next)
                }
            }
            var parts: [String] = []
            var arguments: [(any DatabaseValueConvertible)?] = []
            for operand in operands {
                let compiled = try condition(operand)
                parts.append(compiled.sql)
                arguments += compiled.arguments
            }
            return RunSQL(sql: "(" + parts.joined(separator: isAnd ? " AND " : " OR ") + ")", arguments: arguments)
        case .not(let inner):
            let compiled = try condition(inner)
            return RunSQL(sql: "(NOT \(compiled.sql))", arguments: compiled.arguments)
        case .compare(let keyText, let keyColumn, let op, let value, let valueColumn):
            let key: RunKey
            do {
                key = try resolve(keyText)
            } catch let error as RunKeyError {
                let hint = Suggestions.phrase(error.suggestions).map { " (\($0))" } ?? ""
                throw RunFilterError(error.message + hint, column: keyColumn)
            } catch {
                throw RunFilterError("could not read the index: \(error)", column: keyColumn)
            }
            return try comparison(key, keyText, op, value, valueColumn)
        }
    }

    private func comparison(
        _ key: RunKey, _ keyText: String, _ op: RunFilter.Comparison, _ value: String, _ column: Int
    ) throws(RunFilterError) -> RunSQL {
        let left = expression(key)
        func compare(_ lhs: String, _ argument: any DatabaseValueConvertible) -> RunSQL {
            switch op {
            case .matches: RunSQL(sql: "(\(lhs) GLOB ?)", arguments: left.arguments + [argument])
            case .notMatches: RunSQL(sql: "(\(lhs) NOT GLOB ?)", arguments: left.arguments + [argument])
            default: RunSQL(sql: "(\(lhs) \(op.rawValue) ?)", arguments: left.arguments + [argument])
            }
        }
        if op.isTimeWord {
            guard case .field(let field) = key, field.kind == .time else {
                throw RunFilterError(
                    "'\(op.rawValue)' compares a time (started, ended), not \(keyText): e.g. started \(op.rawValue) "
                        + (op == .within ? "7d" : "2026-11-01"), column: column)
            }
            return try timeWord(left, op, value, column)
        }
        func numbersOnly(_ what: String) throws(RunFilterError) {
            if op == .matches || op == .notMatches {
                throw RunFilterError("\(keyText) is \(what): compare it with =, !=, <, <=, > or >=", column: column)
            }
        }
        switch key {
        case .metric:
            try numbersOnly("a metric")
            guard let number = Self.number(value) else {
                throw RunFilterError("\(keyText) is a metric: expected a number, found '\(value)'", column: column)
            }
            return compare(left.sql, number)
        case .param(let name):
            if op == .matches || op == .notMatches {
                let text = RunSQL(
                    sql: "(SELECT p.text FROM params p WHERE p.run = runs.run AND p.key = ?)", arguments: [name])
                let sql = op == .matches ? "(\(text.sql) GLOB ?)" : "(\(text.sql) NOT GLOB ?)"
                return RunSQL(sql: sql, arguments: text.arguments + [value])
            }
            if let number = Params.typed(value).numericValue { return compare(left.sql, number) }
            let text = "(SELECT p.text FROM params p WHERE p.run = runs.run AND p.key = ?)"
            return RunSQL(sql: "(\(text) \(op.rawValue) ?)", arguments: [name, value])
        case .field(let field):
            switch field.kind {
            case .text:
                return compare(left.sql, value)
            case .status:
                if op != .matches && op != .notMatches && RunStatus(rawValue: value) == nil {
                    let all = RunStatus.allCases.map(\.rawValue).joined(separator: ", ")
                    throw RunFilterError("unknown status '\(value)' (one of \(all))", column: column)
                }
                return compare(left.sql, value)
            case .commit:
                guard op == .equal || op == .notEqual else {
                    throw RunFilterError("\(keyText) is a commit: compare it with = or !=", column: column)
                }
                let hex = value.lowercased()
                guard !hex.isEmpty, hex.allSatisfy(\.isHexDigit) else {
                    throw RunFilterError("expected a commit id (hex digits), found '\(value)'", column: column)
                }
                let word = op == .equal ? "LIKE" : "NOT LIKE"
                return RunSQL(sql: "(\(left.sql) \(word) ?)", arguments: [hex + "%"])
            case .time:
                try numbersOnly("a time")
                guard let date = Self.time(value, now: now) else {
                    throw RunFilterError(
                        "expected a time such as 7d, 12h, 30m (ago) or 2026-11-01, found '\(value)'", column: column)
                }
                return compare(left.sql, date.timeIntervalSince1970)
            case .seconds:
                try numbersOnly("a duration")
                guard let seconds = Self.seconds(value) else {
                    throw RunFilterError(
                        "expected a duration such as 90, 90s, 5m or 2h, found '\(value)'", column: column)
                }
                return compare(left.sql, seconds)
            case .flag:
                guard op == .equal || op == .notEqual, let flag = Self.flag(value) else {
                    throw RunFilterError("\(keyText) is true or false: write \(keyText) = true", column: column)
                }
                return compare(left.sql, flag ? 1 : 0)
            case .integer:
                try numbersOnly("a number")
                guard let number = Int(value) else {
                    throw RunFilterError("expected a whole number, found '\(value)'", column: column)
                }
                return compare(left.sql, number)
            }
        }
    }

    /// `within AGE` (at or after AGE ago), `before TIME`, `after TIME` on a time column.
    private func timeWord(
        _ left: RunSQL, _ op: RunFilter.Comparison, _ value: String, _ column: Int
    ) throws(RunFilterError) -> RunSQL {
        if op == .within {
            guard let unit = value.last, unit.isLetter, let seconds = Self.seconds(value), seconds >= 0 else {
                throw RunFilterError(
                    "'within' takes an age such as 7d, 12h or 30m, found '\(value)' (for a date, use 'after')",
                    column: column)
            }
            return RunSQL(
                sql: "(\(left.sql) >= ?)",
                arguments: left.arguments + [now.addingTimeInterval(-seconds).timeIntervalSince1970])
        }
        guard let date = Self.time(value, now: now) else {
            throw RunFilterError(
                "expected a time such as 2026-11-01 or 7d (ago), found '\(value)'", column: column)
        }
        let sign = op == .before ? "<" : ">"
        return RunSQL(sql: "(\(left.sql) \(sign) ?)", arguments: left.arguments + [date.timeIntervalSince1970])
    }

    static func number(_ text: String) -> Double? {
        switch text.lowercased() {
        case "inf", "+inf", "infinity": return .infinity
        case "-inf", "-infinity": return -.infinity
        default: return Double(text).flatMap { $0.isNaN ? nil : $0 }
        }
    }

    static func flag(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "yes", "1": true
        case "false", "no", "0": false
        default: nil
        }
    }

    /// `90`, `90s`, `5m`, `2h`, `1.5d`, `2w` in seconds.
    static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        if let plain = Double(text), plain.isFinite { return plain }
        guard let unit = text.last, let scale = units[unit], let number = Double(text.dropLast()), number.isFinite
        else { return nil }
        return number * scale
    }

    /// `7d` (seven days before now), `2026-11-01`, `2026-11-01T14:30` (local time) or a full
    /// ISO 8601 time with a zone.
    static func time(_ text: String, now: Date) -> Date? {
        if let unit = text.last, unit.isLetter, let seconds = seconds(text) { return now.addingTimeInterval(-seconds) }
        let iso = ISO8601DateFormatter()
        if let date = iso.date(from: text) { return date }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone.current
        for format in ["yyyy-MM-dd", "yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
