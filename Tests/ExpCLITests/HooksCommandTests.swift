import ExpCore
import ExpTestSupport
import Foundation
import Testing

extension TestRepo {
    /// Environment for git commands whose hooks must find the built exp first on PATH.
    var withExpOnPath: [String: String] {
        let folder = URL(fileURLWithPath: builtExp).deletingLastPathComponent().path
        return ["PATH": folder + ":" + (environment["PATH"] ?? "/usr/bin:/bin")]
    }

    /// git with the built exp on PATH, so installed hooks run it; returns the whole result.
    @discardableResult
    func gitWithHooks(_ args: [String], in directory: String? = nil, stdin: String? = nil) throws -> ProcessResult {
        try runProcess(
            ["git"] + args, in: directory ?? root, environment: environment.merging(withExpOnPath) { $1 }, stdin: stdin)
    }

    /// `exp hooks install`, which must succeed.
    func installHooks(in directory: String? = nil) throws {
        let result = try runExp(["hooks", "install"], in: directory)
        #expect(result.status == 0, "\(result.stderr)")
    }
}

/// Every file under `folder` with its bytes and mode, to compare before and after.
func folderState(_ folder: String) throws -> [String: String] {
    var state: [String: String] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
        let path = folder + "/" + name
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let mode = (attributes[.posixPermissions] as? Int).map { String($0, radix: 8) } ?? "?"
        let bytes = FileManager.default.contents(atPath: path) ?? Data()
        state[name] = mode + " " + bytes.base64EncodedString()
    }
    return state
}

