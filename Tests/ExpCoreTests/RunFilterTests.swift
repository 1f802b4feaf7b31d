import ExpCore
import Testing

/// A compact rendering of a filter, to compare parses in a table.
private func render(_ filter: RunFilter) -> String {
    switch filter {
    case .and(let a, let b): "(\(render(a)) and \(render(b)))"
    case .or(let a, let b): "(\(render(a)) or \(render(b)))"
    case .not(let inner): "not \(render(inner))"
    case .compare(let key, _, let op, let value, _): "\(key)\(op.rawValue)\(value)"
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
}
