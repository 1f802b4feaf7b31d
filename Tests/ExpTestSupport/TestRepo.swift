import ExpCore
import Foundation

/// A fresh folder under the system temp folder, deleted when the value goes away.
public final class TemporaryFolder: @unchecked Sendable {
    public let path: String

    public init(prefix: String = "exp-test") {
        var template = Array((NSTemporaryDirectory() + "/\(prefix)-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = made.map { String(cString: $0) } ?? NSTemporaryDirectory() + "/\(prefix)-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        // Make read-only folders writable again so they can be removed.
        _ = try? runProcess(["chmod", "-R", "u+rwx", path], in: "/", environment: ["PATH": "/usr/bin:/bin"])
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// A git repository in a temp folder, driven with the real git CLI in a hermetic
/// environment (no system or global config, fixed identity and dates).
public final class TestRepo: @unchecked Sendable {
    public let folder: TemporaryFolder
    /// The worktree root.
    public let root: String
    /// Environment for git and exp: HOME inside the temp folder, no user config.
    public let environment: [String: String]

    /// Creates and `git init`s a repository (branch `main`) unless `initialize` is false.
    /// `extraEnvironment` is added to the hermetic environment of everything run in it.
    public init(initialize: Bool = true, bare: Bool = false, extraEnvironment: [String: String] = [:]) throws {
        folder = TemporaryFolder()
        root = folder.path + "/repo"
        let home = folder.path + "/home"
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        environment = TestRepo.hermeticEnvironment(home: home).merging(extraEnvironment) { $1 }
        if initialize {
            try git(bare ? ["init", "-q", "--bare", "-b", "main"] : ["init", "-q", "-b", "main"])
        }
    }

    /// The environment every test process gets: only PATH survives from the outside. The
    /// clock (`EXP_NOW`), host (`EXP_HOST`) and user (`EXP_USER`) exp records are fixed, so
    /// records and output hold no byte of the machine the tests run on (`EXP_SEED`, for
    /// reproducible run ids and names, is left to the tests that want it: see
    /// `TestRepo.reproducible`).
    public static func hermeticEnvironment(home: String) -> [String: String] {
        [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "HOME": home,
            "XDG_CONFIG_HOME": home + "/.config",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "author@example.com",
            "GIT_COMMITTER_NAME": "Test Committer",
            "GIT_COMMITTER_EMAIL": "committer@example.com",
            "GIT_AUTHOR_DATE": "2026-01-02T03:04:05Z",
            "GIT_COMMITTER_DATE": "2026-01-02T03:04:05Z",
            "EXP_NOW": "2026-01-02T03:04:05Z",
            "USER": "tester",
            "EXP_USER": "tester",
            "EXP_HOST": "testhost",
            "LANG": "C.UTF-8",
        ]
    }

    /// Runs git in the worktree (or `directory`) and returns stdout; throws when git fails.
    @discardableResult
    public func git(_ args: [String], in directory: String? = nil, env extra: [String: String] = [:]) throws
        -> String
    {
        let result = try runProcess(
            ["git"] + args, in: directory ?? root, environment: environment.merging(extra) { $1 })
        guard result.status == 0 else { throw CommandFailed(command: ["git"] + args, result: result) }
        return result.stdout
    }

    /// git's output without the trailing newline.
    public func gitLine(_ args: [String], in directory: String? = nil, env: [String: String] = [:]) throws
        -> String
    {
        var text = try git(args, in: directory, env: env)
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Writes `content` to `path` (relative to the worktree), creating folders.
    public func write(_ path: String, _ content: String) throws {
        try write(path, Data(content.utf8))
    }

    public func write(_ path: String, _ data: Data) throws {
        let url = URL(fileURLWithPath: root + "/" + path)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    public func read(_ path: String) throws -> String {
        try String(contentsOfFile: root + "/" + path, encoding: .utf8)
    }

    public func remove(_ path: String) throws {
        try FileManager.default.removeItem(atPath: root + "/" + path)
    }

    public func chmod(_ path: String, _ mode: Int) throws {
        try FileManager.default.setAttributes(
            [.posixPermissions: mode], ofItemAtPath: root + "/" + path)
    }

    public func symlink(_ path: String, to target: String) throws {
        let url = URL(fileURLWithPath: root + "/" + path)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: target)
    }

    /// `git add -A && git commit -m message`; returns the new commit id.
    @discardableResult
    public func commitAll(_ message: String = "commit") throws -> String {
        try git(["add", "-A"])
        try git(["commit", "-q", "--allow-empty", "-m", message])
        return try gitLine(["rev-parse", "HEAD"])
    }

    /// The oracle: the tree `git add -A && git write-tree` gives, computed on a copy of the
    /// index so the repository itself is untouched. `excluding` adds `:!path` pathspecs.
    public func gitAddAllTree(excluding: [String] = [], in directory: String? = nil) throws -> String {
        let gitDir = try gitLine(["rev-parse", "--absolute-git-dir"], in: directory)
        let scratch = folder.path + "/oracle-index-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        if FileManager.default.fileExists(atPath: gitDir + "/index") {
            // Keep the index's modification time: git judges racily clean entries by it, and
            // a fresh copy would make it trust entries edited in the same second.
            try runProcess(["cp", "-p", gitDir + "/index", scratch], in: "/", environment: environment)
        }
        let env = ["GIT_INDEX_FILE": scratch]
        var args = ["add", "-A", "--", ":/"]
        args += excluding.map { ":(top,exclude,literal)\($0)" }
        try git(args, in: directory, env: env)
        return try gitLine(["write-tree"], in: directory, env: env)
    }

    /// An ExpCore context for this repository (hermetic environment, fixed clock).
    public func context(in directory: String? = nil) -> ExpContext {
        ExpContext(workingDirectory: directory ?? root, environment: environment)
    }
}
