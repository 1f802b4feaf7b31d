import Foundation

/// Which untracked files a snapshot leaves out: too large, or named like secrets.
///
/// Tracked files are never left out: they are in git already.
public struct SnapshotPolicy: Sendable, Equatable {
    /// Default for `exp.maxFileSize`: 10 MiB.
    public static let defaultMaxFileSize: Int64 = 10 << 20

    /// Untracked files strictly larger than this many bytes are skipped.
    public var maxFileSize: Int64
    /// Extra gitignore-syntax rules (the lines of `.expignore`).
    public var ignoreRules: [String]

    public init(maxFileSize: Int64 = SnapshotPolicy.defaultMaxFileSize, ignoreRules: [String] = []) {
        self.maxFileSize = maxFileSize
        self.ignoreRules = ignoreRules
    }

    /// File-name patterns (matched against the last path component) of files that often
    /// hold keys or credentials; runs get pushed to shared remotes, so these never ride along.
    public static let secretPatterns = [
        ".env", ".env.*", "*.pem", "*.key", "id_rsa*", "id_ed25519*", "*.p12", ".netrc", ".pypirc",
        "credentials*.json", "secrets.*",
    ]

    /// Whether an untracked file at `path` is named like a secret.
    public static func looksSecret(_ path: String) -> Bool {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return secretPatterns.contains { fnmatch($0, name, 0) == 0 }
    }
}
