import ExpTestSupport
import Foundation
import Testing

/// A repository with one commit and exp's hooks installed.
func repoWithHooks() throws -> TestRepo {
    try TestRepo(fixture: "hooks-installed", exp: builtExp)
}

extension TestRepo {
    /// `exp run --name NAME -- sh -c 'echo "loss: LOSS"'`, which must succeed.
    func runWithLoss(_ name: String, _ loss: String) throws {
        let result = try runExp(["run", "--name", name, "--", "sh", "-c", "echo 'loss: \(loss)'"])
        #expect(result.status == 0, "\(result.stderr)")
    }

    /// The exp/ tags with the commits they name: `exp/r1 <commit>`.
    func expTags() throws -> [String: String] {
        var tags: [String: String] = [:]
        for line in try git(["for-each-ref", "--format=%(refname:short) %(*objectname)", "refs/tags/exp/"])
            .split(separator: "\n")
        {
            let words = line.split(separator: " ")
            tags[String(words[0])] = String(words[1])
        }
        return tags
    }

    /// `git add -A && git commit` with the hooks running; returns the new HEAD.
    @discardableResult
    func commitWithHooks(_ message: String, extra: [String] = []) throws -> String {
        try git(["add", "-A"])
        let result = try gitWithHooks(["commit", "-q", "-m", message] + extra)
        #expect(result.status == 0, "\(result.stderr)")
        return try gitLine(["rev-parse", "HEAD"])
    }

    /// A run's `links.committed`.
    func committedLinks(_ name: String) throws -> [String] {
        let id = try #require(
            try git(["for-each-ref", "--format=%(refname)", "refs/exp/runs/"]).split(separator: "\n").first { ref in
                (try? runJSON(self, String(ref))["name"] as? String) == name
            })
        let links = try runJSON(self, String(id))["links"] as? [String: Any]
        return links?["committed"] as? [String] ?? []
    }
}

@Suite("Auto-tagging and trailers through git hooks (binary)")
struct AutoTagTests {
    @Test func dirtyTreeRunThenCommitGetsATagWithItsMetrics() throws {
        let repo = try repoWithHooks()
        try repo.write("train.py", "print('v2')\n")
        try repo.write("new.py", "x = 1\n")
        try repo.runWithLoss("r1", "0.25")
        let runRef = try #require(try runRefs(repo).first)
        let sealedRecord = try repo.gitLine(["rev-parse", runRef])
        let id = try #require(runJSON(repo, runRef)["id"] as? String)

        let commit = try repo.commitWithHooks("v2")
        #expect(try repo.expTags() == ["exp/r1": commit])
        let message = try repo.git(["tag", "-l", "--format=%(contents)", "exp/r1"])
        #expect(message.hasPrefix("exp run r1: succeeded\n\ncommand: sh -c 'echo '\\''loss: 0.25'\\'''\n"))
        #expect(message.contains("metrics:\n  loss 0.25 (min 0.25, max 0.25, 1 values)\n"))
        #expect(message.hasSuffix("\nExp-Run-Id: \(id)\n\n"))  // %(contents) adds a newline
        #expect(try repo.committedLinks("r1") == [commit])
        // The link is a new record on the same ref, a fast-forward of the sealed one.
        let parents = try repo.gitLine(["log", "-1", "--format=%P", runRef]).split(separator: " ").map(String.init)
        #expect(parents.count == 2 && parents[1] == sealedRecord)
        #expect(try repo.gitLine(["rev-parse", "\(runRef)^^{tree}"]) == repo.gitLine(["rev-parse", "HEAD^{tree}"]))
        // The commit message names the run in a trailer.
        let body = try repo.git(["log", "-1", "--format=%B"])
        #expect(body == "v2\n\nExp-Run: r1 \(id.prefix(10)) loss=0.25\n\n")
        #expect(try repo.gitLine(["log", "-1", "--format=%(trailers:key=Exp-Run,valueonly)"]).hasPrefix("r1 "))
        // A later commit with other code tags nothing more.
        try repo.write("other.py", "y = 2\n")
        try repo.commitWithHooks("other")
        #expect(try repo.expTags().count == 1)
        #expect(try repo.git(["fsck", "--strict", "--no-dangling"]).isEmpty)
    }

