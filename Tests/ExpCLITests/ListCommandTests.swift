import ExpTestSupport
import Foundation
import Testing

/// Three runs with params that differ (lr, model) and one that does not (epochs), and
/// metrics printed by the command.
private func sweepRepo() throws -> TestRepo {
    let repo = try TestRepo()
    try repo.write("train.py", "print('hello')\n")
    try repo.commitAll()
    let runs: [(String, String, String, String)] = [
        ("alpha", "0.1", "resnet50-pretrained-imagenet-v2", "loss: 0.52 acc: 0.81 validation_accuracy_top5: 0.97"),
        ("beta", "0.01", "vit-b16", "loss: 0.31 acc: 0.88 validation_accuracy_top5: 0.99"),
        ("gamma", "0.001", "small", "loss: 0.77"),
    ]
    for (name, lr, model, output) in runs {
        let result = try repo.exp([
            "run", "--name", name, "--", "sh", "-c", "echo '\(output)'", "--lr", lr, "--model", model, "--epochs", "10",
        ])
        #expect(result.status == 0, "\(result.stderr)")
    }
    #expect(try repo.exp(["run", "--name", "broken", "--", "sh", "-c", "exit 3"]).status == 3)
    return repo
}

/// Run ids are random: the same number of x's keeps the layout.
private func maskIDs(_ text: String, _ repo: TestRepo) throws -> String {
    var text = text
    let listed = try repo.exp(["list", "--all", "--csv", "--columns", "id"]).stdout
    for id in listed.split(separator: "\n").dropFirst() {
        text = text.replacingOccurrences(of: String(id.prefix(10)), with: String(repeating: "x", count: 10))
    }
    return text
}

@Suite("exp list")
struct ListCommandTests {
    @Test("on a terminal the table fits 80 and 200 columns; equal params fold into one line", arguments: [80, 200])
    func golden(_ columns: Int) throws {
        let repo = try sweepRepo()
        let command = "\(expBinaryPath()) list --sort name"
        var environment = repo.environment
        environment["COLUMNS"] = String(columns)
        environment["NO_COLOR"] = "1"
        let result = try runProcess(["script", "-qec", command, "/dev/null"], in: repo.root, environment: environment)
        #expect(result.status == 0)
        let text = try maskIDs(result.stdout.replacingOccurrences(of: "\r\n", with: "\n"), repo)
        for line in text.split(separator: "\n") { #expect(line.count <= columns, "\(line)") }
        try Golden.expect(text, matches: "list-\(columns).stdout")
    }

    @Test("in a pipe nothing is cut, and failed runs are left out with a note")
    func pipe() throws {
        let repo = try sweepRepo()
        let result = try repo.exp(["list", "--sort", "name"])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("NAME "))
        #expect(lines[1].hasPrefix("alpha ") && lines[1].contains("resnet50-pretrained-imagenet-v2"))
        let command = #"sh -c 'echo '\''loss: 0.52 acc: 0.81 validation_accuracy_top5: 0.97'\''' --lr 0.1"#
        #expect(lines[1].hasSuffix(command + " --model resnet50-pretrained-imagenet-v2 --epochs 10"))
        #expect(!result.stdout.contains("broken"))
        #expect(result.stderr.contains("1 failed run not shown; --all shows them"))
        #expect(try repo.exp(["list", "--all"]).stdout.contains("broken"))
    }

