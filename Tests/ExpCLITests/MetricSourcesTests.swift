import ExpTestSupport
import Foundation
import Testing

/// examples/train.py of this package.
private let exampleScript =
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path + "/examples/train.py"

/// A repository holding the example training script, with log folders ignored.
private func exampleRepo() throws -> TestRepo {
    let repo = try TestRepo()
    let script = try #require(FileManager.default.contents(atPath: exampleScript))
    try repo.write("train.py", String(decoding: script, as: UTF8.self))
    try repo.write(".gitignore", "logs/\ntb/\noutputs/\n")
    try repo.commitAll()
    return repo
}

/// `exp metrics RUN --json` as (key, step, value, source) rows.
private func points(_ repo: TestRepo, _ run: String) throws -> [(
    key: String, step: Double?, value: Double, source: String
)] {
    let result = try repo.expLive(["metrics", run, "--json"])
    let array = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
    return array.map {
        (
            $0["key"] as? String ?? "", $0["step"] as? Double, $0["value"] as? Double ?? .nan,
            $0["source"] as? String ?? ""
        )
    }
}

@Suite("Metrics and params with no code change", .serialized)
struct MetricSourcesTests {
    @Test("the example script's metrics from each source: metrics file, output, Lightning CSV, TensorBoard")
    func eachSource() throws {
        let repo = try exampleRepo()
        let run = ["run", "--", "python3", "train.py", "--epochs", "4", "--samples", "60"]

        #expect(try repo.expLive(["run", "--name", "file"] + run.dropFirst()).status == 0)
        let file = try points(repo, "file")
        #expect(file.filter { $0.key == "loss" }.map(\.source) == ["file", "file", "file", "file"])
        #expect(file.filter { $0.key == "loss" }.map(\.step) == [1, 2, 3, 4])

        #expect(try repo.expLive(["run", "--name", "out"] + run.dropFirst() + ["--no-metrics-file"]).status == 0)
        let output = try points(repo, "out")
        #expect(output.filter { $0.key == "loss" }.map(\.source) == ["stdout", "stdout", "stdout", "stdout"])
        #expect(output.filter { $0.key == "acc" }.map(\.step) == [1, 2, 3, 4])

        let csvRun = ["run", "--name", "csv"] + run.dropFirst() + ["--no-metrics-file", "--csv-log", "logs"]
        #expect(try repo.expLive(csvRun).status == 0)
        let csv = try points(repo, "csv")
        #expect(csv.filter { $0.key == "train_loss" }.map(\.source) == ["csv", "csv", "csv", "csv"])
        // val_acc arrived after the first write: Lightning rewrote the file with a new header.
        #expect(csv.filter { $0.key == "val_acc" }.map(\.step) == [3, 4])
        let csvShow = try repo.expLive(["show", "csv", "--json"])
        let csvRecord = try #require(
            try JSONSerialization.jsonObject(with: Data(csvShow.stdout.utf8)) as? [String: Any])
        let params = try #require(csvRecord["params"] as? [String: Any])
        #expect(params["hidden"] as? Int == 8)  // from hparams.yaml only
        let files = try #require(csvRecord["param_files"] as? [String: [String: Any]])
        #expect(files["logs/lightning_logs/version_0/hparams.yaml"]?["lr"] as? Double == 0.5)

        let tbRun = ["run", "--name", "tb"] + run.dropFirst() + ["--no-metrics-file", "--tb-log", "tb"]
        #expect(try repo.expLive(tbRun).status == 0)
        let tensorboard = try points(repo, "tb")
        let loss = tensorboard.filter { $0.key == "train/loss" }
        #expect(loss.map(\.source) == ["tensorboard", "tensorboard", "tensorboard", "tensorboard"])
        #expect(loss.map(\.step) == [1, 2, 3, 4])
        // The same loss printed (stdout) and logged to TensorBoard: both kept, under their keys.
        let printed = tensorboard.filter { $0.key == "loss" }.map(\.value)
        #expect(zip(printed, loss.map(\.value)).allSatisfy { abs($0 - $1) < 0.0001 })

