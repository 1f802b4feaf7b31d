/// Names close to one that names nothing, for a "did you mean …?": the one place exp decides
/// what is close, for a mistyped command, run name, field, param or metric key.
public enum Suggestions {
    /// Up to `limit` of `candidates` close to `text`: the nearest by edits (a letter added,
    /// dropped, changed, or two neighbours swapped; at most one edit for up to 3 characters,
    /// two for up to 6, three beyond; only those at the least distance found), or, when none
    /// is that near, those that hold the text or that it holds (`loss` and `val_loss`; the
    /// held one at least 3 characters long). Case is ignored; ties keep the candidates' order.
    public static func closest(to text: String, among candidates: [String], limit: Int = 5) -> [String] {
        let typed = Array(text.lowercased())
        guard !typed.isEmpty, limit > 0 else { return [] }
        let allowed = typed.count <= 3 ? 1 : typed.count <= 6 ? 2 : 3
        var near: [(distance: Int, name: String)] = []
        var holding: [String] = []
        var seen = Set<String>()
        for candidate in candidates where seen.insert(candidate).inserted {
            let other = Array(candidate.lowercased())
            let distance = editDistance(typed, other)
            if distance <= allowed {
                near.append((distance, candidate))
            } else if (typed.count >= 3 && contains(other, typed)) || (other.count >= 3 && contains(typed, other)) {
                holding.append(candidate)
            }
        }
        let least = near.map(\.distance).min()
        let nearest = near.filter { $0.distance == least }.map(\.name)
        return Array((nearest.isEmpty ? holding : nearest).prefix(limit))
    }

    /// "did you mean a, b?" for the names, each quoted with `quote` (none by default); nil
    /// for none.
    public static func phrase(_ names: [String], quote: String = "") -> String? {
        guard !names.isEmpty else { return nil }
        return "did you mean " + names.map { quote + $0 + quote }.joined(separator: ", ") + "?"
    }

    /// The optimal string alignment distance: insertions, deletions, substitutions and swaps
    /// of two neighbours each count one.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                    best = min(best, before[j - 2] + 1)
                }
                current[j] = best
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }

    private static func contains(_ haystack: [Character], _ needle: [Character]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        for start in 0...(haystack.count - needle.count)
        where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return true
        }
        return false
    }
}
