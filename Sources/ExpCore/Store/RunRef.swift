import Foundation

/// How the user names a run on the command line: a full id, a unique id prefix, a name,
/// `latest`, `latest~N` (the N-th run before the latest), `min:KEY` / `max:KEY` (the best run
/// by a metric, optionally among those a filter selects: `min:val_loss@lr<0.01`), or
/// `tree:OID` (the run whose code is exactly that tree).
public enum RunRef: Equatable, Sendable, CustomStringConvertible {
    case latest(offset: Int)
    /// A name, a full id or an id prefix: which one is decided against the stored runs.
    case text(String)
    /// The run with the smallest (`min:`) or largest (`max:`) value of a key.
    case best(BestRun)
    /// The run whose snapshot tree is this tree (a full id or a prefix).
    case tree(String)

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
        } else if trimmed.hasPrefix("min:") || trimmed.hasPrefix("max:") {
            self = .best(try BestRun(parsing: trimmed))
        } else if trimmed.hasPrefix("tree:") {
            let hex = trimmed.dropFirst("tree:".count).lowercased()
            guard hex.count >= 4, hex.allSatisfy(\.isHexDigit) else {
                throw ExpError(
                    "bad run reference '\(text)': expected tree:<tree id>, 4 to 40 hex digits", hint: Self.hint)
            }
            self = .tree(hex)
        } else {
            self = .text(trimmed)
        }
    }

    static let hint =
        "name a run by its name, an id prefix, latest, latest~N, min:KEY, max:KEY or tree:OID; `exp list` shows them"

    public var description: String {
        switch self {
        case .latest(let offset): offset == 0 ? "latest" : "latest~\(offset)"
        case .text(let text): text
        case .best(let best): best.description
        case .tree(let hex): "tree:" + hex
        }
    }
}

/// `min:KEY`, `max:KEY`, `min:KEY@FILTER`: the best run by a key.
///
/// For a metric, `min:val_loss` compares each run's smallest `val_loss` (its best epoch, as a
/// checkpoint callback would) and `max:val_acc` each run's largest; `min:val_loss.last`
/// compares last values. Runs without the key never win; ties go to the newest run.
public struct BestRun: Equatable, Sendable, CustomStringConvertible {
    public enum Direction: String, Sendable { case min, max }

    public var direction: Direction
    /// The key as typed (`val_loss`, `val_loss.last`, `params.lr`).
    public var key: String
    /// The filter after `@`, as typed.
    public var filterText: String?
    public var filter: RunFilter?

    /// Parses `min:KEY`, `max:KEY`, optionally followed by `@FILTER`.
    public init(parsing text: String) throws {
        guard let colon = text.firstIndex(of: ":"), let direction = Direction(rawValue: String(text[..<colon])) else {
            throw ExpError("bad best-run reference '\(text)': expected min:KEY or max:KEY", hint: RunRef.hint)
        }
        self.direction = direction
        var rest = String(text[text.index(after: colon)...])
        if let at = rest.firstIndex(of: "@") {
            let filterText = String(rest[rest.index(after: at)...])
            rest = String(rest[..<at])
            do {
                filter = try RunFilter(parsing: filterText)
            } catch {
                var shifted = error
                shifted.column += text.count - filterText.count
                throw shifted.expError(in: text, option: "run reference")
            }
            self.filterText = filterText
        }
        key = rest.trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty else {
            throw ExpError("bad best-run reference '\(text)': no key after \(direction.rawValue):", hint: RunRef.hint)
        }
    }

    public init(direction: Direction, key: String) {
        self.direction = direction
        self.key = key
    }

    public var description: String {
        "\(direction.rawValue):\(key)" + (filterText.map { "@" + $0 } ?? "")
    }
}