        // A second CSV run writes version_1: version_0, older than the run, is not read again.
        #expect(try repo.expLive(["run", "--name", "csv2"] + csvRun.dropFirst(3)).status == 0)
        let csv2 = try points(repo, "csv2")
        #expect(csv2.filter { $0.key == "train_loss" }.count == 4)
        let show = try repo.expLive(["show", "csv2", "--json"]).stdout
        #expect(show.contains("version_1/hparams.yaml") && !show.contains("version_0/hparams.yaml"))
    }

    @Test("the same key and step from several sources is kept once: file > tensorboard > csv > stdout")
    func dedupAcrossSources() throws {
        let repo = try exampleRepo()
        try repo.write(
            "all.py",
            """
            import os, sys
            sys.path.insert(0, ".")
            from train import TensorBoardEvents
            # At step 1: m from all four sources, n from three, o from two; m alone at step 2.
            os.makedirs("logs/lightning_logs/version_0")
            with open("logs/lightning_logs/version_0/metrics.csv", "w") as f:
                f.write("m,n,o,step\\r\\n3.0,3.0,3.0,1\\r\\n")
            TensorBoardEvents("tb").scalars({"m": 2.0, "n": 2.0}, step=1)
            print("step 1 m=4.0 n=4.0 o=4.0")
            print("step 2 m=5.0")
            with open(os.environ["EXP_METRICS_FILE"], "a") as f:
                f.write('{"step": 1, "m": 1.0}\\n')

            """)
        #expect(try repo.expLive(["run", "--name", "all", "--", "python3", "all.py"]).status == 0)
        let all = try points(repo, "all")
        let m = all.filter { $0.key == "m" }
        #expect(m.map(\.source) == ["file", "stdout"])
        #expect(m.map(\.value) == [1, 5])
        #expect(all.filter { $0.key == "n" }.map(\.source) == ["tensorboard"])
        #expect(all.filter { $0.key == "o" }.map(\.source) == ["csv"])
        #expect(all.filter { $0.key == "o" }.map(\.value) == [3])
    }

    @Test("Hydra's .hydra files and --params-file give params; the command line wins, files are kept")
    func hydraAndParamsFile() throws {
        let repo = try exampleRepo()
        try repo.write("conf.toml", "lr = 0.1\nseed = 3\n[model]\nlayers = 4\n")
        try repo.write(
            "hydra.sh",
            """
            d=outputs/2026-01-02/03-04-05/.hydra
            mkdir -p $d
            printf 'model:\\n  layers: 8\\n  act: relu\\noptimizer:\\n  name: adam\\n  lr: 0.002\\n' > $d/config.yaml
            printf -- '- optimizer.lr=0.002\\n- +extra=1\\n' > $d/overrides.yaml
            """)
        let result = try repo.expLive([
            "run", "--name", "h", "--params-file", "conf.toml", "--", "sh", "hydra.sh", "--lr", "0.01",
        ])
        #expect(result.status == 0)
        let show = try repo.expLive(["show", "h", "--json"])
        let record = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        let params = try #require(record["params"] as? [String: Any])
        #expect(params["lr"] as? Double == 0.01)  // command line over conf.toml
        #expect(params["seed"] as? Int == 3)
        #expect(params["model.act"] as? String == "relu")
        #expect(params["optimizer.name"] as? String == "adam")
        #expect(params["extra"] as? Int == 1)
        let files = try #require(record["param_files"] as? [String: [String: Any]])
        #expect(files["conf.toml"]?["lr"] as? Double == 0.1)
        #expect(files["conf.toml"]?["model.layers"] as? Int == 4)
        #expect(files["outputs/2026-01-02/03-04-05/.hydra/config.yaml"]?["model.layers"] as? Int == 8)
        #expect(files["outputs/2026-01-02/03-04-05/.hydra/overrides.yaml"]?["optimizer.lr"] as? Double == 0.002)

        let bad = try repo.expLive(["run", "--params-file", "missing.yaml", "--", "true"])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("could not read params file"))
    }

    @Test("a running run's CSV metrics show live, --follow streams them, and a killed exp keeps them")
    func liveFollowAndLost() throws {
        let repo = try exampleRepo()
        try repo.write(
            "slow.py",
            """
            import os, sys, time
            os.makedirs("logs/lightning_logs/version_0", exist_ok=True)
            path = "logs/lightning_logs/version_0/metrics.csv"
            with open(path, "w") as f:
                f.write("step,train_loss\\r\\n")
            for step in range(int(sys.argv[1])):
                with open(path, "a") as f:
                    f.write(f"{step},{1 / (step + 1)}\\r\\n")
                print(f"step {step} acc: 0.{step}", flush=True)
                time.sleep(0.3)
            time.sleep(float(sys.argv[2]))

            """)
        let exp = try startExp(repo, ["run", "--name", "live", "--", "python3", "slow.py", "6", "0"])
        #expect(try waitUntil { try liveRun(repo) != nil })
        #expect(
            try waitUntil(15) {
                try repo.expLive(["show", "live"]).stdout.contains("train_loss")
            })
        #expect(try repo.expLive(["list"]).stdout.contains("train_loss"))
        // Output scalars read so far come from the live folder's binary files.
        #expect(
            try waitUntil(15) {
                try points(repo, "live").contains { $0.key == "acc" && $0.source == "stdout" && $0.step == 0 }
            })
        let followed = try repo.expLive(["metrics", "live", "--follow", "--csv", "train_loss"])
        exp.waitUntilExit()
        let rows = followed.stdout.split(separator: "\n").dropFirst()
        #expect(rows.count == 6)
        #expect(rows.allSatisfy { $0.hasSuffix(",csv") })
        #expect(Set(rows.map { $0.split(separator: ",")[1] }) == ["0", "1", "2", "3", "4", "5"])

        // exp killed while the command runs: the CSV points read so far survive in the lost run.
        let doomed = try startExp(repo, ["run", "--name", "doomed", "--", "python3", "slow.py", "3", "8"])
        #expect(try waitUntil { try liveRun(repo) != nil })
        let live = try #require(try liveRun(repo))
        let child = try #require((live["supervisor"] as? [String: Any])?["child_pid"] as? Int)
        defer { kill(Int32(child), SIGKILL) }
        let folder = repo.root + "/.git/exp/runs/\(live["id"] as? String ?? "")"
        #expect(
            try waitUntil(15) {
                (try? String(contentsOfFile: folder + "/metrics.imported.jsonl", encoding: .utf8))?
                    .components(separatedBy: "train_loss").count == 4
            })
        // The output scalars printed before the command went quiet are saved in the live folder
        // too (the lost run is sealed from what was saved; the output is not read again).
        #expect(try waitUntil(15) { try points(repo, "doomed").filter { $0.key == "acc" }.count == 3 })
        kill(doomed.processIdentifier, SIGKILL)
        doomed.waitUntilExit()
        try FileManager.default.removeItem(atPath: repo.root + "/logs")  // gone with the dead run
        let lost = try points(repo, "doomed")
        #expect(try repo.expLive(["show", "doomed"]).stdout.contains("lost"))
        #expect(lost.filter { $0.key == "train_loss" }.map(\.step) == [0, 1, 2])
        #expect(lost.filter { $0.key == "acc" }.count == 3)
    }
}
