import ExpTestSupport
import Foundation
import Testing

@Suite("exp checkout and exp rerun (binary)")
struct CheckoutCommandTests {
    /// A repository with one commit and a run recorded over a dirty tree.
    func repoWithRun() throws -> TestRepo {
        let repo = try TestRepo(fixture: "dirty-tree", exp: builtExp)
        let result = try repo.runExp(["run", "--name", "r1", "--", "true"])
        #expect(result.status == 0, "\(result.stderr)")
        return repo
    }

    @Test func refusesOverLocalWorkThenForceSavesAndRestores() throws {
        let repo = try repoWithRun()
        let status = try repo.git(["status", "--porcelain"])
        try repo.write("train.py", "print('v3')\n")
        try repo.write("mine.txt", "mine\n")
        let changed = try repo.git(["status", "--porcelain"])
        let before = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")

        let refused = try repo.runExp(["checkout", "r1"])
        #expect(refused.status == 1)
        #expect(refused.stdout == "")
        #expect(refused.stderr.hasPrefix("exp: error: checking out r1 would change 2 paths with uncommitted work:\n"))
        #expect(refused.stderr.contains("  mine.txt\n  train.py\n"))
        #expect(
            refused.stderr.hasSuffix(
                "hint: use --force to save your current state first (exp checkout autosave-… brings it back)\n"))
        #expect(try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git").differences(from: before) == [])

        let forced = try repo.runExp(["checkout", "r1", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try repo.git(["status", "--porcelain"]) == status)
        #expect(try repo.read("train.py") == "print('v2')\n")
        #expect(!FileManager.default.fileExists(atPath: repo.root + "/mine.txt"))
        let saved = try #require(
            forced.stderr.split(separator: "\n").first { $0.hasPrefix("exp: saved your current state as ") })
        let name = String(saved.split(separator: " ").last ?? "")
        #expect(name.hasPrefix("autosave-"))
        #expect(forced.stderr.contains("exp checkout \(name)"))
        #expect(
            try repo.git(["for-each-ref", "--format=%(refname)", "refs/exp/autosave/"]).hasPrefix("refs/exp/autosave/"))

        let listed = try repo.runExp(["list", "--autosaves"])
        #expect(listed.stdout.contains(name))
        #expect(!(try repo.runExp(["list"]).stdout.contains(name)))
        // An autosave is shown by name; `latest` still means the latest run.
        #expect(try repo.runExp(["show", name]).stdout.contains("autosave"))
        #expect(try repo.runExp(["show", "latest"]).stdout.contains("r1"))

        let back = try repo.runExp(["checkout", name, "--force"])
        #expect(back.status == 0, "\(back.stderr)")
        #expect(try repo.git(["status", "--porcelain"]) == changed)
        #expect(try repo.read("train.py") == "print('v3')\n")
        #expect(try repo.read("mine.txt") == "mine\n")
    }

    @Test func checkoutOfAPathAndIntoAFolder() throws {
        let repo = try repoWithRun()
        try repo.git(["checkout", "-q", "--", "."])
        try repo.git(["clean", "-qfd"])
        let onlyPath = try repo.runExp(["checkout", "r1", "--", "train.py"])
        #expect(onlyPath.status == 0, "\(onlyPath.stderr)")
        #expect(try repo.read("train.py") == "print('v2')\n")
        #expect(try repo.read("old.txt") == "old\n")

        let folder = repo.folder.path + "/copy"
        let into = try repo.runExp(["checkout", "r1", "--into", folder, "--branch", "retry"])
        #expect(into.status == 0, "\(into.stderr)")
        #expect(try repo.gitLine(["symbolic-ref", "HEAD"], in: folder) == "refs/heads/retry")
        #expect(try String(contentsOfFile: folder + "/train.py", encoding: .utf8) == "print('v2')\n")
        #expect(!FileManager.default.fileExists(atPath: folder + "/old.txt"))
        #expect(try repo.gitLine(["symbolic-ref", "HEAD"]) == "refs/heads/main")
    }

    @Test func refusesDuringABisect() throws {
        let repo = try repoWithRun()
        try repo.git(["bisect", "start"])
        let result = try repo.runExp(["checkout", "r1", "--force"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("exp: error: a bisect is in progress"))
    }

    @Test func rerunRecordsANewRunAndRemovesItsWorktree() throws {
        let repo = try TestRepo()
        try repo.write("train.py", "print('loss: 0.5')\n")
        try repo.commitAll("init")
        #expect(try repo.runExp(["run", "--name", "first", "--", "python3", "train.py"]).status == 0)
        try repo.write("train.py", "print('loss: 9')\n")
        let result = try repo.runExp(["rerun", "first"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("loss: 0.5"))
        let refs = try runRefs(repo)
        #expect(refs.count == 2)
        let reproduced = try refs.map { try runJSON(repo, $0) }.filter { $0["reproduces"] != nil }
        #expect(reproduced.count == 1)
        #expect(try repo.git(["worktree", "list"]).split(separator: "\n").count == 1)
        #expect(try repo.read("train.py") == "print('loss: 9')\n")
    }
}
