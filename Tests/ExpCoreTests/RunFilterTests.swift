import ExpCore
import ExpTestSupport
import Foundation
import Testing

/// A compact rendering of a filter, to compare parses in a table.
private func render(_ filter: RunFilter) -> String {
    switch filter {
    case .and(let a, let b): "(\(render(a)) and \(render(b)))"
    case .or(let a, let b): "(\(render(a)) or \(render(b)))"
    case .not(let inner): "not \(render(inner))"
    case .compare(let key, _, let op, let value, _):
        op.isTimeWord ? "\(key) \(op.rawValue) \(value)" : "\(key)\(op.rawValue)\(value)"
    }
}

@Suite("--where expressions")
struct RunFilterTests {
    static let valid: [(String, String)] = [
        ("lr < 0.01", "lr<0.01"),
        ("lr<0.01", "lr<0.01"),
        ("lr <= 1e-3", "lr<=1e-3"),
        ("status = succeeded", "status=succeeded"),
        ("status == succeeded", "status=succeeded"),
        ("host != gpu01", "host!=gpu01"),
        ("name ~ 'sweep-*'", "name~sweep-*"),
        ("name !~ \"tmp *\"", "name!~tmp *"),
        ("started > 7d", "started>7d"),
        ("val/loss >= -0.5", "val/loss>=-0.5"),
        ("val_loss.min < 0.3", "val_loss.min<0.3"),
        ("`odd key` = x", "odd key=x"),
        (
            "lr < 0.01 and status = succeeded and val_loss.min < 0.3",
            "((lr<0.01 and status=succeeded) and val_loss.min<0.3)"
        ),
        ("a = 1 or b = 2 and c = 3", "(a=1 or (b=2 and c=3))"),
        ("(a = 1 or b = 2) and c = 3", "((a=1 or b=2) and c=3)"),
        ("not a = 1 and b = 2", "(not a=1 and b=2)"),
        ("NOT (a = 1 OR b = 2)", "not (a=1 or b=2)"),
        ("order = 3 and android = 1", "(order=3 and android=1)"),
        ("  lr   <   0.01  ", "lr<0.01"),
        ("path = 'a\\'b'", "path=a'b"),
        ("started within 1h", "started within 1h"),
        ("started WITHIN 7d", "started within 7d"),
        ("started before 2026-11-01", "started before 2026-11-01"),
        ("ended after '2026-11-01 12:00'", "ended after 2026-11-01 12:00"),
        ("started after 7d and status = failed", "(started after 7d and status=failed)"),
        ("not started within 1d", "not started within 1d"),
        ("within = 3", "within=3"),
        ("before.min < 1 or after ~ x*", "(before.min<1 or after~x*)"),
    ]

    @Test("valid expressions parse with the right precedence", arguments: valid)
    func parses(_ text: String, _ expected: String) throws {
        #expect(render(try RunFilter(parsing: text)) == expected)
    }

    static let invalid: [(String, Int, String)] = [
        ("", 1, "empty filter"),
        ("lr <", 5, "expected a value after '<'"),
        ("lr", 3, "expected an operator"),
        ("lr 0.01", 4, "expected an operator"),
        ("< 3", 1, "expected a field, param or metric name"),
        ("lr < 0.01 and", 14, "expected a condition"),
        ("lr < 0.01 lr > 3", 11, "expected 'and', 'or' or the end"),
        ("(lr < 0.01", 11, "'(' at column 1 is not closed"),
        ("lr < 0.01)", 10, "unmatched ')'"),
        ("name = 'open", 8, "unclosed ' string"),
        ("and = 3", 1, "expected a condition, found 'and'"),
        ("`key = 1", 1, "unclosed '`'"),
        ("started within", 15, "expected a value after 'within'"),
        ("started within7d", 9, "expected an operator (=, !=, <, <=, >, >=, ~, !~, within, before, after)"),
        ("started beforehand 1d", 9, "expected an operator"),
    ]