    @Test func cleanTreeRunIsTaggedAtHeadWhenSealed() throws {
        let repo = try repoWithHooks()
        let head = try repo.gitLine(["rev-parse", "HEAD"])
        try repo.runWithLoss("clean", "0.5")
        #expect(try repo.expTags() == ["exp/clean": head])
        #expect(try repo.committedLinks("clean") == [head])
    }

    @Test func cleanTreeRunIsTaggedWithAutotagSetAndHooksNotInstalled() throws {
        let repo = try TestRepo()
        try repo.write("train.py", "print('v1')\n")
        let head = try repo.commitAll("init")
        try repo.runWithLoss("untagged", "0.5")
        #expect(try repo.expTags().isEmpty, "neither hooks nor exp.autotag: no tag")
        try repo.git(["config", "exp.autotag", "all"])
        try repo.runWithLoss("tagged", "0.5")
        #expect(try repo.expTags() == ["exp/tagged": head])
        try repo.git(["config", "exp.autotag", "none"])
        try repo.runWithLoss("off", "0.5")
        #expect(try repo.expTags() == ["exp/tagged": head])
    }

    @Test func autotagMinLossTagsOnlyTheLowestLoss() throws {
        let repo = try repoWithHooks()
        try repo.git(["config", "exp.autotag", "min:loss"])
        try repo.write("train.py", "print('v2')\n")
        try repo.runWithLoss("high", "0.9")
        try repo.runWithLoss("low", "0.1")
        try repo.runWithLoss("mid", "0.5")
        let commit = try repo.commitWithHooks("v2")
        #expect(try repo.expTags() == ["exp/low": commit])
        #expect(try repo.committedLinks("low") == [commit])
        #expect(try repo.committedLinks("high").isEmpty)
        // Trailers list every run, best first.
        let trailers = try repo.git(["log", "-1", "--format=%(trailers:key=Exp-Run,valueonly)"])
        let names = trailers.split(separator: "\n").map { $0.split(separator: " ")[0] }
        #expect(names == ["low", "mid", "high"])
    }

    @Test func autotagMinLossOnACleanTreeKeepsTheTagOnTheBestSoFar() throws {
        let repo = try repoWithHooks()
        try repo.git(["config", "exp.autotag", "min:loss"])
        let head = try repo.gitLine(["rev-parse", "HEAD"])
        try repo.runWithLoss("first", "0.5")
        #expect(try repo.expTags() == ["exp/first": head])
        try repo.runWithLoss("better", "0.2")
        try repo.runWithLoss("worse", "0.4")
        #expect(try repo.expTags() == ["exp/better": head])
        #expect(try repo.committedLinks("first").isEmpty)
        #expect(try repo.committedLinks("better") == [head])
    }

    @Test func amendMovesTheTagAndTakenNamesGetASuffix() throws {
        let repo = try repoWithHooks()
        try repo.git(["tag", "-a", "-m", "mine", "exp/taken", "HEAD"])
        let mine = try repo.gitLine(["rev-parse", "exp/taken"])
        try repo.write("train.py", "print('v2')\n")
        try repo.runWithLoss("taken", "0.3")
        let first = try repo.commitWithHooks("v2")
        #expect(try repo.expTags()["exp/taken-2"] == first)
        let amended = try repo.commitWithHooks("v2, better message", extra: ["--amend"])
        #expect(amended != first)
        #expect(try repo.expTags() == ["exp/taken": repo.gitLine(["rev-parse", "HEAD~1"]), "exp/taken-2": amended])
        #expect(try repo.gitLine(["rev-parse", "exp/taken"]) == mine, "a tag that is not exp's never moves")
        #expect(try repo.committedLinks("taken") == [amended])
        // The amended message keeps one trailer, not two.
        let body = try repo.git(["log", "-1", "--format=%B"])
        #expect(body.components(separatedBy: "Exp-Run:").count == 2)
    }

