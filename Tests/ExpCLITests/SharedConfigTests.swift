import ExpTestSupport
import Foundation
import Testing

@Suite("A committed .expconfig cannot widen what exp records or sends (binary)")
struct SharedConfigTests {
    /// A repository whose committed `.expconfig` tries to record every environment variable,
    /// push runs on every `git push`, read a metric with its own output pattern and keep
    /// files of any size; with hooks and a bare remote `origin`.
    func setUp() throws -> (repo: TestRepo, remote: String) {
        let repo = try repoWithHooks()
        try repo.write(
            ".expconfig",
            """
            [exp]
            \tenv = *
            \tautopush = true
            \toutputPattern = "leak=(?<value>[0-9]+)(?<key>x)"
            \tmaxFileSize = 1g
            \tmaxLogSize = 1k

            """)
        try repo.commitWithHooks("team defaults")
        let remote = repo.folder.path + "/remote.git"
        try repo.git(["init", "-q", "--bare", "-b", "main", remote])
        try repo.git(["remote", "add", "origin", remote])
        try repo.git(["push", "-q", "origin", "main"])
        return (repo, remote)
    }

    /// Environment variables of the command, one of them a URL with a password.
    static let environment = [
        "DATABASE_URL": "postgres://ada:hunter2@db.example.com:5432/runs", "PROJECT_NAME": "apollo",
    ]

    /// The warning lines naming `key` in `stderr`.
    func warnings(_ stderr: String, _ key: String) -> [Substring] {
        stderr.split(separator: "\n").filter { $0.hasPrefix("exp: warning: ignored \(key) ") }
    }

    @Test func itsWideningKeysAreIgnoredAndSaidOnce() throws {
        let (repo, _) = try setUp()
        // 11 MiB: over the default 10 MiB the shared file tries to raise.
        try repo.write("big.bin", Data(count: 11 << 20))
        let run = try repo.runExp(
            ["run", "--name", "shared", "--", "sh", "-c", "echo leak=7x; echo 'loss: 0.5'"], env: Self.environment)
        #expect(run.status == 0, "\(run.stderr)")
        let ref = try #require(try runRefs(repo).first)
        let record = try runJSON(repo, ref)
        #expect((record["variables"] as? [String: Any])?.isEmpty == true, "\(record["variables"] ?? "")")
        let metrics = try #require(record["metrics"] as? [String: Any])
        #expect(metrics["x"] == nil, "the shared output pattern was not used")
        #expect(metrics["loss"] != nil)
        let skipped = try #require((record["snapshot"] as? [String: Any])?["skipped"] as? [[String: Any]])
        #expect(skipped.map { $0["path"] as? String } == ["big.bin"], "the default 10 MiB limit held")
        // Each ignored key once, with how to set it for real.
        for key in ["exp.env", "exp.outputPattern", "exp.maxFileSize"] {
            #expect(warnings(run.stderr, key).count == 1, "\(key): \(run.stderr)")
        }
        #expect(run.stderr.contains("hint: to use it, set it in your own git config: git config exp.env '*'"))
        #expect(run.stderr.contains("git config exp.maxFileSize 1g"))
        #expect(warnings(run.stderr, "exp.maxLogSize").isEmpty, "lowering a limit is allowed: \(run.stderr)")
        #expect(warnings(run.stderr, "exp.autopush").isEmpty, "exp run does not read exp.autopush")
        // Commands that read none of them say nothing.
        let list = try repo.runExp(["list"])
        #expect(!list.stderr.contains("warning"), "\(list.stderr)")
    }

