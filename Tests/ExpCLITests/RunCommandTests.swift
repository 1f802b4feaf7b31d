import ExpTestSupport
import Foundation
import Testing

/// Reads `run.json` of a run's record through git, as any tool could.
func runJSON(_ repo: TestRepo, _ ref: String) throws -> [String: Any] {
    let text = try repo.git(["show", "\(ref):run.json"])
    return try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

/// The run refs, as `git for-each-ref` lists them.
func runRefs(_ repo: TestRepo) throws -> [String] {
    try repo.git(["for-each-ref", "--format=%(refname)", "refs/exp/runs/"]).split(separator: "\n").map(String.init)
}

/// Waits until `condition` holds (polling), or fails after `seconds`.
func waitUntil(_ seconds: Double = 10, _ condition: () throws -> Bool) throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
    }
    return false
}

/// Starts the exp binary in the background (for signal tests).
func startExp(_ repo: TestRepo, _ args: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: expBinaryPath())
    process.arguments = args
    process.currentDirectoryURL = URL(fileURLWithPath: repo.root)
    process.environment = repo.environment.merging(["EXP_NOW": ""]) { $1 }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return process
}

/// The live run.json of the only running run, once its command has started.
func liveRun(_ repo: TestRepo) throws -> [String: Any]? {
    let folder = repo.root + "/.git/exp/runs"
    guard let ids = try? FileManager.default.contentsOfDirectory(atPath: folder), let id = ids.first,
        let data = FileManager.default.contents(atPath: folder + "/" + id + "/run.json"),
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
        let supervisor = object["supervisor"] as? [String: Any], supervisor["child_pid"] != nil
    else { return nil }
    return object
}

extension TestRepo {
    /// Runs exp with the real clock (runs are ordered by their start time).
    @discardableResult
    func expLive(_ args: [String], in directory: String? = nil) throws -> ProcessResult {
        try exp(args, in: directory, env: ["EXP_NOW": ""])
    }
}

/// Tests/Fixtures/one-commit.sh: branch main with one commit holding train.py.
func makeRepo() throws -> TestRepo {
    try TestRepo(fixture: "one-commit", exp: builtExp)
}

@Suite("exp run")
struct RunCommandTests {
    @Test func successfulRunIsRecordedWithItsCode() throws {
        let repo = try makeRepo()
        try repo.write("train.py", "print('edited')\n")
        try repo.write("new.py", "x = 1\n")
        let before = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        let script =
            "echo out; echo err >&2; echo '{\"step\": 1, \"loss\": 0.5}' >> \"$EXP_METRICS_FILE\"; "
            + "echo '{\"step\": 2, \"loss\": 0.25, \"acc\": 0.9}' >> \"$EXP_METRICS_FILE\""
        let result = try repo.expLive([
            "run", "--name", "first", "-m", "a note", "--", "sh", "-c", script, "--lr", "0.01",
        ])
        #expect(result.status == 0)
        #expect(result.stdout == "out\n")
        #expect(result.stderr.contains("err\n"))
        #expect(result.stderr.contains("exp: run first "))
        #expect(result.stderr.contains("1 modified, 1 added"))
        #expect(result.stderr.contains("succeeded"))
        // Nothing of the user's changed.
        let after = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        #expect(
            before.differences(from: after).filter {
                !$0.hasPrefix("git:refs/exp") && !$0.hasPrefix("git:logs/refs/exp")
            } == [])

