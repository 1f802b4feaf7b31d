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

    /// Patterns of files that often hold keys or credentials; runs get pushed to shared
    /// remotes, so these never ride along.
    ///
    /// A pattern without `/` is matched against the file's name (the last path component); one
    /// with `/` against as many trailing components as it has (`.aws/credentials` matches
    /// `home/.aws/credentials`). Matching ignores case: `ID_RSA` and `.ENV` are secrets too.
    public static let secretPatterns = [
        // Environment files and shell credential files.
        ".env", ".env.*", ".envrc", ".netrc", ".git-credentials",
        // Keys and certificates.
        "*.pem", "*.key", "*.p12", "*.pfx", "*.keystore", "*.jks",
        "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
        // Package registries.
        ".pypirc", ".npmrc",
        // Cloud and cluster credentials.
        "credentials*.json", "service-account*.json", "secrets.*", "*kubeconfig*", ".boto", ".s3cfg",
        ".aws/credentials", ".kube/config", ".docker/config.json",
    ]

    /// The patterns, lowercased, each with the number of trailing path components it matches.
    private static let loweredPatterns: [(pattern: String, components: Int)] = secretPatterns.map {
        ($0.lowercased(), $0.split(separator: "/").count)
    }

    /// Whether an untracked file at `path` (relative to the root, `/`-separated) is named like a
    /// secret.
    public static func looksSecret(_ path: String) -> Bool {
        let components = path.lowercased().split(separator: "/", omittingEmptySubsequences: true)
        guard !components.isEmpty else { return false }
        return loweredPatterns.contains { pattern, count in
            guard count <= components.count else { return false }
            let tail = components.suffix(count).joined(separator: "/")
            return fnmatch(pattern, tail, 0) == 0
        }
    }
}
