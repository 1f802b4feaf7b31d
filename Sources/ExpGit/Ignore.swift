/// gitignore rules, evaluated exactly as git evaluates them.
///
/// libgit2 1.5 disagrees with git on some negations (a `!keep.log` in a sub-folder's
/// `.gitignore` does not re-include what a parent's `*.log` excluded), and git is the
/// reference for what a snapshot holds, so exp matches paths itself. Semantics follow
/// gitignore(5): the last matching line of a file wins; a deeper `.gitignore` wins over a
/// shallower one, which wins over `info/exclude`, which wins over `core.excludesFile`; a
/// pattern without a slash matches the name at any depth, one with a slash is anchored to its
/// file's folder; a trailing slash matches folders only; `**` spans folders.
struct IgnorePattern: Sendable {
    /// The pattern bytes, without `!`, leading `/` and trailing `/`.
    var pattern: [UInt8]
    /// `!pattern`: re-includes what an earlier line excluded.
    var negated: Bool
    /// `pattern/`: matches folders only.
    var mustBeFolder: Bool
    /// No slash in the pattern: matched against the last path component only.
    var matchesName: Bool

    /// Parses one line of an ignore file; nil for blanks and comments.
    init?(line: ArraySlice<UInt8>) {
        var bytes = Array(line)
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        if bytes.isEmpty || bytes[0] == UInt8(ascii: "#") { return nil }
        // Trailing spaces are dropped unless escaped with a backslash.
        while bytes.last == UInt8(ascii: " ") {
            let count = bytes.count
            if count >= 2 && bytes[count - 2] == UInt8(ascii: "\\") {
                bytes.remove(at: count - 2)  // "\ " keeps one literal space
                break
            }
            bytes.removeLast()
        }
        negated = bytes.first == UInt8(ascii: "!")
        if negated { bytes.removeFirst() }
        mustBeFolder = bytes.last == UInt8(ascii: "/")
        if mustBeFolder { bytes.removeLast() }
        if bytes.isEmpty { return nil }
        matchesName = !bytes.contains(UInt8(ascii: "/"))
        if bytes.first == UInt8(ascii: "/") { bytes.removeFirst() }
        pattern = bytes
    }
}

/// The patterns of one ignore file, with the folder they are relative to.
struct IgnoreList: Sendable {
    /// Folder of the ignore file relative to the repository root, without a trailing slash
    /// (empty for the root, `info/exclude` and `core.excludesFile`).
    var base: [UInt8]
    var patterns: [IgnorePattern]

    init(base: [UInt8], text: [UInt8]) {
        self.base = base
        patterns = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
            .compactMap { IgnorePattern(line: $0) }
    }

    /// The verdict of this file for `path` (relative to the root; `nameStart` is where its
    /// last component begins): true excluded, false re-included, nil no line matched.
    func verdict(path: [UInt8], nameStart: Int, isFolder: Bool) -> Bool? {
        for pattern in patterns.reversed() {
            if pattern.mustBeFolder && !isFolder { continue }
            let matched: Bool
            if pattern.matchesName {
                matched = Wildmatch.matches(pattern.pattern, path[nameStart...], pathname: false)
            } else {
                // Anchored to the ignore file's folder: the path must lie below it.
                var start = 0
                if !base.isEmpty {
                    guard path.count > base.count, path[base.count] == UInt8(ascii: "/"),
                        path.starts(with: base)
                    else { continue }
                    start = base.count + 1
                }
                matched = Wildmatch.matches(pattern.pattern, path[start...], pathname: true)
            }
            if matched { return !pattern.negated }
        }
        return nil
    }
}

/// Glob matching with git's `wildmatch` semantics: `*`, `?`, `[...]` (ranges, `!`/`^`
/// negation, `[:class:]`), backslash escapes, and `**` spanning folders when `pathname` is on
/// (then `*`, `?` and brackets never match `/`).
enum Wildmatch {
    private enum Outcome { case match, noMatch, abortAll, abortToDoubleStar }

    static func matches(_ pattern: [UInt8], _ text: ArraySlice<UInt8>, pathname: Bool) -> Bool {
        let text = Array(text)
        return pattern.withUnsafeBufferPointer { p in
            text.withUnsafeBufferPointer { t in match(p, 0, t, 0, pathname) == .match }
        }
    }

    private static let slash = UInt8(ascii: "/")
    private static let star = UInt8(ascii: "*")
    private static let backslash = UInt8(ascii: "\\")

    private static func isGlobSpecial(_ c: UInt8) -> Bool {
        c == star || c == UInt8(ascii: "?") || c == UInt8(ascii: "[") || c == backslash
    }

