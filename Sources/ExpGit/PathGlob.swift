/// A glob over slash-separated paths, with git's `wildmatch` rules: `*`, `?` and `[...]` stay
/// within one folder level, `**` spans any number of them (`a/**/b` also matches `a/b`).
public struct PathGlob: Sendable, Equatable, CustomStringConvertible {
    /// The pattern as given.
    public let pattern: String
    private let bytes: [UInt8]

    public init(_ pattern: String) {
        self.pattern = pattern
        bytes = Array(pattern.utf8)
    }

    /// Whether `path` (relative, slash-separated) matches the whole pattern.
    public func matches(_ path: String) -> Bool {
        Wildmatch.matches(bytes, Array(path.utf8)[...], pathname: true)
    }

    /// The pattern's leading folders free of glob characters: `outputs/run` for
    /// `outputs/run/**/*.pt`, empty for `*.pt` or `**/x`.
    public var literalPrefix: [String] {
        var components = pattern.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if !components.isEmpty { components.removeLast() }  // the last one names files, never a folder
        var prefix: [String] = []
        for component in components {
            if component.contains(where: { "*?[\\".contains($0) }) { break }
            prefix.append(component)
        }
        return prefix
    }

    /// How many folder levels below the literal prefix a match can be, or nil when `**` makes
    /// it unbounded.
    public var depthBelowPrefix: Int? {
        let components = pattern.split(separator: "/", omittingEmptySubsequences: true)
        if components.contains(where: { $0.contains("**") }) { return nil }
        return components.count - literalPrefix.count
    }

    public var description: String { pattern }
}
