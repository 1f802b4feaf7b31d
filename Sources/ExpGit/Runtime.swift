internal import CLibGit2

/// Process-wide libgit2 set-up: `git_libgit2_init` runs exactly once per process.
enum Runtime {
    static let initialized: Void = {
        git_libgit2_init()
        // Strict creation re-reads every object an index entry names, one open and inflate per
        // staged file; exp only stages blobs it has just written, so the check buys nothing.
        _ = exp_git_enable_strict_object_creation(0)
    }()

    @inline(__always) static func ensure() { _ = initialized }
}

/// Where libgit2 looks for the user's global, XDG and system git config files.
///
/// libgit2 does not read `GIT_CONFIG_GLOBAL` / `GIT_CONFIG_NOSYSTEM`, so the caller (who owns
/// the environment) says where those files are. Process-wide; call before opening repositories.
public struct ConfigSearchPaths: Sendable, Equatable {
    /// Folder holding the global `.gitconfig`; nil leaves libgit2's default (`$HOME`).
    public var global: String?
    /// Folder holding `git/config` for XDG; nil leaves libgit2's default.
    public var xdg: String?
    /// Folder holding the system `gitconfig`; nil leaves libgit2's default.
    public var system: String?

    public init(global: String? = nil, xdg: String? = nil, system: String? = nil) {
        self.global = global
        self.xdg = xdg
        self.system = system
    }

    /// Applies these paths to libgit2 for the whole process.
    public func apply() throws(GitError) {
        Runtime.ensure()
        let levels: [(git_config_level_t, String?)] = [
            (GIT_CONFIG_LEVEL_GLOBAL, global), (GIT_CONFIG_LEVEL_XDG, xdg),
            (GIT_CONFIG_LEVEL_SYSTEM, system),
        ]
        for (level, path) in levels {
            guard let path else { continue }
            try check(
                exp_git_set_search_path(level.rawValue, path),
                "could not set the git config search path to \(path)")
        }
    }
}