    @Test func trailersAreCappedAndSkippedForMergesWhenPresentOrTurnedOff() throws {
        let repo = try repoWithHooks()
        try repo.write("train.py", "print('v2')\n")
        for index in 1...7 { try repo.runWithLoss("run\(index)", "0.\(index)") }
        try repo.git(["add", "-A"])
        let message = "Subject\n\n# comment\n"
        func hook(_ args: [String]) throws -> String {
            try repo.write(".git/MSG", message)
            let result = try repo.runExp(["hook", "prepare-commit-msg", ".git/MSG"] + args)
            #expect(result.status == 0, "\(result.stderr)")
            return try repo.read(".git/MSG")
        }
        let capped = try hook(["message"])
        let lines = capped.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.filter { $0.hasPrefix("Exp-Run: ") }.count == 6)
        #expect(capped.contains("Exp-Run: … and 2 more\n\n# comment\n"))
        #expect(capped.hasPrefix("Subject\n\nExp-Run: run"))
        #expect(try hook(["merge"]) == message)
        try repo.write(".git/MSG", "Subject\n\nExp-Run: someone else\n")
        try repo.runExp(["hook", "prepare-commit-msg", ".git/MSG", "message"])
        #expect(try repo.read(".git/MSG") == "Subject\n\nExp-Run: someone else\n")
        try repo.git(["config", "exp.trailers", "false"])
        #expect(try hook(["message"]) == message)
    }

    @Test func aRealMergeGetsNoTrailers() throws {
        let repo = try repoWithHooks()
        try repo.git(["checkout", "-q", "-b", "side"])
        try repo.write("side.py", "s = 1\n")
        try repo.commitAll("side")
        try repo.git(["checkout", "-q", "main"])
        try repo.write("main.py", "m = 1\n")
        try repo.commitAll("main")
        // A run made with exactly the merged code.
        try repo.write("side.py", "s = 1\n")
        try repo.runWithLoss("merged", "0.1")
        try repo.remove("side.py")
        let merge = try repo.gitWithHooks(["merge", "-q", "--no-ff", "-m", "merge side", "side"])
        #expect(merge.status == 0, "\(merge.stderr)")
        #expect(try repo.git(["log", "-1", "--format=%B"]) == "merge side\n\n")
        // git runs post-merge, not post-commit, for a merge: exp does not tag merges.
        #expect(try repo.expTags().isEmpty)
    }
}

@Suite("post-rewrite after a rebase (binary)")
struct RebaseTagTests {
    @Test func rebaseMovesExpTagsAndSaysWhenTheCodeDiffers() throws {
        let repo = try repoWithHooks()
        try repo.git(["checkout", "-q", "-b", "feature"])
        try repo.write("feature.py", "f = 1\n")
        try repo.runWithLoss("feat", "0.4")
        let before = try repo.commitWithHooks("feature")
        #expect(try repo.expTags() == ["exp/feat": before])
        try repo.git(["checkout", "-q", "main"])
        try repo.write("other.py", "o = 1\n")
        try repo.commitAll("main moves on")
        try repo.git(["checkout", "-q", "feature"])
        let rebase = try repo.gitWithHooks(["rebase", "-q", "main"])
        #expect(rebase.status == 0, "\(rebase.stderr)")
        let after = try repo.gitLine(["rev-parse", "HEAD"])
        #expect(after != before)
        #expect(try repo.expTags() == ["exp/feat": after])
        #expect(try repo.committedLinks("feat") == [after])
        let message = try repo.git(["tag", "-l", "--format=%(contents)", "exp/feat"])
        #expect(message.contains("moved from \(before.prefix(7)) by rebase; this commit's code differs from the run's"))
    }
}
