import ExpTestSupport
import Foundation
import Testing

/// Python's strict JSON parse, the oracle: bare `NaN`/`Infinity` are an error, as in JSON.
/// Returns what Python read, re-encoded as JSON Swift can read (non-finite numbers can no
/// longer be in it).
func strictJSON(_ text: String, _ repo: TestRepo, sourceLocation: SourceLocation = #_sourceLocation) throws -> Any {
    let script = """
        import json, sys
        def refuse(constant):
            raise ValueError("bare " + constant)
        value = json.loads(sys.stdin.read(), parse_constant=refuse)
        print(json.dumps(value))
        """
    let result = try runProcess(["python3", "-c", script], in: repo.root, environment: repo.environment, stdin: text)
    #expect(
        result.status == 0, "not strict JSON: \(result.stderr)\n\(text.prefix(2000))", sourceLocation: sourceLocation)
    return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8), options: [.fragmentsAllowed])
}

@Suite("NaN and infinities: read from Python's JSON, written one way in every output (binary)")
struct NonFiniteOutputTests {
    /// A run that logs NaN, Infinity and -Infinity with Python's `json.dumps` (which writes
    /// them bare) and prints `val: nan`, with an artifact; and a finite run to compare with.
    func setUp() throws -> TestRepo {
        let repo = try TestRepo()
        try repo.write("train.py", "print('v1')\n")
        try repo.commitAll("init")
        let script = """
            import json, os
            with open(os.environ["EXP_METRICS_FILE"], "a") as f:
                f.write(json.dumps({"step": 1, "loss": 0.5, "gain": 1.0, "drop": -1.0}) + "\\n")
                f.write(json.dumps({"step": 2, "loss": float("nan"), "gain": float("inf"), "drop": float("-inf")}) + "\\n")
            os.makedirs("out", exist_ok=True)
            open("out/model.pt", "w").write("weights")
            print("val: nan")
            """
        try repo.write("diverge.py", script)
        let diverged = try repo.runExp([
            "run", "--name", "diverged", "--artifact", "out/*.pt", "-p", "ratio=nan", "--", "python3", "diverge.py",
        ])
        #expect(diverged.status == 0, "\(diverged.stderr)")
        #expect(!diverged.stderr.contains("bad metric lines"), "Python's bare constants are not malformed")
        let fine = try repo.runExp(["run", "--name", "fine", "--", "sh", "-c", "echo 'loss: 0.25'"])
        #expect(fine.status == 0, "\(fine.stderr)")
        return repo
    }

