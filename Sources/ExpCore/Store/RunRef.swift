import Foundation

/// How the user names a run on the command line: a full id, a unique id prefix, a name,
/// `latest`, or `latest~N` (the N-th run before the latest).
public enum RunRef: Equatable, Sendable, CustomStringConvertible {
    case latest(offset: Int)
    /// A name, a full id or an id prefix: which one is decided against the stored runs.
    case text(String)

    /// Parses what the user typed; throws for empty text and a malformed `latest~N`.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw ExpError("empty run reference", hint: Self.hint) }
        if trimmed == "latest" {
            self = .latest(offset: 0)
        } else if trimmed.hasPrefix("latest~") {
            let number = trimmed.dropFirst("latest~".count)
            guard let offset = number.isEmpty ? 1 : Int(number), offset >= 0 else {
                throw ExpError("bad run reference '\(text)': expected latest~N with N a number", hint: Self.hint)
            }
            self = .latest(offset: offset)
        } else {
            self = .text(trimmed)
        }
    }

    static let hint = "name a run by its name, an id prefix, latest or latest~N; `exp list` shows them"

    public var description: String {
        switch self {
        case .latest(let offset): offset == 0 ? "latest" : "latest~\(offset)"
        case .text(let text): text
        }
    }
}

extension RunStore {
    /// The run `reference` names. Unknown and ambiguous references are errors that list
    /// candidates.
    public func resolve(_ reference: RunRef, includeAutosaves: Bool = false) throws -> StoredRun {
        // `latest` always means runs; names and ids may also name an autosave when asked.
        let onlyRuns = try allRuns().filter { $0.record.status != .autosave }
        switch reference {
        case .latest(let offset):
            let runs = onlyRuns
            guard !runs.isEmpty else {
                throw ExpError("no runs yet", hint: "record one with `exp run -- COMMAND`")
            }
            guard offset < runs.count else {
                throw ExpError(
                    "\(reference) does not exist: there are only \(runs.count) runs",
                    hint: "the oldest is latest~\(runs.count - 1)")
            }
            return runs[offset]
        case .text(let text):
            let runs = onlyRuns + (includeAutosaves ? try allAutosaves() : [])
            if let byName = runs.first(where: { $0.record.name == text }) { return byName }
            let lowered = text.lowercased()
            let byPrefix = runs.filter { $0.record.id.rawValue.hasPrefix(lowered) }
            if byPrefix.count == 1 { return byPrefix[0] }
            if byPrefix.count > 1 {
                let candidates = byPrefix.prefix(10).map { "  \($0.record.id.short)  \($0.record.name)" }
                throw ExpError(
                    "run '\(text)' is ambiguous; it matches \(byPrefix.count) runs:\n"
                        + candidates.joined(separator: "\n"),
                    hint: "give more characters of the id, or the name")
            }
            let close = runs.filter { $0.record.name.hasPrefix(text) || $0.record.name.contains(text) }.prefix(5)
            let suggestion =
                close.isEmpty
                ? Self.noMatchHint(runs)
                : "did you mean " + close.map { $0.record.name }.joined(separator: ", ") + "?"
            throw ExpError("no run named '\(text)'", hint: suggestion)
        }
    }

    private static func noMatchHint(_ runs: [StoredRun]) -> String {
        if runs.isEmpty { return "there are no runs yet; record one with `exp run -- COMMAND`" }
        let recent = runs.prefix(3).map { $0.record.name }.joined(separator: ", ")
        return "recent runs: \(recent); `exp list` shows all"
    }
}
