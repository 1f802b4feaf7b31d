import ExpTestSupport
import Foundation
import Testing

/// Records a run named `name` whose command logs `metrics` (one JSON line) with `params` on
/// its command line.
private func recordRun(_ repo: TestRepo, _ name: String, metrics: String, params: [String]) throws {
    let script = "echo '\(metrics)' >> \"$EXP_METRICS_FILE\""
    let result = try repo.expLive(["run", "--name", name, "--", "sh", "-c", script] + params)
    #expect(result.status == 0, "\(result.stderr)")
}

/// The snapshot tree of the run named `name`, read with git.
private func runTree(_ repo: TestRepo, _ name: String) throws -> String {
    for ref in try runRefs(repo) {
        let json = try runJSON(repo, ref)
        if json["name"] as? String == name, let snapshot = json["snapshot"] as? [String: Any],
            let tree = snapshot["tree"] as? String
        {
            return tree
        }
    }
    throw HelperFailed(description: "no run named \(name)")
}

/// A repository with two runs: `one` on the first code, `two` after edits of every kind.
private func twoRuns() throws -> TestRepo {
    let repo = try makeRepo()
    try repo.write("src/model.py", (1...30).map { "layer_\($0) = \($0)\n" }.joined())
    try repo.write("src/old_name.py", (1...20).map { "keep_\($0)\n" }.joined())
    try repo.write("notes.txt", "gone soon\n")
    try repo.write("run.sh", "python3 train.py\n")
    try repo.write("weights.bin", Data([0, 1, 2, 3]))
    try repo.commitAll()
    try recordRun(
        repo, "one", metrics: #"{"step": 1, "loss": 0.5, "acc": 0.8}"#, params: ["--lr", "0.1", "--bs", "32"])
    try repo.write("src/model.py", (1...30).map { $0 == 12 ? "layer_12 = 99\n" : "layer_\($0) = \($0)\n" }.joined())
    try repo.remove("src/old_name.py")
    try repo.write("src/new_name.py", (1...20).map { "keep_\($0)\n" }.joined())
    try repo.remove("notes.txt")
    try repo.write("added.py", "print('new')\n")
    try repo.chmod("run.sh", 0o755)
    try repo.write("weights.bin", Data([0, 9, 9]))
    try repo.symlink("latest.bin", to: "weights.bin")
    try recordRun(
        repo, "two", metrics: #"{"step": 1, "loss": 0.25, "f1": 0.5}"#,
        params: ["--lr", "0.01", "--bs", "32", "--adam"])
    return repo
}

@Suite("exp diff")
struct DiffCommandTests {
    @Test func codeOfTwoRunsEqualsGitDiff() throws {
        let repo = try twoRuns()
        let a = try runTree(repo, "one")
        let b = try runTree(repo, "two")
        let env = ["COLUMNS": "100"]
        for (expArgs, gitArgs) in [
            ([], []), (["--stat"], ["--stat"]), (["--name-only"], ["--name-only"]),
            (["--", "src"], ["--", "src"]), (["--stat", "--", "*.py", "run.sh"], ["--stat", "--", "*.py", "run.sh"]),
        ] {
            let result = try repo.runExp(["diff", "one", "two", "--code"] + expArgs)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == (try repo.git(["diff", a, b] + gitArgs, env: env)), "exp diff \(expArgs)")
            let reverse = try repo.runExp(["diff", "two", "one", "--code"] + expArgs)
            #expect(reverse.stdout == (try repo.git(["diff", b, a] + gitArgs, env: env)), "reverse \(expArgs)")
        }
    }

    @Test func coreAbbrevSetsTheIdLengthAsInGit() throws {
        let repo = try twoRuns()
        try repo.git(["config", "core.abbrev", "12"])
        let a = try runTree(repo, "one")
        let b = try runTree(repo, "two")
        let result = try repo.runExp(["diff", "one", "two", "--code"])
        #expect(result.stdout == (try repo.git(["diff", a, b])))
        #expect(result.stdout.contains(try repo.gitLine(["rev-parse", "--short=12", "\(b):src/model.py"])))
    }

    @Test func pathspecsAreRelativeToTheFolderAsInGit() throws {
        let repo = try twoRuns()
        let a = try runTree(repo, "one")
        let b = try runTree(repo, "two")
        let inside = try repo.runExp(["diff", "one", "two", "--code", "--", "model.py"], in: repo.root + "/src")
        #expect(inside.status == 0, "\(inside.stderr)")
        #expect(inside.stdout == (try repo.git(["diff", a, b, "--", "model.py"], in: repo.root + "/src")))
        #expect(inside.stdout.contains("diff --git a/src/model.py b/src/model.py"))
    }

    @Test func runAgainstWorkingTreeEqualsGitDiffAndChangesNothing() throws {
        let repo = try twoRuns()
        try repo.write("src/model.py", "rewritten\n")
        try repo.write("untracked.txt", "not added yet\n")
        try repo.remove("added.py")
        let gitDir = repo.root + "/.git"
        let before = try RepoFingerprint(root: repo.root, gitDir: gitDir)
        let result = try repo.runExp(["diff", "one"])
        let stat = try repo.runExp(["diff", "one", "--stat", "--", "src"])
        let after = try RepoFingerprint(root: repo.root, gitDir: gitDir)
        #expect(before == after, "exp diff changed the repository: \(before.differences(from: after))")
        #expect(result.status == 0, "\(result.stderr)")
        let a = try runTree(repo, "one")
        let now = try repo.gitAddAllTree()
        #expect(result.stdout == (try repo.git(["diff", a, now])))
        #expect(stat.stdout == (try repo.git(["diff", "--stat", a, now, "--", "src"], env: ["COLUMNS": "100"])))
    }

    @Test func paramsAndMetricsOfTwoRuns() throws {
        let repo = try twoRuns()
        let params = try repo.runExp(["diff", "one", "two", "--params"])
        #expect(params.status == 0, "\(params.stderr)")
        #expect(params.stdout == "params one -> two\n  adam: (none) -> true\n  lr: 0.1 -> 0.01\n")
        let metrics = try repo.runExp(["diff", "one", "two", "--metrics"])
        #expect(
            metrics.stdout == """
                metrics  last one  last two  change          min         max
                  acc    0.8       -         -               0.8 / -     0.8 / -
                  f1     -         0.5       -               - / 0.5     - / 0.5
                  loss   0.5       0.25      -0.25 (-50.0%)  0.5 / 0.25  0.5 / 0.25

                """)
        let both = try repo.runExp(["diff", "one", "two", "--params", "--metrics"])
        #expect(both.stdout == params.stdout + "\n" + metrics.stdout)
        let all = try repo.runExp(["diff", "one", "two"])
        #expect(all.stdout.hasPrefix("diff --git "))
        #expect(all.stdout.hasSuffix("\n" + params.stdout + "\n" + metrics.stdout))
    }

    @Test func jsonParsesWithEveryPart() throws {
        let repo = try twoRuns()
        let result = try repo.runExp(["diff", "one", "two", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let code = try #require(object["code"] as? [String: Any])
        let files = try #require(code["files"] as? [[String: Any]])
        let renamed = try #require(files.first { $0["path"] as? String == "src/new_name.py" })
        #expect(renamed["old_path"] as? String == "src/old_name.py")
        #expect(renamed["status"] as? String == "renamed")
        let model = try #require(files.first { $0["path"] as? String == "src/model.py" })
        #expect(model["additions"] as? Int == 1)
        #expect(model["deletions"] as? Int == 1)
        let a = try runTree(repo, "one")
        let b = try runTree(repo, "two")
        #expect(code["patch"] as? String == (try repo.git(["diff", a, b])))
        let params = try #require(object["params"] as? [String: [String: Any]])
        #expect(params["lr"]?["a"] as? Double == 0.1)
        #expect(params["lr"]?["b"] as? Double == 0.01)
        #expect(params["adam"]?["a"] is NSNull)
        #expect(params["bs"] == nil)
        let metrics = try #require(object["metrics"] as? [String: [String: Any]])
        #expect((metrics["loss"]?["b"] as? [String: Any])?["last"] as? Double == 0.25)
        #expect(metrics["f1"]?["a"] is NSNull)

        let onlyCode = try repo.runExp(["diff", "one", "--json"])
        let codeObject = try #require(
            try JSONSerialization.jsonObject(with: Data(onlyCode.stdout.utf8)) as? [String: Any])
        #expect(codeObject.keys.sorted() == ["code"])
    }

    @Test func colourWrapsLinesAndKeepsTheBytes() throws {
        let repo = try twoRuns()
        let plain = try repo.runExp(["diff", "one", "two", "--code"])
        let coloured = try repo.runExp(["diff", "one", "two", "--code", "--color", "always"])
        #expect(coloured.stdout.contains("\u{1B}[32m+layer_12 = 99\u{1B}[0m"))
        #expect(coloured.stdout.contains("\u{1B}[31m-layer_12 = 12\u{1B}[0m"))
        #expect(coloured.stdout.contains("\u{1B}[1mdiff --git a/added.py b/added.py\u{1B}[0m"))
        let stripped = coloured.stdout.replacingOccurrences(
            of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
        #expect(stripped == plain.stdout)
    }

    @Test func unknownRunIsAnError() throws {
        let repo = try twoRuns()
        let result = try repo.runExp(["diff", "no-such-run"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("exp: error: no run named 'no-such-run'"))
        let second = try repo.runExp(["diff", "one", "nope"])
        #expect(second.status == 1)
        #expect(second.stderr.hasPrefix("exp: error: "))
    }

    @Test func paramsNeedTwoRuns() throws {
        let repo = try twoRuns()
        let result = try repo.runExp(["diff", "one", "--params"])
        #expect(result.status == 2)
        #expect(
            result.stderr
                == "exp: error: comparing params needs two runs\nhint: give a second run: `exp diff one RUN2 --params`\n"
        )
        let usage = try repo.runExp(["diff", "one", "--stat", "--name-only"])
        #expect(usage.status == 2)
    }
}
