import ExpTestSupport
import Foundation
import Testing

/// Runs with fixed names and points: alpha logs loss, acc and (at some steps) lr, then
/// points without a step; beta logs loss and acc at other steps and one step-less point;
/// gamma logs only step-less points.
private func metricsRepo() throws -> TestRepo {
    let repo = try TestRepo()
    try repo.write("points.sh", "printf '%s\\n' \"$@\" >> \"$EXP_METRICS_FILE\"\n")
    try repo.commitAll()
    func run(_ name: String, _ lines: [String]) throws {
        let result = try repo.exp(["run", "--name", name, "--", "sh", "points.sh"] + lines)
        #expect(result.status == 0, "\(result.stderr)")
    }
    try run(
        "alpha",
        [
            #"{"step": 1, "loss": 2.5, "acc": 0.1}"#, #"{"step": 2, "loss": 1.25, "acc": 0.4, "lr": 0.01}"#,
            #"{"step": 3, "loss": 0.75}"#, #"{"step": 10, "loss": 0.5, "acc": 0.9, "lr": 0.001}"#,
            #"{"best_acc": 0.9}"#, #"{"test_loss": 0.55, "test_acc": 0.88}"#,
        ])
    try run(
        "beta",
        [
            #"{"step": 1, "loss": 3}"#, #"{"step": 2, "loss": 2}"#, #"{"step": 4, "loss": 1.5, "acc": 0.5}"#,
            #"{"final": 7}"#,
        ])
    try run("gamma", [#"{"score": 1}"#, #"{"score": 2}"#])
    return repo
}

/// `exp metrics ARGS`' stdout, checking that it succeeded.
private func metricsText(_ repo: TestRepo, _ args: [String]) throws -> String {
    let result = try repo.exp(["metrics"] + args)
    #expect(result.status == 0, "\(result.stderr)")
    return result.stdout
}

@Suite("exp metrics")
struct MetricsCommandTests {
    @Test("one run: a row per step, a column per key (blank where a key has no value), step-less points after")
    func oneRun() throws {
        let repo = try metricsRepo()
        let text = try metricsText(repo, ["alpha"])
        #expect(text.hasPrefix("step  acc  loss  lr\n1     0.1  2.5\n"), "\(text)")
        #expect(text.contains("\n\nwithout a step:\nkey        value\nbest_acc   0.9\n"), "\(text)")
        #expect(!text.contains(" \n"), "no trailing spaces")
        try Golden.expect(text, matches: "metrics-one.stdout")
        // Keys named as arguments or with --key (-k) keep their column order sorted.
        #expect(
            try metricsText(repo, ["alpha", "loss", "acc"])
                == metricsText(repo, ["alpha", "-k", "acc", "--key", "loss"]))
        #expect(try metricsText(repo, ["alpha", "lr"]) == "step  lr\n2     0.01\n10    0.001\n")
    }

    @Test("a run with only step-less points shows only their section")
    func onlyStepless() throws {
        let repo = try metricsRepo()
        let text = try metricsText(repo, ["gamma"])
        #expect(text == "without a step:\nkey    value\nscore  1\nscore  2\n")
        try Golden.expect(text, matches: "metrics-stepless.stdout")
    }

    @Test("several runs side by side: a table per key, a column per run")
    func severalRuns() throws {
        let repo = try metricsRepo()
        let one = try metricsText(repo, ["alpha", "beta", "--key", "loss"])
        #expect(one == "step  alpha  beta\n1     2.5    3\n2     1.25   2\n3     0.75\n4            1.5\n10    0.5\n")
        // A positional that names no run (and every one after it) is a key.
        #expect(try metricsText(repo, ["alpha", "beta", "loss"]) == one)
        let all = try metricsText(repo, ["alpha", "beta", "gamma"])
        #expect(all.hasPrefix("acc\nstep  alpha  beta  gamma\n1     0.1\n"), "\(all)")
        #expect(all.contains("\n\nwithout a step:\nrun    key        value\nalpha  best_acc   0.9\n"), "\(all)")
        try Golden.expect(one + "---\n" + all, matches: "metrics-runs.stdout")
        // A key no run has is an error naming them; one some runs have is fine.
        let missing = try repo.exp(["metrics", "alpha", "beta", "--key", "nope"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("runs alpha, beta have no metric nope"), "\(missing.stderr)")
        #expect(try repo.exp(["metrics", "alpha", "beta", "lr"]).status == 0)
        // --follow follows one run.
        let follow = try repo.exp(["metrics", "alpha", "beta", "--follow"])
        #expect(follow.status == 1)
        #expect(follow.stderr.contains("--follow follows one run"), "\(follow.stderr)")
    }

    @Test("--csv and --json give every point; with several runs, the run is named")
    func machineOutput() throws {
        let repo = try metricsRepo()
        let csv = try metricsText(repo, ["alpha", "--csv"])
        #expect(csv.hasPrefix("key,step,time,value,source\n"))
        #expect(csv.contains("\nbest_acc,,,0.9,file\n"), "\(csv)")
        #expect(csv.split(separator: "\n").count == 1 + 12)
        let runs = try metricsText(repo, ["alpha", "beta", "-k", "loss", "--csv"])
        #expect(
            runs
                == "run,key,step,time,value,source\nalpha,loss,1,,2.5,file\nalpha,loss,2,,1.25,file\nalpha,loss,3,,0.75,file\n"
                + "alpha,loss,10,,0.5,file\nbeta,loss,1,,3,file\nbeta,loss,2,,2,file\nbeta,loss,4,,1.5,file\n")
        let json = try metricsText(repo, ["alpha", "beta", "-k", "acc", "--json"])
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(objects.map { $0["run"] as? String } == ["alpha", "beta"])
        #expect(objects.map { ($0["points"] as? [Any])?.count } == [3, 1])
    }

    @Test("keys with control characters are shown escaped")
    func escapedKeys() throws {
        let repo = try TestRepo()
        try repo.write(
            "points.sh",
            #"printf '{"step": 1, "lo\\u001b]0;pwned\\u0007ss": 1}\n{"ev\\u001bil": 2}\n' >> "$EXP_METRICS_FILE""#
                + "\n")
        try repo.commitAll()
        #expect(try repo.exp(["run", "--name", "evil", "--", "sh", "points.sh"]).status == 0)
        let text = try metricsText(repo, ["evil"])
        #expect(
            text == "step  lo\\033]0;pwned\\ass\n1     1\n\nwithout a step:\nkey       value\nev\\033il  2\n", "\(text)"
        )
    }
}

