public import ExpGit
import Foundation

/// The user's repository as exp sees it: the git repository found from the context's
/// working folder, and the `exp.*` settings that apply to it.
public final class Workspace {
    public let repository: Repository
    public let context: ExpContext
    /// `exp.*` settings: git config files first, then the versioned `.expconfig` at the root
    /// for what `sharedFileRules` lets it decide.
    public let config: ConfigReader

    /// Opens the repository containing `context.workingDirectory`.
    ///
    /// Throws an `ExpError` outside a repository and in a bare repository.
    public init(context: ExpContext) throws {
        self.context = context
        try Self.applyConfigSearchPaths(context.environment)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: context.workingDirectory, isDirectory: &isFolder),
            isFolder.boolValue
        else {
            throw ExpError(
                .notFound, "no such folder: \(context.workingDirectory)", hint: "check the folder's path",
                reason: .noSuchFolder(path: context.workingDirectory))
        }
        do {
            self.repository = try Repository.discover(from: context.workingDirectory)
        } catch let error where error.isNotFound {
            throw ExpError(
                .notFound, "not a git repository (or any parent folder): \(context.workingDirectory)",
                hint: "work inside a git repository, or create one with `git init`",
                reason: .notARepository(path: context.workingDirectory))
        } catch let error where error.isBareRepository {
            throw ExpError(
                .conflict, error.operation,
                hint: "exp records runs of a working tree; clone the repository and work in the clone",
                reason: .bareRepository(path: context.workingDirectory))
        } catch {
            throw ExpError(error)
        }
        let notices = context.notices
        self.config = ConfigReader(
            repository: repository, fallbackPath: repository.workingDirectory + "/.expconfig",
            sharedFileRules: Self.sharedFileRules,
            onIgnored: { ignored in
                var limit: Int64?
                if case .sizeAtMost(let most) = ignored.rule { limit = most }
                notices.record(
                    IgnoredSharedSetting(
                        key: ignored.key, values: ignored.values, file: ignored.file, sharedLimit: limit))
            })
    }

    /// Settings the shared `.expconfig` (committed with the code, so written by whoever
    /// wrote the code, a pulled branch included) may not decide, because they widen what exp
    /// records or sends: environment variables recorded, runs pushed, patterns matched over
    /// the command's output, where artifacts are copied, which global excludes apply; and
    /// the size limits, which it may lower but not raise. The user's own git config (system,
    /// global, local, worktree) may set them all.
    public static let sharedFileRules: [String: SharedFileRule] = [
        "exp.env": .userOnly,
        "exp.autopush": .userOnly,
        "exp.outputPattern": .userOnly,
        "exp.artifactRemote": .userOnly,
        "core.excludesFile": .userOnly,
        "exp.maxFileSize": .sizeAtMost(SnapshotPolicy.defaultMaxFileSize),
        "exp.maxLogSize": .sizeAtMost(RunStore.defaultMaxLogSize),
    ]

    /// The worktree root with symlinks resolved.
    public var resolvedRoot: String {
        URL(fileURLWithPath: repository.workingDirectory).resolvingSymlinksInPath().path
    }

    /// The context's folder with symlinks resolved.
    var resolvedWorkingDirectory: String {
        URL(fileURLWithPath: context.workingDirectory).resolvingSymlinksInPath().path
    }

    /// The context's folder relative to the worktree root (`.` at the root, or outside it).
    public func relativeWorkingDirectory() -> String {
        let root = resolvedRoot
        let here = resolvedWorkingDirectory
        if here.hasPrefix(root + "/") { return String(here.dropFirst(root.count + 1)) }
        return "."
    }

    /// Folder for exp's local, never-pushed state: `<git common dir>/exp`.
    public var stateDirectory: String { repository.commonDirectory + "/exp" }

    /// Tells libgit2 where the global and system git config live, honouring the same
    /// variables as git (`HOME`, `XDG_CONFIG_HOME`, `GIT_CONFIG_GLOBAL`, `GIT_CONFIG_NOSYSTEM`),
    /// so exp and the git CLI agree on settings such as `core.excludesFile`.
    static func applyConfigSearchPaths(_ environment: [String: String]) throws {
        var paths = ConfigSearchPaths()
        // An empty folder name that cannot exist: libgit2 finds no file there.
        let nowhere = "/nonexistent/exp-no-config"
        if let home = environment["HOME"] { paths.global = home }
        if let xdg = environment["XDG_CONFIG_HOME"] {
            paths.xdg = xdg + "/git"
        } else if let home = environment["HOME"] {
            paths.xdg = home + "/.config/git"
        }
        if let global = environment["GIT_CONFIG_GLOBAL"] {
            // libgit2 only looks for a file named `.gitconfig` in the global folder.
            let url = URL(fileURLWithPath: global)
            paths.global = url.lastPathComponent == ".gitconfig" ? url.deletingLastPathComponent().path : nowhere
            paths.xdg = nowhere
        }
        if let noSystem = environment["GIT_CONFIG_NOSYSTEM"], !["", "0", "false", "no"].contains(noSystem) {
            paths.system = nowhere
        }
        try SearchPathCache.shared.apply(paths)
    }

    /// The identity for commits exp writes: `user.name`/`user.email` from git config, else
    /// the context's user at the context's host (`EXP_USER`, `EXP_HOST` or the system's).
    public func committer() throws -> Signature {
        // Identity comes from the user's own git config only, never from a shared .expconfig.
        let name = try translatingGitErrors { try config.string("user.name", includeFallback: false) }
        let email = try translatingGitErrors { try config.string("user.email", includeFallback: false) }
        let user = context.user
        let host = context.host
        let date = context.now()
        return Signature(
            name: name ?? user, email: email ?? "\(user)@\(host)",
            time: Int64(date.timeIntervalSince1970.rounded(.down)), offsetMinutes: 0)
    }
}

/// Applies libgit2's process-wide config search paths only when they change, so opening
/// workspaces from several threads never rewrites them under another thread's feet.
final class SearchPathCache: @unchecked Sendable {
    static let shared = SearchPathCache()
    private let lock = NSLock()
    private var applied: ConfigSearchPaths?

    func apply(_ paths: ConfigSearchPaths) throws {
        lock.lock()
        defer { lock.unlock() }
        guard applied != paths else { return }
        do { try paths.apply() } catch { throw ExpError(error) }
        applied = paths
    }
}