    @Test func pythonsBareConstantsAreRecordedAsRunJSONWritesThem() throws {
        let repo = try setUp()
        let ref = try #require(
            try runRefs(repo).first { (try? runJSON(repo, $0)["name"] as? String) == "diverged" })
        let record = try runJSON(repo, ref)
        #expect(record["skipped_metric_lines"] as? Int == 0)
        let metrics = try #require(record["metrics"] as? [String: [String: Any]])
        #expect(metrics["loss"]?["last"] as? String == "NaN")
        #expect(metrics["loss"]?["min"] as? Double == 0.5, "NaN is left out of min and max")
        #expect(metrics["loss"]?["count"] as? Int == 2)
        #expect(metrics["gain"]?["last"] as? String == "Infinity")
        #expect(metrics["gain"]?["max"] as? String == "Infinity")
        #expect(metrics["drop"]?["last"] as? String == "-Infinity")
        #expect(metrics["drop"]?["min"] as? String == "-Infinity")
        #expect(metrics["val"]?["last"] as? String == "NaN")
        _ = try strictJSON(try repo.git(["show", "\(ref):run.json"]), repo)
        for line in try repo.git(["show", "\(ref):metrics.jsonl"]).split(separator: "\n") {
            _ = try strictJSON(String(line), repo)
        }
    }

    @Test func everyJSONOutputIsStrictJSONWithTheSameStrings() throws {
        let repo = try setUp()
        let outputs: [[String]] = [
            ["list", "--json"], ["list", "--all", "--json"], ["list", "--json", "--where", "gain.max > 0"],
            ["show", "diverged", "--json"], ["metrics", "diverged", "--json"],
            ["metrics", "diverged", "loss", "--json"], ["diff", "diverged", "fine", "--json"],
            ["diff", "fine", "diverged", "--metrics", "--json"], ["diff", "diverged", "--json"],
            ["artifacts", "diverged", "--json"], ["snapshot", "--json"], ["show", "min:loss", "--json"],
            ["hooks", "status", "--json"], ["gc", "--dry-run", "--json"],
            ["checkout", "diverged", "--into", repo.folder.path + "/diverged-code", "--artifacts", "--json"],
        ]
        for arguments in outputs {
            let result = try repo.runExp(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("EncodingError"), "\(arguments)")
            _ = try strictJSON(result.stdout, repo)
        }
        // The values, as run.json writes them.
        let list = try #require(try strictJSON(try repo.runExp(["list", "--json"]).stdout, repo) as? [[String: Any]])
        let diverged = try #require(list.first { $0["name"] as? String == "diverged" })
        let summary = try #require(diverged["metrics"] as? [String: [String: Any]])
        #expect(summary["loss"]?["last"] as? String == "NaN")
        #expect(summary["gain"]?["last"] as? String == "Infinity")
        #expect(summary["drop"]?["last"] as? String == "-Infinity")
        #expect((diverged["params"] as? [String: Any])?["ratio"] as? String == "nan", "a param `nan` stays text")
        #expect(
            (diverged["started_at"] as? String)?.hasSuffix("Z") == true, "dates are ISO 8601 UTC, as in run.json")
        let points = try #require(
            try strictJSON(try repo.runExp(["metrics", "diverged", "--json"]).stdout, repo) as? [[String: Any]])
        let values = Set(points.compactMap { $0["value"] as? String })
        #expect(values == ["NaN", "Infinity", "-Infinity"])
        let diff = try #require(
            try strictJSON(try repo.runExp(["diff", "diverged", "fine", "--json"]).stdout, repo) as? [String: Any])
        let loss = try #require((diff["metrics"] as? [String: [String: Any]])?["loss"])
        #expect((loss["a"] as? [String: Any])?["last"] as? String == "NaN")

        // --follow of a sealed run: one JSON object per line.
        let follow = try repo.runExp(["metrics", "diverged", "--follow", "--json"])
        #expect(follow.status == 0, "\(follow.stderr)")
        let lines = follow.stdout.split(separator: "\n")
        #expect(lines.count == points.count)
        for line in lines { _ = try strictJSON(String(line), repo) }
    }

    @Test func csvWritesNaNAndInfinitiesAsDocumented() throws {
        let repo = try setUp()
        let metrics = try repo.runExp(["metrics", "diverged", "--csv"])
        #expect(metrics.status == 0, "\(metrics.stderr)")
        let rows = Set(metrics.stdout.split(separator: "\n").map(String.init))
        #expect(rows.contains("loss,2,,NaN,file"))
        #expect(rows.contains("gain,2,,inf,file"))
        #expect(rows.contains("drop,2,,-inf,file"))
        let list = try repo.runExp(["list", "--csv", "--columns", "name,loss,gain,drop,gain.max,drop.min,loss.min"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.split(separator: "\n").contains("diverged,NaN,inf,-inf,inf,-inf,0.5"))
        // Python reads them back as the same numbers.
        let check = try runProcess(
            [
                "python3", "-c",
                "import csv,sys,math; r=[x for x in csv.DictReader(sys.stdin) if x['name']=='diverged'][0]; "
                    + "print(math.isnan(float(r['loss'])), float(r['gain']), float(r['drop']))",
            ], in: repo.root, environment: repo.environment, stdin: list.stdout)
        #expect(check.stdout == "True inf -inf\n", "\(check.stderr)")
        // And the table on a terminal shows them too; the sparkline draws the finite values only.
        let show = try repo.runExp(["show", "diverged"])
        #expect(show.stdout.contains("  loss                     NaN         0.5         0.5         2       ▄\n"))
    }
}