@Suite("exp metrics --follow")
struct MetricsFollowTests {
    @Test("prints the header once and a row as each step completes while the run logs; ends with the run")
    func followsTheRun() throws {
        let repo = try makeRepo()
        let run = try startExp(
            repo,
            [
                "run", "--name", "live", "--", "sh", "-c",
                #"echo '{"step": 1, "loss": 3, "acc": 0.25}' >> "$EXP_METRICS_FILE"; "#
                    + #"echo '{"step": 2, "loss": 2}' >> "$EXP_METRICS_FILE"; while [ ! -f go ]; do sleep 0.05; done; "#
                    + #"echo '{"step": 3, "loss": 1, "acc": 0.75}' >> "$EXP_METRICS_FILE"; while [ ! -f go2 ]; do sleep 0.05; done; "#
                    + #"echo '{"final": 9}' >> "$EXP_METRICS_FILE""#,
            ])
        defer {
            try? repo.write("go", "")
            try? repo.write("go2", "")
            run.waitUntilExit()
        }
        #expect(try waitUntil(30) { try liveRun(repo) != nil })
        let output = repo.folder.path + "/follow.out"
        FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", ptyScript, builtExp, "metrics", "live", "--follow"]
        process.currentDirectoryURL = URL(fileURLWithPath: repo.root)
        process.environment = repo.environment.merging(["EXP_NOW": ""]) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle.nullDevice
        process.standardInput = Pipe()
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        func text() -> String {
            ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").replacingOccurrences(of: "\r\n", with: "\n")
        }
        let header = "step        acc         loss\n"
        // Step 2 has begun: step 1's row is complete; step 2's is not yet.
        #expect(try waitUntil(30) { text().contains(header + "1           0.25        3\n") }, "\(text())")
        #expect(!text().contains("\n2 "))
        try repo.write("go", "")
        #expect(try waitUntil(30) { text().contains("\n2                       2\n") }, "\(text())")
        #expect(process.isRunning)
        try repo.write("go2", "")
        #expect(try waitUntil(30) { !process.isRunning }, "exp metrics --follow did not end with the run")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(
            text()
                == header + "1           0.25        3\n2                       2\n3           0.75        1\n\n"
                + "without a step:\nkey    value\nfinal  9\n", "\(text())")
    }
}