        let refs = try runRefs(repo)
        #expect(refs.count == 1)
        let ref = try #require(refs.first)
        let record = try runJSON(repo, ref)
        #expect(record["status"] as? String == "succeeded")
        #expect(record["name"] as? String == "first")
        #expect(record["message"] as? String == "a note")
        #expect(record["exit_code"] as? Int == 0)
        #expect((record["params"] as? [String: Any])?["lr"] as? Double == 0.01)
        let loss = try #require((record["metrics"] as? [String: Any])?["loss"] as? [String: Any])
        #expect(loss["last"] as? Double == 0.25)
        #expect(loss["min"] as? Double == 0.25)
        #expect(loss["max"] as? Double == 0.5)
        #expect(loss["count"] as? Int == 2)
        #expect(loss["last_step"] as? Double == 2)
        // The record's tree and parent: the snapshot equals `git add -A`.
        #expect(try repo.git(["ls-tree", "--name-only", ref]) == "metrics.jsonl\noutput.log\nrun.json\n")
        #expect(try repo.gitLine(["rev-parse", "\(ref)^^{tree}"]) == (try repo.gitAddAllTree()))
        #expect(try repo.gitLine(["rev-parse", "\(ref)^^"]) == (try repo.gitLine(["rev-parse", "HEAD"])))
        let output = try repo.git(["show", "\(ref):output.log"])
        #expect(output.contains("out\n") && output.contains("err\n"))
        #expect(try repo.git(["show", "\(ref):metrics.jsonl"]).split(separator: "\n").count == 3)
        #expect(
            !FileManager.default.fileExists(atPath: repo.root + "/.git/exp/runs/" + ref.split(separator: "/").last!))
        try repo.git(["fsck", "--strict", "--no-progress"])
    }

    @Test func exitStatusIsTheCommands() throws {
        let repo = try makeRepo()
        let result = try repo.expLive(["run", "--", "sh", "-c", "exit 3"])
        #expect(result.status == 3)
        let record = try runJSON(repo, try #require(try runRefs(repo).first))
        #expect(record["status"] as? String == "failed")
        #expect(record["exit_code"] as? Int == 3)
    }

    @Test func missingAndNonExecutableCommands() throws {
        let repo = try makeRepo()
        let missing = try repo.expLive(["run", "--", "no-such-command-xyz", "--flag"])
        #expect(missing.status == 127)
        #expect(missing.stderr.contains("command not found: no-such-command-xyz"))
        try repo.write("not-executable.sh", "echo hi\n")
        let denied = try repo.expLive(["run", "--", "./not-executable.sh"])
        #expect(denied.status == 126)
        let records = try runRefs(repo).map { try runJSON(repo, $0) }
        #expect(records.count == 2)
        #expect(records.allSatisfy { $0["status"] as? String == "failed" && $0["error"] is String })
    }

    @Test func helpAndUnknownOptionsAreNeverRunAsTheCommand() throws {
        let repo = try makeRepo()
        for flag in ["--help", "-h"] {
            let help = try repo.expLive(["run", "--name", "x", flag])
            #expect(help.status == 0)
            #expect(help.stdout.contains("USAGE: exp run"))
        }
        let typo = try repo.expLive(["run", "--nmae", "x", "--", "true"])
        #expect(typo.status != 0)
        #expect(typo.stderr.contains("unknown option '--nmae'"))
        #expect(try runRefs(repo).isEmpty)
        // After --, the words are the command's, whatever they look like.
        let explicit = try repo.expLive(["run", "--", "--help"])
        #expect(explicit.status == 127)
        #expect(try runRefs(repo).count == 1)
    }

    @Test func childKilledBySignal() throws {
        let repo = try makeRepo()
        let result = try repo.expLive(["run", "--", "sh", "-c", "kill -KILL $$"])
        #expect(result.status == 128 + 9)
        let record = try runJSON(repo, try #require(try runRefs(repo).first))
        #expect(record["status"] as? String == "failed")
        #expect(record["signal"] as? Int == 9)
    }

    @Test func sigintIsForwardedAndTheRunIsInterrupted() throws {
        let repo = try makeRepo()
        let exp = try startExp(
            repo, ["run", "--", "sh", "-c", "trap 'echo caught; exit 130' INT; while :; do sleep 0.05; done"])
        #expect(try waitUntil { try liveRun(repo) != nil })
        kill(exp.processIdentifier, SIGINT)
        exp.waitUntilExit()
        #expect(exp.terminationStatus == 130)
        let ref = try #require(try runRefs(repo).first)
        let record = try runJSON(repo, ref)
        #expect(record["status"] as? String == "interrupted")
        #expect(try repo.git(["show", "\(ref):output.log"]).contains("caught"))
    }

    @Test func expKilledThenSealedAsLost() throws {
        let repo = try makeRepo()
        let script = "echo '{\"step\": 1, \"loss\": 1.5}' >> \"$EXP_METRICS_FILE\"; echo progress; exec sleep 30"
        let exp = try startExp(repo, ["run", "--name", "doomed", "--", "sh", "-c", script])
        #expect(try waitUntil { try liveRun(repo) != nil })
        let live = try #require(try liveRun(repo))
        let child = try #require((live["supervisor"] as? [String: Any])?["child_pid"] as? Int)
        #expect(
            try waitUntil {
                (try? String(contentsOfFile: repo.root + "/.git/exp/runs/\(live["id"]!)/output.log", encoding: .utf8))?
                    .contains("progress") == true
            })
        kill(exp.processIdentifier, SIGKILL)
        exp.waitUntilExit()
        defer { kill(Int32(child), SIGKILL) }
        let list = try repo.expLive(["list"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("lost"))
        let record = try runJSON(repo, try #require(try runRefs(repo).first))
        #expect(record["status"] as? String == "lost")
        #expect(((record["metrics"] as? [String: Any])?["loss"] as? [String: Any])?["last"] as? Double == 1.5)
        let ref = try #require(try runRefs(repo).first)
        #expect(try repo.git(["show", "\(ref):output.log"]).contains("progress"))
    }

    @Test func sixteenConcurrentRuns() throws {
        let repo = try makeRepo()
        let group = DispatchGroup()
        let statuses = StatusBox()
        for index in 0..<16 {
            group.enter()
            DispatchQueue.global().async {
                let result = try? repo.expLive([
                    "run", "--", "sh", "-c", "echo run \(index); echo '{\"x\": \(index)}' >> \"$EXP_METRICS_FILE\"",
                ])
                statuses.append(result?.status ?? -1)
                group.leave()
            }
        }
        group.wait()
        #expect(statuses.values == Array(repeating: 0, count: 16))
        let refs = try runRefs(repo)
        #expect(refs.count == 16)
        let records = try refs.map { try runJSON(repo, $0) }
        #expect(Set(records.compactMap { $0["name"] as? String }).count == 16)
        #expect(records.allSatisfy { $0["status"] as? String == "succeeded" })
        let xs = Set(
            records.compactMap { (($0["metrics"] as? [String: Any])?["x"] as? [String: Any])?["last"] as? Int })
        #expect(xs == Set(0..<16))
        try repo.git(["fsck", "--strict", "--no-progress"])
        // Sixteen writers of the run index left it whole, and it lists all sixteen.
        let index = try repo.gitLine(["rev-parse", "--git-common-dir"]) + "/exp/index.sqlite"
        let check = try runProcess(
            [
                "python3", "-c",
                "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('pragma integrity_check').fetchone()[0])",
                index,
            ],
            in: repo.root, environment: repo.environment)
        #expect(check.stdout == "ok\n", "\(check.stderr)")
        let listed = try repo.expLive(["list", "--all", "--json"])
        #expect((try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [Any])?.count == 16)
    }

    @Test func nameClashIsAnError() throws {
        let repo = try makeRepo()
        #expect(try repo.expLive(["run", "--name", "same", "--", "true"]).status == 0)
        let second = try repo.expLive(["run", "--name", "same", "--", "true"])
        #expect(second.status == 1)
        #expect(second.stderr.contains("exp: error: a run named 'same' already exists"))
        #expect(try runRefs(repo).count == 1)
    }

    @Test func fromASubfolderAndALinkedWorktree() throws {
        let repo = try makeRepo()
        try repo.write("sub/dir/keep.txt", "k\n")
        try repo.commitAll()
        let inSub = try repo.expLive(["run", "--", "pwd"], in: repo.root + "/sub/dir")
        #expect(inSub.status == 0)
        #expect(inSub.stdout.hasSuffix("/sub/dir\n"))
        #expect(try runJSON(repo, try #require(try runRefs(repo).first))["cwd"] as? String == "sub/dir")

        let linked = repo.folder.path + "/linked"
        try repo.git(["worktree", "add", "-q", "-b", "side", linked])
        try "changed\n".write(toFile: linked + "/train.py", atomically: false, encoding: .utf8)
        #expect(try repo.expLive(["run", "--name", "from-linked", "--", "true"], in: linked).status == 0)
        // Runs live in the common dir: the main worktree sees them.
        let shown = try repo.expLive(["show", "from-linked", "--json"])
        #expect(shown.status == 0)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any])
        #expect((record["base"] as? [String: Any])?["branch"] as? String == "side")
        #expect(try runRefs(repo).count == 2)
    }

    @Test func pseudoTerminalWhenStdoutIsATerminal() throws {
        let repo = try makeRepo()
        let command = "\(expBinaryPath()) run -- python3 -c 'import sys; print(\"tty\", sys.stdout.isatty())'"
        let result = try runProcess(
            ["script", "-qec", command, "/dev/null"], in: repo.root, environment: repo.environment)
        #expect(result.status == 0)
        #expect(result.stdout.contains("tty True"))
        let piped = try repo.expLive(["run", "--", "python3", "-c", "import sys; print('tty', sys.stdout.isatty())"])
        #expect(piped.stdout == "tty False\n")
    }

    @Test func malformedMetricLinesAreSkippedAndCounted() throws {
        let repo = try makeRepo()
        let script = """
            f="$EXP_METRICS_FILE"
            echo '{"step": 1, "loss": 0.9}' >> "$f"
            echo 'not json' >> "$f"
            echo '[1, 2]' >> "$f"
            echo '{"step": 2, "loss": "NaN", "flag": true, "note": "text"}' >> "$f"
            echo '{"step": 3, "loss": 0.1' >> "$f"
            """
        let result = try repo.expLive(["run", "--", "sh", "-c", script])
        #expect(result.status == 0)
        #expect(result.stderr.contains("3 bad metric lines skipped"))
        let record = try runJSON(repo, try #require(try runRefs(repo).first))
        #expect(record["skipped_metric_lines"] as? Int == 3)
        let loss = try #require((record["metrics"] as? [String: Any])?["loss"] as? [String: Any])
        #expect(loss["count"] as? Int == 2)
        #expect(loss["last"] as? String == "NaN")
        #expect(loss["min"] as? Double == 0.9)
        #expect((record["metrics"] as? [String: Any])?["flag"] == nil)
    }

    @Test func hugeOutputIsCappedInTheRecordButPassesThroughWhole() throws {
        let repo = try makeRepo()
        try repo.git(["config", "exp.maxLogSize", "8k"])
        let result = try repo.expLive(["run", "--", "sh", "-c", "seq 1 20000"])
        #expect(result.status == 0)
        #expect(result.stdout.split(separator: "\n").count == 20000)
        let log = try repo.git(["show", "\(try #require(try runRefs(repo).first)):output.log"])
        #expect(log.utf8.count <= 8 * 1024 + 200)
        #expect(log.hasPrefix("1\n2\n3\n"))
        #expect(log.hasSuffix("19999\n20000\n"))
        #expect(log.contains("bytes of output left out here"))
    }

    @Test func metricsCSVCarriesFullPrecision() throws {
        let repo = try makeRepo()
        #expect(try repo.expLive(["run", "--", "sh", "-c", "echo 'step 3 loss: 0.123456789 acc=1e-7'"]).status == 0)
        let rows = try repo.expLive(["metrics", "latest", "--csv"]).stdout.split(separator: "\n").map {
            $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        }
        #expect(rows.first == ["key", "step", "time", "value", "source"])
        let values = Dictionary(uniqueKeysWithValues: rows.dropFirst().map { ($0[0], $0) })
        #expect(values["loss"]?[3] == "0.123456789")
        #expect(values["acc"]?[3] == "1e-07")
        #expect(values["loss"]?[1] == "3" && values["loss"]?[4] == "stdout")
        #expect(Double(values["loss"]?[2] ?? "").map { $0 > 1_700_000_000 } == true)
    }

    @Test func metricsPrintedByTheCommandAreRecorded() throws {
        let repo = try makeRepo()
        let script =
            "for e in 1 2 3; do echo \"Epoch $e: loss=0.$((9 - e)) acc: 0.$((5 + e))\"; done; "
            + "echo '{\"step\": 3, \"loss\": 0.123}' >> \"$EXP_METRICS_FILE\""
        #expect(try repo.expLive(["run", "--", "sh", "-c", script]).status == 0)
        let ref = try #require(try runRefs(repo).first)
        let record = try runJSON(repo, ref)
        let metrics = try #require(record["metrics"] as? [String: Any])
        let loss = try #require(metrics["loss"] as? [String: Any])
        #expect(loss["count"] as? Int == 3)
        #expect(loss["last"] as? Double == 0.123)  // the file wins over the output at step 3
        #expect((metrics["acc"] as? [String: Any])?["last"] as? Double == 0.8)
        let lines = try repo.git(["show", "\(ref):metrics.jsonl"]).split(separator: "\n")
        #expect(lines.filter { $0.contains("\"source\":\"stdout\"") }.count == 5)
        #expect(lines.filter { $0.contains("\"source\":\"file\"") }.count == 1)

        try repo.git(["config", "exp.outputScalars", "false"])
        #expect(try repo.expLive(["run", "--name", "quiet", "--", "sh", "-c", "echo loss: 0.5"]).status == 0)
        let quiet = try #require(try runRefs(repo).first { try runJSON(repo, $0)["name"] as? String == "quiet" })
        #expect((try runJSON(repo, quiet)["metrics"] as? [String: Any])?.isEmpty == true)
    }

    @Test func childEnvironment() throws {
        let repo = try makeRepo()
        let result = try repo.expLive([
            "run", "--name", "envy", "--", "sh", "-c",
            "echo $EXP_RUN_NAME; echo $EXP_RUN_ID; echo $EXP_SNAPSHOT; test -d \"$EXP_RUN_DIR\" && echo dir-ok",
        ])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines.first == "envy")
        #expect(lines.last == "dir-ok")
        let ref = try #require(try runRefs(repo).first)
        #expect(ref.hasSuffix(lines[1]))
        #expect(lines[2] == (try repo.gitLine(["rev-parse", "\(ref)^"])))
    }
}

/// Collects values from several threads.
final class StatusBox: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [Int32] = []
    func append(_ value: Int32) {
        lock.lock()
        items.append(value)
        lock.unlock()
    }
    var values: [Int32] {
        lock.lock()
        defer { lock.unlock() }
        return items
    }
}

@Suite("Reading runs back")
struct ReadingRunsTests {
    @Test func resolutionByNamePrefixLatestAndErrors() throws {
        let repo = try makeRepo()
        for name in ["alpha", "beta", "gamma"] {
            #expect(try repo.expLive(["run", "--name", name, "--", "sh", "-c", "echo \(name)"]).status == 0)
        }
        func shownName(_ reference: String) throws -> String? {
            let result = try repo.expLive(["show", reference, "--json"])
            guard result.status == 0 else { return nil }
            return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])?["name"]
                as? String
        }
        #expect(try shownName("latest") == "gamma")
        #expect(try shownName("latest~1") == "beta")
        #expect(try shownName("latest~2") == "alpha")
        #expect(try shownName("beta") == "beta")
        let alphaRef = try #require(try runRefs(repo).first { try runJSON(repo, $0)["name"] as? String == "alpha" })
        let alphaID = String(alphaRef.split(separator: "/").last!)
        #expect(try shownName(String(alphaID.prefix(12))) == "alpha")
        #expect(try shownName(alphaID.uppercased()) == "alpha")

        let tooFar = try repo.expLive(["show", "latest~3"])
        #expect(tooFar.status == 1)
        #expect(tooFar.stderr.contains("only 3 runs"))
        let unknown = try repo.expLive(["show", "delta"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no run named 'delta'"))
        #expect(unknown.stderr.contains("hint:"))
        // All three ids start with the same start-second prefix when made within a second or
        // so; a one-character prefix shared by all is ambiguous and lists candidates.
        let common = String(alphaID.prefix(1))
        let ambiguous = try repo.expLive(["show", common])
        #expect(ambiguous.status == 1)
        #expect(ambiguous.stderr.contains("ambiguous"))
        #expect(ambiguous.stderr.contains("alpha") && ambiguous.stderr.contains("gamma"))
    }

    @Test func listShowsNewestFirstWithDifferingParamsAndMetrics() throws {
        let repo = try makeRepo()
        for (name, lr) in [("slow", "0.001"), ("fast", "0.1")] {
            let script = "echo '{\"loss\": \(lr == "0.1" ? "0.2" : "0.7")}' >> \"$EXP_METRICS_FILE\""
            #expect(
                try repo.expLive(["run", "--name", name, "--", "sh", "-c", script, "x", "--lr", lr, "--epochs", "3"])
                    .status == 0)
        }
        let list = try repo.expLive(["list"])
        #expect(list.status == 0)
        let lines = list.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("NAME"))
        #expect(lines[0].contains("lr") && lines[0].contains("loss") && !lines[0].contains("epochs"))
        #expect(lines[1].hasPrefix("fast") && lines[1].contains("0.1") && lines[1].contains("0.2"))
        #expect(lines[2].hasPrefix("slow") && lines[2].contains("0.001") && lines[2].contains("0.7"))
        let limited = try repo.expLive(["list", "--limit", "1", "--json"])
        let array = try #require(try JSONSerialization.jsonObject(with: Data(limited.stdout.utf8)) as? [[String: Any]])
        #expect(array.count == 1)
        #expect(array.first?["name"] as? String == "fast")
        #expect(array.first?["record_commit"] is String)
    }

    @Test func logPrintsOutputAndFollowStreamsUntilTheEnd() throws {
        let repo = try makeRepo()
        #expect(try repo.expLive(["run", "--name", "chatty", "--", "sh", "-c", "echo one; echo two >&2"]).status == 0)
        let log = try repo.expLive(["log", "chatty"])
        #expect(log.stdout == "one\ntwo\n" || log.stdout == "two\none\n")
        let exp = try startExp(repo, ["run", "--name", "slow", "--", "sh", "-c", "echo start; sleep 1; echo end"])
        #expect(try waitUntil { try liveRun(repo) != nil })
        let followed = try repo.expLive(["log", "--follow", "slow"])
        exp.waitUntilExit()
        #expect(followed.stdout == "start\nend\n")
    }

    @Test func metricsPrintsSeries() throws {
        let repo = try makeRepo()
        let script =
            "for s in 1 2; do echo \"{\\\"step\\\": $s, \\\"loss\\\": 0.$s, \\\"acc\\\": 0.$((s + 5))}\" >> \"$EXP_METRICS_FILE\"; done"
        #expect(try repo.expLive(["run", "--name", "m", "--", "sh", "-c", script]).status == 0)
        let table = try repo.expLive(["metrics", "m"])
        #expect(table.stdout == "step  acc  loss\n1     0.6  0.1\n2     0.7  0.2\n")
        let csv = try repo.expLive(["metrics", "m", "loss", "--csv"])
        #expect(csv.stdout == "key,step,time,value,source\nloss,1,,0.1,file\nloss,2,,0.2,file\n")
        let json = try repo.expLive(["metrics", "m", "acc", "--json"])
        let points = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(points.count == 2)
        #expect(points.allSatisfy { $0["key"] as? String == "acc" })
        let missing = try repo.expLive(["metrics", "m", "nope"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("has no metric nope"))
    }

    @Test func emptyRepositoryHasNoRuns() throws {
        let repo = try makeRepo()
        let list = try repo.expLive(["list"])
        #expect(list.status == 0)
        #expect(list.stdout.isEmpty)
        let show = try repo.expLive(["show", "latest"])
        #expect(show.status == 1)
        #expect(show.stderr.contains("no runs yet"))
    }
}
