import ExpTestSupport
import Foundation
import Testing

@Suite("Sharing runs: pre-push autopush, exp push, exp pull (binary)")
struct ShareTests {
    /// A repository with hooks, a bare remote `origin`, and a run on uncommitted code.
    func setUp() throws -> (repo: TestRepo, remote: String) {
        let repo = try repoWithHooks()
        try repo.runFixture("with-bare-remote", exp: builtExp)
        let remote = repo.folder.path + "/remote.git"
        try repo.write("train.py", "print('v2')\n")
        try repo.write("data.cfg", "lr = 0.01\n")
        try repo.runWithLoss("shared", "0.25")
        return (repo, remote)
    }

    func remoteRefs(_ repo: TestRepo, _ remote: String) throws -> [String] {
        try repo.git(["--git-dir", remote, "for-each-ref", "--format=%(refname)"]).split(separator: "\n").map(
            String.init)
    }

    @Test func autopushCarriesTheRunsAndPullBringsThemToAnotherClone() throws {
        let (repo, remote) = try setUp()
        try repo.git(["config", "exp.autopush", "true"])
        try repo.runWithLoss("dirty-again", "0.3")  // base is HEAD too: goes with the push
        let snapshotTree = try repo.gitLine(["rev-parse", "\(try #require(runRefs(repo).first))^^{tree}"])
        try repo.commitWithHooks("v2")
        let push = try repo.gitWithHooks(["push", "-q", "origin", "main"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stderr.contains("exp: pushed 2 runs to origin"))
        let refs = try remoteRefs(repo, remote)
        #expect(refs.filter { $0.hasPrefix("refs/exp/runs/") }.sorted() == (try runRefs(repo)).sorted())
        #expect(refs.contains("refs/tags/exp/shared"))
        #expect(refs.contains("refs/heads/main"))

        // A second clone, another user.
        let clone = try TestRepo(initialize: false)
        try clone.git(["clone", "-q", remote, clone.root], in: clone.folder.path)
        let other = ["EXP_USER": "colleague"]
        #expect(try clone.runExp(["run", "--name", "mine", "--", "true"], env: other).status == 0)
        let pull = try clone.runExp(["pull"], env: other)
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(pull.stderr.contains("exp: pulled 2 new runs from origin"))
        let list = try clone.runExp(["list"], env: other)
        #expect(list.stdout.contains(" USER "))
        let sharedLine = try #require(list.stdout.split(separator: "\n").first { $0.hasPrefix("shared ") })
        #expect(sharedLine.contains(" tester "))
        #expect(list.stdout.split(separator: "\n").first { $0.hasPrefix("mine ") }?.contains(" colleague ") == true)
        #expect(try clone.gitLine(["tag", "-l", "exp/*"]).contains("exp/shared"))

        // exp checkout restores the code the run ran with.
        try clone.git(["reset", "-q", "--hard", "HEAD~1"])
        let checkout = try clone.runExp(["checkout", "shared"], env: other)
        #expect(checkout.status == 0, "\(checkout.stderr)")
        #expect(try clone.read("train.py") == "print('v2')\n")
        #expect(try clone.read("data.cfg") == "lr = 0.01\n")
        #expect(try clone.gitAddAllOracle() == snapshotTree)
    }

    @Test func aRejectedRunsPushNeverFailsTheUsersPush() throws {
        let (repo, remote) = try setUp()
        try repo.git(["config", "exp.autopush", "true"])
        try repo.commitWithHooks("v2")
        // The remote refuses exp's refs.
        let hook = remote + "/hooks/pre-receive"
        try "#!/bin/sh\nif grep -q refs/exp/; then echo 'no runs here' >&2; exit 1; fi\n".write(
            toFile: hook, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: hook)
        let push = try repo.gitWithHooks(["push", "-q", "origin", "main"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stderr.contains("exp: not pushed: "))
        let refs = try remoteRefs(repo, remote)
        #expect(refs == ["refs/heads/main"])
    }

    @Test func withoutAutopushNothingButTheBranchGoes() throws {
        let (repo, remote) = try setUp()
        try repo.commitWithHooks("v2")
        let push = try repo.gitWithHooks(["push", "-q", "origin", "main"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(try remoteRefs(repo, remote) == ["refs/heads/main"])
    }

    @Test func explicitPushThenUpdatesArriveAsFastForwards() throws {
        let (repo, remote) = try setUp()
        let push = try repo.runExp(["push"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(push.stderr.contains("exp: pushed 1 runs to origin"))
        #expect(try repo.runExp(["push", "origin", "shared"]).stderr.contains("(1 already there)"))

        let clone = try TestRepo(initialize: false)
        try clone.git(["init", "-q", "-b", "main", clone.root], in: clone.folder.path)
        try clone.git(["remote", "add", "origin", remote])
        #expect(try clone.runExp(["pull"]).stderr.contains("pulled 1 new runs"))

        // Committing the run's code links it (a new record, a fast-forward): pushed and pulled again.
        try repo.commitWithHooks("v2")
        #expect(try repo.runExp(["push"]).status == 0)
        let again = try clone.runExp(["pull"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stderr.contains("exp: pulled 0 new runs from origin, 1 updated, 1 tags"))
        let show = try clone.runExp(["show", "shared", "--json"])
        #expect(show.stdout.contains(try repo.gitLine(["rev-parse", "HEAD"])))
    }

    @Test func pullKeepsARecordThatDiffersHere() throws {
        let (repo, remote) = try setUp()
        #expect(try repo.runExp(["push"]).status == 0)
        let clone = try TestRepo(initialize: false)
        try clone.git(["clone", "-q", remote, clone.root], in: clone.folder.path)
        #expect(try clone.runExp(["pull"]).status == 0)
        let runRef = try #require(try runRefs(repo).first)
        // Both sides record a different commit for the run: the histories of its record diverge.
        try repo.commitWithHooks("v2 here")
        #expect(try repo.runExp(["push"]).status == 0)
        try clone.write("train.py", "print('v2')\n")
        try clone.write("data.cfg", "lr = 0.01\n")
        try clone.installHooks()
        try clone.commitWithHooks("v2 there")
        let local = try clone.gitLine(["rev-parse", runRef])
        let pull = try clone.runExp(["pull"])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(pull.stderr.contains("exp: kept the local version: "))
        #expect(try clone.gitLine(["rev-parse", runRef]) == local)
    }
}
