import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// Points libgit2's global, XDG and system config lookups at a folder that does not exist, so
/// no config outside the test repository is read. Process-wide; applied once per process.
func useHermeticGitConfig() throws {
    try HermeticGitConfig.applied.get()
}

private enum HermeticGitConfig {
    static let applied: Result<Void, GitError> = Result {
        () throws(GitError) in
        try ConfigSearchPaths(global: "/nonexistent", xdg: "/nonexistent", system: "/nonexistent").apply()
    }
}

/// `path` with symlinks resolved and `.`/`..`/`//` removed, for comparing paths that libgit2
/// and git spell differently.
func canonical(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return URL(fileURLWithPath: path).standardized.path }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// An `ObjectID` from 40 hex digits printed by git; fails the test when it is not one.
func objectID(_ hex: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ObjectID {
    try #require(ObjectID(hex: hex), "not an object id: \(hex)", sourceLocation: sourceLocation)
}

extension TestRepo {
    /// The repository's own git config file, edited with the git CLI (`git config KEY VALUE`).
    func setConfig(_ key: String, _ value: String) throws {
        try git(["config", key, value])
    }

    /// Makes a commit with one file changed and returns its id.
    @discardableResult
    func commitFile(_ path: String, _ content: String, message: String = "commit") throws -> ObjectID {
        try write(path, content)
        return try objectID(commitAll(message))
    }

    /// Opens this repository through ExpGit with no config from outside the repository.
    func openRepository(at path: String? = nil) throws -> Repository {
        try useHermeticGitConfig()
        return try Repository.discover(from: path ?? root)
    }
}