    @Test("--where, --sort, --columns and --limit, as CSV and JSON")
    func filtersAndFormats() throws {
        let repo = try sweepRepo()
        let csv = try repo.exp([
            "list", "--where", "lr < 0.05", "--sort=-loss", "--columns", "name,lr,loss,acc.max", "--csv",
        ])
        #expect(csv.status == 0)
        #expect(csv.stdout == "name,lr,loss,acc.max\ngamma,0.001,0.77,\nbeta,0.01,0.31,0.88\n")
        let limited = try repo.exp(["list", "--sort", "loss", "--limit", "1", "--json"])
        let records = try #require(
            try JSONSerialization.jsonObject(with: Data(limited.stdout.utf8)) as? [[String: Any]])
        #expect(records.map { $0["name"] as? String } == ["beta"])
        #expect(records.first?["record_commit"] is String)
        let quoted = try repo.exp([
            "list", "--where", "model ~ '*-*' and status = succeeded", "--columns", "name", "--csv",
        ])
        #expect(quoted.stdout == "name\nbeta\nalpha\n" || quoted.stdout == "name\nalpha\nbeta\n")
        let failed = try repo.exp(["list", "--where", "status = failed", "--columns", "name,exit", "--csv"])
        #expect(failed.stdout == "name,exit\nbroken,3\n")
    }

    @Test("a bad --where points at the column where it failed")
    func badExpression() throws {
        let repo = try sweepRepo()
        let result = try repo.exp(["list", "--where", "lr < 0.1 and"])
        #expect(result.status == 2)
        let caret = String(repeating: " ", count: 14) + "^"
        #expect(result.stderr.contains("at column 13\n  lr < 0.1 and\n\(caret)\n"))
        #expect(result.stderr.hasPrefix("exp: error: --where: expected a condition such as 'lr < 0.01' at column 13"))
        let unknown = try repo.exp(["list", "--where", "los < 1"])
        #expect(
            unknown.stderr.contains("no run has a field, param or metric named 'los' (did you mean loss?) at column 1"))
        let sort = try repo.exp(["list", "--sort", "nope"])
        #expect(
            sort.status == 1 && sort.stderr.contains("cannot sort: no run has a field, param or metric named 'nope'"))
    }

    @Test("best-run and tree references work wherever RUN is accepted")
    func bestRunReferences() throws {
        let repo = try sweepRepo()
        #expect(try repo.exp(["show", "min:loss", "--json"]).stdout.contains("\"name\" : \"beta\""))
        #expect(try repo.exp(["show", "max:loss@lr<0.05", "--json"]).stdout.contains("\"name\" : \"gamma\""))
        let log = try repo.exp(["log", "max:acc"])
        #expect(log.stdout == "loss: 0.31 acc: 0.88 validation_accuracy_top5: 0.99\n")
        let tree = try repo.gitLine(["rev-parse", "HEAD^{tree}"])
        let ambiguous = try repo.exp(["show", "tree:\(tree)"])
        #expect(ambiguous.status == 1 && ambiguous.stderr.contains("runs ran that code"))
        let bad = try repo.exp(["show", "min:loss@lr<"])
        #expect(bad.status == 2 && bad.stderr.contains("expected a value after '<' at column 13"))
    }

    @Test("rm, rename, note and reindex from the command line")
    func housekeeping() throws {
        let repo = try sweepRepo()
        let renamed = try repo.exp(["rename", "alpha", "baseline"])
        #expect(renamed.status == 0 && renamed.stdout.hasPrefix("renamed alpha to baseline ("))
        #expect(try repo.exp(["note", "baseline", "keep", "this"]).status == 0)
        #expect(try repo.exp(["note", "baseline"]).stdout == "keep this\n")
        #expect(try repo.exp(["show", "baseline"]).stdout.contains("\nnote       keep this\n"))
        let clash = try repo.exp(["rename", "baseline", "beta"])
        #expect(clash.status == 1 && clash.stderr.contains("a run named 'beta' already exists"))

        let typo = try repo.exp(["rm", "gamma", "no-such-run"])
        #expect(typo.status == 1)
        #expect(
            try repo.exp(["list", "--columns", "name", "--csv", "--sort", "name"]).stdout
                == "name\nbaseline\nbeta\ngamma\n")
        let removed = try repo.exp(["rm", "gamma", "broken"])
        #expect(
            removed.status == 0 && removed.stdout.contains("removed gamma ")
                && removed.stdout.contains("removed broken "))
        #expect(
            try repo.exp(["list", "--all", "--columns", "name", "--csv", "--sort", "name"]).stdout
                == "name\nbaseline\nbeta\n")
        #expect(try repo.git(["for-each-ref", "refs/exp/runs"]).split(separator: "\n").count == 2)

        let reindexed = try repo.exp(["reindex"])
        #expect(reindexed.status == 0 && reindexed.stdout.hasPrefix("indexed 2 runs in "))
        #expect(
            try repo.exp(["list", "--columns", "name,note", "--csv", "--sort", "name"]).stdout
                == "name,note\nbaseline,keep this\nbeta,\n")
        try repo.git(["fsck", "--strict", "--no-progress"])
    }
}

@Suite("exp list with a locked index")
struct LockedIndexTests {
    @Test("an index another process keeps locked is bypassed, and the answer is still right")
    func lockedForever() throws {
        let repo = try sweepRepo()
        let index = repo.root + "/.git/exp/index.sqlite"
        // A new run changes the refs, so the next list must write to the index.
        #expect(try repo.exp(["run", "--name", "delta", "--", "true"]).status == 0)
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        holder.arguments = [
            "python3", "-c",
            "import sqlite3,sys,time; c=sqlite3.connect(sys.argv[1], isolation_level=None); "
                + "c.execute('begin exclusive'); print('locked', flush=True); time.sleep(60)",
            index,
        ]
        let pipe = Pipe()
        holder.standardOutput = pipe
        try holder.run()
        defer { holder.terminate() }
        #expect(String(decoding: pipe.fileHandleForReading.readData(ofLength: 7), as: UTF8.self) == "locked\n")
        let listed = try repo.exp(["list", "--columns", "name", "--csv", "--sort", "name"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout == "name\nalpha\nbeta\ndelta\ngamma\n")
    }
}