    @Test("invalid expressions say what and at which column", arguments: invalid)
    func rejects(_ text: String, _ column: Int, _ message: String) {
        #expect {
            _ = try RunFilter(parsing: text)
        } throws: { error in
            guard let error = error as? RunFilterError else { return false }
            return error.column == column && error.message.contains(message)
        }
    }

    @Test("the error for the user shows the expression with a caret under the column")
    func caret() {
        let error = RunFilterError("expected a value after '<'", column: 6)
        let message = error.expError(in: "lr < ", option: "--where").message
        #expect(message.hasSuffix("\n  lr < \n       ^"))
        #expect(message.hasPrefix("--where: expected a value after '<' at column 6"))
    }

    @Test("keys say which comparisons they make")
    func keys() throws {
        #expect(
            try RunFilter(parsing: "lr < 1 and (status = failed or not host = a)").keys == ["lr", "status", "host"])
    }

    /// Names of the runs `filter` selects in a repository of four runs started 30 minutes,
    /// 2 hours, 3 days and 40 days before a fixed now (2026-09-21T14:13:20Z), newest first.
    private static func names(_ filter: String) throws -> [String] {
        let repo = try TestRepo()
        try repo.write("train.py", "print(1)\n")
        try repo.commitAll()
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        var context = repo.context()
        context.clock = { now }
        let workspace = try Workspace(context: context)
        let store = RunStore(workspace: workspace)
        let snapshot = try workspace.takeSnapshot()
        var random = SeededGenerator(seed: 7)
        for (name, age) in [("minutes", 1800.0), ("hours", 7200), ("days", 3 * 86400), ("weeks", 40 * 86400)] {
            let started = now.addingTimeInterval(-age)
            let record = RunRecord.finished(
                id: RunID.generate(at: started, using: &random), name: name, argv: ["python", "train.py"],
                params: [:], startedAt: started, durationSeconds: 60, host: "h", user: "u", snapshot: snapshot)
            _ = try store.storeFinished(record, points: [])
        }
        var query = RunQuery(limit: nil, includeFailed: true)
        query.filter = try RunFilter(parsing: filter)
        return try store.runs(query).map(\.record.name)
    }

    static let timeWords: [(String, [String])] = [
        ("started within 1h", ["minutes"]),
        ("started within 2.5h", ["minutes", "hours"]),
        ("started within 7d", ["minutes", "hours", "days"]),
        ("not started within 1d", ["days", "weeks"]),
        ("started before 1d", ["days", "weeks"]),
        ("started after 1d", ["minutes", "hours"]),
        ("started before 2026-09-01T00:00:00Z", ["weeks"]),
        ("started after 2026-09-21T13:00:00Z", ["minutes"]),
        ("started after 2026-09-01T00:00:00Z and started before 1h", ["hours", "days"]),
        ("ended within 1h", ["minutes"]),
        // The old form still means what it meant: `>` an age is "within", `<` is "before".
        ("started > 1h", ["minutes"]),
        ("started < 1h", ["hours", "days", "weeks"]),
        ("started >= 2026-09-21", ["minutes", "hours"]),
    ]

    @Test("started within AGE, before TIME and after TIME select by a fixed now", arguments: timeWords)
    func timeWordsSelect(_ filter: String, _ expected: [String]) throws {
        #expect(try Self.names(filter) == expected)
    }

    static let badTimeWords: [(String, String)] = [
        ("started within 2026-11-01", "'within' takes an age such as 7d, 12h or 30m, found '2026-11-01'"),
        ("started within 90", "'within' takes an age"),
        ("started before soon", "expected a time such as 2026-11-01 or 7d (ago), found 'soon'"),
        ("name within 1h", "'within' compares a time (started, ended), not name: e.g. started within 7d"),
        ("duration after 1h", "'after' compares a time (started, ended), not duration"),
    ]

    @Test("time words are refused on what is not a time, and within wants an age", arguments: badTimeWords)
    func timeWordsRefused(_ filter: String, _ message: String) throws {
        #expect {
            _ = try Self.names(filter)
        } throws: { error in
            ((error as? RunFilterError)?.message ?? (error as? ExpError)?.message ?? "").contains(message)
        }
    }
}
