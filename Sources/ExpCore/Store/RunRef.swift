import Foundation

/// How the user names a run on the command line: a full id, a unique id prefix, a name,
/// `latest`, `latest~N` (the N-th run before the latest), `min:KEY` / `max:KEY` (the best run
/// by a metric, see `BestRunCriterion`; optionally among those a filter selects:
/// `min:val_loss@lr<0.01`), or
/// `tree:OID` (the run whose code is exactly that tree).
public enum RunRef: Equatable, Sendable, CustomStringConvertible {
    case latest(offset: Int)
    /// A name, a full id or an id prefix: which one is decided against the stored runs.
    case text(String)
    /// The run with the smallest (`min:`) or largest (`max:`) value of a key.
    case best(BestRunCriterion)
    /// The run whose snapshot tree is this tree (a full id or a prefix).
    case tree(String)

    /// Parses what the user typed; throws for empty text and a malformed `latest~N`.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw Self.error("empty run reference", text) }
        if trimmed == "latest" {
            self = .latest(offset: 0)
        } else if trimmed.hasPrefix("latest~") {
            let number = trimmed.dropFirst("latest~".count)
            guard let offset = number.isEmpty ? 1 : Int(number), offset >= 0 else {
                throw Self.error("bad run reference '\(text)': expected latest~N with N a number", text)
            }
            self = .latest(offset: offset)
        } else if trimmed.hasPrefix("min:") || trimmed.hasPrefix("max:") {
            guard let criterion = BestRunCriterion(parsing: trimmed) else {
                throw Self.error("bad run reference '\(text)': expected min:KEY or max:KEY", text)
            }
            if let filter = criterion.filter {
                do {
                    _ = try RunFilter(parsing: filter)
                } catch {
                    var shifted = error
                    shifted.column += trimmed.count - filter.count
                    throw shifted.expError(in: trimmed, option: "run reference")
                }
            }
            self = .best(criterion)
        } else if trimmed.hasPrefix("tree:") {
            let hex = trimmed.dropFirst("tree:".count).lowercased()
            guard hex.count >= 4, hex.allSatisfy(\.isHexDigit) else {
                throw Self.error("bad run reference '\(text)': expected tree:<tree id>, 4 to 40 hex digits", text)
            }
            self = .tree(hex)
        } else {
            self = .text(trimmed)
        }
    }

    static let hint = "name a run by its name, an id prefix, latest, latest~N, min:KEY, max:KEY or tree:OID"

    /// A usage error for text that is no run reference.
    private static func error(_ message: String, _ text: String) -> ExpError {
        ExpError(.usage, message, hint: hint, reason: .badRunReference(text))
    }

    public var description: String {
        switch self {
        case .latest(let offset): offset == 0 ? "latest" : "latest~\(offset)"
        case .text(let text): text
        case .best(let best): best.description
        case .tree(let hex): "tree:" + hex
        }
    }
}