@Suite("exp hooks install, uninstall, status (binary)")
struct HooksCommandTests {
    @Test func scriptsInTheSourceTreeAreWhatInstallWrites() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("hooks")
        for name in HookScript.names {
            let url = folder.appendingPathComponent(name)
            if Golden.recording {
                try Data(HookScript.text(for: name).utf8).write(to: url)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
            }
            #expect(try String(contentsOf: url, encoding: .utf8) == HookScript.text(for: name), "hooks/\(name)")
            #expect(FileManager.default.isExecutableFile(atPath: url.path), "hooks/\(name) is executable")
        }
    }

    @Test func installIntoAPlainRepositoryIsIdempotentAndUninstallRemoves() throws {
        let repo = try TestRepo()
        let hooks = try repo.gitLine(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        let before = try folderState(hooks)
        try repo.installHooks()
        for name in HookScript.names {
            #expect(FileManager.default.isExecutableFile(atPath: hooks + "/" + name))
        }
        let installed = try folderState(hooks)
        let again = try repo.runExp(["hooks", "install"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already installed"))
        #expect(try folderState(hooks) == installed)
        let status = try repo.runExp(["hooks", "status"])
        #expect(status.stdout.hasPrefix("hooks folder: \(hooks)\n"))
        #expect(status.stdout.contains("  post-commit         installed\n"))
        try repo.runExp(["hooks", "uninstall"])
        #expect(try folderState(hooks) == before)
        #expect(try repo.runExp(["hooks", "status"]).stdout.contains("  post-commit         not installed\n"))
    }

    @Test func installHonoursCoreHooksPath() throws {
        let repo = try TestRepo()
        try repo.git(["config", "core.hooksPath", "githooks"])
        let hooks = try repo.gitLine(["rev-parse", "--path-format=absolute", "--git-path", "hooks"])
        #expect(hooks == (repo.root + "/githooks").replacingOccurrences(of: "//", with: "/"))
        try repo.installHooks()
        #expect(FileManager.default.isExecutableFile(atPath: hooks + "/post-commit"))
        #expect(!FileManager.default.fileExists(atPath: repo.root + "/.git/hooks/post-commit"))
        let status = try repo.runExp(["hooks", "status"])
        #expect(status.stdout.hasPrefix("hooks folder: \(hooks) (core.hooksPath)\n"))
        // The hook really runs: a run on the committed code gets tagged.
        try repo.write("a.txt", "a\n")
        #expect(try repo.runExp(["run", "--name", "viapath", "--", "true"]).status == 0)
        try repo.git(["add", "-A"])
        #expect(try repo.gitWithHooks(["commit", "-q", "-m", "a"]).status == 0)
        #expect(try repo.gitLine(["tag", "-l", "exp/*"]) == "exp/viapath")
    }

    @Test func existingHooksKeepRunningAndFailingAndComeBackByteForByte() throws {
        let repo = try TestRepo()
        let hooks = repo.root + "/.git/hooks"
        // A user's prepare-commit-msg that fails the commit when FAIL is set, and a post-commit
        // that leaves a trace; a pre-commit exp does not touch.
        try repo.write(
            ".git/hooks/prepare-commit-msg",
            "#!/bin/sh\necho \"user hook $# $2\" >> \"$(git rev-parse --git-dir)/user-trace\"\n[ -z \"$FAIL\" ]\n")
        try repo.chmod(".git/hooks/prepare-commit-msg", 0o755)
        try repo.write(".git/hooks/post-commit", "#!/bin/sh\necho post >> \"$(git rev-parse --git-dir)/user-trace\"\n")
        try repo.chmod(".git/hooks/post-commit", 0o700)
        try repo.write(".git/hooks/pre-push", "#!/bin/sh\nexit 0\n")  // not executable: git skips it
        try repo.chmod(".git/hooks/pre-push", 0o644)
        let before = try folderState(hooks)

        let install = try repo.runExp(["hooks", "install"])
        #expect(install.status == 0, "\(install.stderr)")
        #expect(install.stdout.contains("your hook runs first"))
        #expect(try repo.runExp(["hooks", "status"]).stdout.contains("runs your earlier hook first"))

        try repo.write("a.txt", "a\n")
        try repo.git(["add", "-A"])
        var env = repo.withExpOnPath
        env["FAIL"] = "1"
        let failed = try runProcess(
            ["git", "commit", "-q", "-m", "a"], in: repo.root, environment: repo.environment.merging(env) { $1 })
        #expect(failed.status != 0, "a failing prepare-commit-msg still fails the commit")
        #expect(try repo.git(["rev-list", "--all"]).isEmpty)
        let committed = try repo.gitWithHooks(["commit", "-q", "-m", "a"])
        #expect(committed.status == 0, "\(committed.stderr)")
        #expect(try repo.read(".git/user-trace") == "user hook 2 message\nuser hook 2 message\npost\n")

        try repo.runExp(["hooks", "uninstall"])
        #expect(try folderState(hooks) == before)
    }

    @Test func linkedWorktreesShareTheCommonHooks() throws {
        let repo = try TestRepo()
        try repo.commitAll("init")
        let linked = repo.folder.path + "/linked"
        try repo.git(["worktree", "add", "-q", "-b", "side", linked])
        try repo.installHooks(in: linked)
        let hooks = try repo.gitLine(["rev-parse", "--path-format=absolute", "--git-path", "hooks"], in: linked)
        #expect(hooks == (repo.root + "/.git/hooks").replacingOccurrences(of: "//", with: "/"))
        #expect(FileManager.default.isExecutableFile(atPath: hooks + "/post-commit"))
        // A run in the linked worktree, committed there, is tagged there.
        try String("side\n").write(toFile: linked + "/side.txt", atomically: true, encoding: .utf8)
        #expect(try repo.runExp(["run", "--name", "inlinked", "--", "true"], in: linked).status == 0)
        try repo.git(["add", "-A"], in: linked)
        #expect(try repo.gitWithHooks(["commit", "-q", "-m", "side"], in: linked).status == 0)
        #expect(try repo.gitLine(["rev-parse", "exp/inlinked^{commit}"]) == repo.gitLine(["rev-parse", "side"]))
    }

    @Test func hooksWithoutExpOnPathWarnAndLetGitGoOn() throws {
        let repo = try TestRepo()
        try repo.installHooks()
        try repo.write("a.txt", "a\n")
        try repo.git(["add", "-A"])
        let result = try runProcess(
            ["git", "commit", "-q", "-m", "a"], in: repo.root,
            environment: repo.environment.merging(["PATH": "/usr/bin:/bin"]) { $1 })
        #expect(result.status == 0)
        #expect(result.stderr.contains("exp: exp is not on PATH; the post-commit hook did nothing"))
        #expect(try repo.gitLine(["log", "--format=%s"]) == "a")
    }

    @Test func runHintsOnceWhileHooksAreNotInstalled() throws {
        let repo = try TestRepo()
        let first = try repo.runExp(["run", "--", "true"])
        #expect(first.stderr.contains("hint: `exp hooks install`"))
        let second = try repo.runExp(["run", "--", "true"])
        #expect(!second.stderr.contains("exp hooks install"))
        let other = try TestRepo()
        try other.installHooks()
        #expect(!(try other.runExp(["run", "--", "true"]).stderr.contains("exp hooks install")))
    }
}