    @Test func aSharedAutopushPushesNothing() throws {
        let (repo, remote) = try setUp()
        try repo.runWithLoss("local-only", "0.5")
        try repo.write("train.py", "print('v2')\n")
        try repo.commitWithHooks("v2")
        let push = try repo.gitWithHooks(["push", "-q", "origin", "main"])
        #expect(push.status == 0, "\(push.stderr)")
        #expect(warnings(push.stderr, "exp.autopush").count == 1, "\(push.stderr)")
        #expect(!push.stderr.contains("exp: pushed"))
        let refs = try repo.git(["--git-dir", remote, "for-each-ref", "--format=%(refname)"])
        #expect(!refs.contains("refs/exp/"), "\(refs)")

        // The same key in the user's own git config is honoured.
        try repo.git(["config", "exp.autopush", "true"])
        try repo.write("train.py", "print('v3')\n")
        try repo.commitWithHooks("v3")
        let second = try repo.gitWithHooks(["push", "-q", "origin", "main"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("exp: pushed 1 runs to origin"), "\(second.stderr)")
        #expect(warnings(second.stderr, "exp.autopush").isEmpty)
    }

    @Test func theSameKeysInTheUsersGitConfigAreHonouredAndCredentialsMasked() throws {
        let (repo, _) = try setUp()
        try repo.git(["config", "--add", "exp.env", "DATABASE_URL"])
        try repo.git(["config", "--add", "exp.env", "PROJECT_NAME"])
        try repo.git(["config", "--add", "exp.env", "GH_PAT_*"])
        try repo.git(["config", "exp.outputPattern", "leak=(?<value>[0-9]+)(?<key>x)"])
        let environment = Self.environment.merging(["GH_PAT_CI": "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"]) { $1 }
        let run = try repo.runExp(
            [
                "run", "--name", "mine", "-p", "hub=hf_AbCdEfGhIjKlMnOpQrStUvWxYz01234567", "--", "sh", "-c",
                "echo leak=7x", "--db", "https://ada:s3cret@db.example.com/x", "--api-key", "plain-secret",
                "--token=xoxb-1234567890-abcdefghij", "--tokenizer", "gpt2", "--name", "sk-learn-baseline",
                "AKIAIOSFODNN7EXAMPLE",
            ], env: environment)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(warnings(run.stderr, "exp.env").isEmpty && warnings(run.stderr, "exp.outputPattern").isEmpty)
        let record = try runJSON(repo, try #require(try runRefs(repo).first))
        #expect(
            record["variables"] as? [String: String] == [
                "DATABASE_URL": "postgres://ada:***@db.example.com:5432/runs", "PROJECT_NAME": "apollo",
                "GH_PAT_CI": "ghp_***",
            ])
        #expect(
            record["argv"] as? [String] == [
                "sh", "-c", "echo leak=7x", "--db", "https://ada:***@db.example.com/x", "--api-key", "***",
                "--token=***", "--tokenizer", "gpt2", "--name", "sk-learn-baseline", "AKIA***",
            ])
        let params = try #require(record["params"] as? [String: Any])
        #expect(params["db"] as? String == "https://ada:***@db.example.com/x")
        #expect(params["api-key"] as? String == "***")
        #expect(params["token"] as? String == "***")
        #expect(params["hub"] as? String == "hf_***")
        #expect(params["tokenizer"] as? String == "gpt2")
        #expect(params["name"] as? String == "sk-learn-baseline")
        #expect((record["metrics"] as? [String: Any])?["x"] != nil, "the user's own output pattern is used")
        // No secret is anywhere in the record's objects.
        let objects = try repo.git(["cat-file", "--batch-all-objects", "--batch"])
        for secret in ["hunter2", "s3cret", "plain-secret", "abcdefghij", "A1b2C3d4E5f6", "IOSFODNN7", "AbCdEfGh"] {
            #expect(!objects.contains(secret), "\(secret) was recorded")
        }
    }

    @Test func aRunRecordedWithMaskedCredentialsIsNotRunAgainWithTheMask() throws {
        let repo = try TestRepo()
        try repo.write("train.py", "print('hi')\n")
        try repo.commitAll()
        let run = try repo.runExp(["run", "--name", "keyed", "--", "sh", "-c", "echo ok", "--api-key", "hunter2"])
        #expect(run.status == 0, "\(run.stderr)")
        let rerun = try repo.runExp(["rerun", "keyed"])
        #expect(rerun.status == 1)
        #expect(rerun.stderr.contains("run keyed was recorded with credentials masked"), "\(rerun.stderr)")
        #expect(try repo.git(["for-each-ref", "refs/exp/runs"]).split(separator: "\n").count == 1)
        #expect(try repo.git(["worktree", "list"]).split(separator: "\n").count == 1)
    }
}