    private static func match(
        _ p: UnsafeBufferPointer<UInt8>, _ pStart: Int, _ t: UnsafeBufferPointer<UInt8>, _ tStart: Int,
        _ pathname: Bool
    ) -> Outcome {
        var pi = pStart
        var ti = tStart
        while pi < p.count {
            var pc = p[pi]
            if ti >= t.count && pc != star { return .abortAll }
            let tc: UInt8 = ti < t.count ? t[ti] : 0
            switch pc {
            case backslash:
                pi += 1
                guard pi < p.count else { return .noMatch }  // a trailing backslash matches nothing
                if tc != p[pi] { return .noMatch }
            case UInt8(ascii: "?"):
                if pathname && tc == slash { return .noMatch }
            case star:
                var matchSlash: Bool
                pi += 1
                if pi < p.count && p[pi] == star {
                    let before = pi - 2  // the character before the `**`
                    while pi < p.count && p[pi] == star { pi += 1 }
                    let startsComponent = before < 0 || p[before] == slash
                    let endsComponent =
                        pi == p.count || p[pi] == slash
                        || (p[pi] == backslash && pi + 1 < p.count && p[pi + 1] == slash)
                    if !pathname || (startsComponent && endsComponent) {
                        // `**/` may also match no folder at all.
                        if pathname && pi < p.count && p[pi] == slash && match(p, pi + 1, t, ti, pathname) == .match {
                            return .match
                        }
                        matchSlash = true
                    } else {
                        matchSlash = false
                    }
                } else {
                    matchSlash = !pathname
                }
                if pi == p.count {
                    // A trailing `**` matches everything; a trailing `*` only within one component.
                    if !matchSlash && t[ti...].contains(slash) { return .noMatch }
                    return .match
                }
                if !matchSlash && p[pi] == slash {
                    // `*/`: the star takes the rest of this component.
                    guard let next = t[ti...].firstIndex(of: slash) else { return .noMatch }
                    ti = next
                    break
                }
                while ti < t.count {
                    if !isGlobSpecial(p[pi]) {
                        // Skip ahead to the next occurrence of the literal that follows the star.
                        let literal = p[pi]
                        while ti < t.count && t[ti] != literal && (matchSlash || t[ti] != slash) { ti += 1 }
                        if ti >= t.count || t[ti] != literal { return .noMatch }
                    }
                    let outcome = match(p, pi, t, ti, pathname)
                    if outcome != .noMatch {
                        if !matchSlash || outcome != .abortToDoubleStar { return outcome }
                    } else if !matchSlash && t[ti] == slash {
                        return .abortToDoubleStar
                    }
                    ti += 1
                }
                return .abortAll
            case UInt8(ascii: "["):
                guard let (matched, next) = matchBracket(p, pi + 1, tc) else { return .abortAll }
                if !matched || (pathname && tc == slash) { return .noMatch }
                pi = next
                ti += 1
                continue
            default:
                if tc != pc { return .noMatch }
            }
            pc = 0
            pi += 1
            ti += 1
        }
        return ti >= t.count ? .match : .noMatch
    }

    /// Matches `c` against the bracket expression starting after `[` at `start`; returns
    /// whether it matched and the index after `]`, or nil for an unterminated bracket.
    private static func matchBracket(_ p: UnsafeBufferPointer<UInt8>, _ start: Int, _ c: UInt8) -> (Bool, Int)? {
        var i = start
        guard i < p.count else { return nil }
        var negated = false
        if p[i] == UInt8(ascii: "!") || p[i] == UInt8(ascii: "^") {
            negated = true
            i += 1
        }
        var matched = false
        var previous: UInt8? = nil
        var first = true
        while i < p.count {
            var ch = p[i]
            if ch == UInt8(ascii: "]") && !first { return (matched != negated, i + 1) }
            first = false
            if ch == backslash {
                i += 1
                guard i < p.count else { return nil }
                ch = p[i]
                if ch == c { matched = true }
                previous = ch
            } else if ch == UInt8(ascii: "-"), let low = previous, i + 1 < p.count, p[i + 1] != UInt8(ascii: "]") {
                i += 1
                var high = p[i]
                if high == backslash {
                    i += 1
                    guard i < p.count else { return nil }
                    high = p[i]
                }
                if low <= c && c <= high { matched = true }
                previous = nil
            } else if ch == UInt8(ascii: "["), i + 1 < p.count, p[i + 1] == UInt8(ascii: ":") {
                guard let end = findClassEnd(p, i + 2) else {
                    if c == ch { matched = true }
                    previous = ch
                    i += 1
                    continue
                }
                let name = String(decoding: p[(i + 2)..<end], as: UTF8.self)
                guard let inClass = characterClass(name, c) else { return nil }  // unknown class: git aborts
                if inClass { matched = true }
                i = end + 2
                previous = nil
                continue
            } else {
                if ch == c { matched = true }
                previous = ch
            }
            i += 1
        }
        return nil
    }

    private static func findClassEnd(_ p: UnsafeBufferPointer<UInt8>, _ start: Int) -> Int? {
        var i = start
        while i + 1 < p.count {
            if p[i] == UInt8(ascii: ":") && p[i + 1] == UInt8(ascii: "]") { return i }
            if p[i] == UInt8(ascii: "]") { return nil }
            i += 1
        }
        return nil
    }

    private static func characterClass(_ name: String, _ c: UInt8) -> Bool? {
        let isUpper = (65...90).contains(c)
        let isLower = (97...122).contains(c)
        let isDigit = (48...57).contains(c)
        switch name {
        case "alnum": return isUpper || isLower || isDigit
        case "alpha": return isUpper || isLower
        case "blank": return c == 32 || c == 9
        case "cntrl": return c < 32 || c == 127
        case "digit": return isDigit
        case "graph": return c > 32 && c < 127
        case "lower": return isLower
        case "print": return c >= 32 && c < 127
        case "punct": return c > 32 && c < 127 && !(isUpper || isLower || isDigit)
        case "space": return c == 32 || (9...13).contains(c)
        case "upper": return isUpper
        case "xdigit": return isDigit || (65...70).contains(c) || (97...102).contains(c)
        default: return nil
        }
    }
}
