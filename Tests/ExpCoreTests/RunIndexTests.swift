import ExpCore
import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// A repository with `count` finished runs stored straight through ExpCore: params lr, bs,
/// opt (some runs lack some), metrics val_loss and acc (some lack acc), start times one
/// minute apart.
private final class IndexFixture {
    let repo: TestRepo
    let store: RunStore
    var runs: [RunRecord] = []
    let snapshot: Snapshot

    init(count: Int, seed: UInt64 = 7) throws {
        repo = try TestRepo()
        try repo.write("train.py", "print(1)\n")
        try repo.commitAll()
        let workspace = try Workspace(context: repo.context())
        store = RunStore(workspace: workspace)
        snapshot = try workspace.takeSnapshot()
        var random = SeededGenerator(seed: seed)
        for index in 0..<count { try add(index: index, random: &random) }
    }

    @discardableResult
    func add(
        index: Int, random: inout SeededGenerator, status: RunStatus = .succeeded, params: [String: ParamValue]? = nil,
        metrics: [String: Double]? = nil
    ) throws -> RunRecord {
        let started = Date(timeIntervalSince1970: 1_790_000_000 + Double(index) * 60)
        var chosen: [String: ParamValue] = [:]
        if let params {
            chosen = params
        } else {
            if Int.random(in: 0..<10, using: &random) > 0 {
                chosen["lr"] = .double([0.1, 0.01, 0.001, 0.0001].randomElement(using: &random)!)
            }
            chosen["bs"] = .int([16, 32, 64].randomElement(using: &random)!)
            if Bool.random(using: &random) { chosen["opt"] = .string(["adam", "sgd"].randomElement(using: &random)!) }
        }
        var values: [String: Double] = metrics ?? [:]
        if metrics == nil {
            values["val_loss"] = Double(Int.random(in: 0..<1000, using: &random)) / 1000
            if Int.random(in: 0..<4, using: &random) > 0 { values["acc"] = Double.random(in: 0.5...1, using: &random) }
        }
        let points = values.flatMap { key, value in
            [
                MetricPoint(key: key, step: 0, time: nil, value: value + 0.5, source: .file),
                MetricPoint(key: key, step: 1, time: nil, value: value, source: .file),
            ]
        }
        let record = RunRecord.finished(
            id: RunID.generate(at: started, using: &random), name: "run-\(index)", status: status,
            argv: ["python", "train.py"], params: chosen, startedAt: started, durationSeconds: Double(index),
            host: index % 2 == 0 ? "gpu01" : "gpu02", user: "tester", snapshot: snapshot)
        let stored = try store.storeFinished(record, points: points)
        runs.append(stored.record)
        return stored.record
    }

    var indexPath: String { store.workspace.stateDirectory + "/index.sqlite" }

    /// Names of the runs a query selects, in order.
    func names(_ filter: String? = nil, sort: [String] = [], limit: Int? = nil, all: Bool = true) throws -> [String] {
        var query = RunQuery(limit: limit, includeFailed: all)
        query.filter = try filter.map { try RunFilter(parsing: $0) }
        query.sort = try sort.map { try SortKey(parsing: $0) }
        return try store.runs(query).map(\.record.name)
    }

    /// A fresh store (a new process, as far as the index goes).
    func freshStore() throws -> RunStore { RunStore(workspace: try Workspace(context: repo.context())) }
}

private func lr(_ record: RunRecord) -> Double? {
    switch record.params["lr"] {
    case .double(let value): value
    case .int(let value): Double(value)
    default: nil
    }
}

@Suite("run index")
struct RunIndexTests {
    @Test("filters and sorts give what filtering the records by hand gives")
    func matchesBruteForce() throws {
        let fixture = try IndexFixture(count: 60)
        let newestFirst = fixture.runs.sorted { $0.startedAt > $1.startedAt }
        let cases: [(String, (RunRecord) -> Bool)] = [
            ("lr < 0.01", { (lr($0) ?? .infinity) < 0.01 }),
            ("lr >= 0.01 and bs = 32", { (lr($0) ?? -1) >= 0.01 && $0.params["bs"] == .int(32) }),
            (
                "opt = adam or acc > 0.9",
                { $0.params["opt"] == .string("adam") || ($0.metrics["acc"]?.last ?? 0) > 0.9 }
            ),
            ("not opt = adam", { $0.params["opt"] != nil && $0.params["opt"] != .string("adam") }),
            ("val_loss.min < 0.2", { ($0.metrics["val_loss"]?.min ?? 9) < 0.2 }),
            ("val_loss.max > 1.3", { ($0.metrics["val_loss"]?.max ?? 0) > 1.3 }),
            ("name ~ 'run-1*'", { $0.name.hasPrefix("run-1") }),
            ("host = gpu01 and duration < 20", { $0.host == "gpu01" && ($0.durationSeconds ?? 99) < 20 }),
        ]
        for (filter, predicate) in cases {
            #expect(try fixture.names(filter) == newestFirst.filter(predicate).map(\.name), "\(filter)")
        }
    }

    @Test("sorting puts runs without the key last, in both directions; ties go newest first")
    func sortMissingLast() throws {
        let fixture = try IndexFixture(count: 40)
        let withAcc = fixture.runs.filter { $0.metrics["acc"] != nil }
        let without = fixture.runs.filter { $0.metrics["acc"] == nil }.sorted { $0.startedAt > $1.startedAt }
        #expect(!without.isEmpty && !withAcc.isEmpty)
        let ascending = withAcc.sorted { $0.metrics["acc"]!.last < $1.metrics["acc"]!.last }.map(\.name)
        #expect(try fixture.names(sort: ["acc"]) == ascending + without.map(\.name))
        #expect(try fixture.names(sort: ["-acc"]) == ascending.reversed() + without.map(\.name))
        // Two keys: bs first, then newest first within each bs… unless a second key says otherwise.
        let byBatch = fixture.runs.sorted {
            let (a, b) = ($0.params["bs"]!.description, $1.params["bs"]!.description)
            return Int(a)! != Int(b)! ? Int(a)! > Int(b)! : $0.durationSeconds! < $1.durationSeconds!
        }
        #expect(try fixture.names(sort: ["-bs", "duration"]) == byBatch.map(\.name))
        #expect(try fixture.names(sort: ["-started"], limit: 3) == Array(fixture.runs.reversed().prefix(3).map(\.name)))
    }

    @Test("failed runs are hidden unless asked for, or unless the filter is about status")
    func failedHidden() throws {
        let fixture = try IndexFixture(count: 3)
        var random = SeededGenerator(seed: 1)
        try fixture.add(index: 3, random: &random, status: .failed)
        #expect(try fixture.names(all: false) == ["run-2", "run-1", "run-0"])
        #expect(try fixture.names(all: true) == ["run-3", "run-2", "run-1", "run-0"])
        #expect(try fixture.names("status = failed", all: false) == ["run-3"])
        var query = RunQuery()
        #expect(try fixture.store.hiddenFailedCount(query) == 1)
        query.includeFailed = true
        #expect(try fixture.store.hiddenFailedCount(query) == 0)
    }

    @Test("min:, max:, a filter after @, and tree: name the right run")
    func bestRuns() throws {
        let fixture = try IndexFixture(count: 30)
        let scored = fixture.runs.filter { $0.metrics["val_loss"] != nil }
        let lowest = scored.min { $0.metrics["val_loss"]!.min < $1.metrics["val_loss"]!.min }!
        #expect(try fixture.store.resolve(RunRef(parsing: "min:val_loss")).record.name == lowest.name)
        let highest = scored.max { ($0.metrics["acc"]?.max ?? -1) < ($1.metrics["acc"]?.max ?? -1) }!
        #expect(try fixture.store.resolve(RunRef(parsing: "max:acc")).record.name == highest.name)
        let small = scored.filter { (lr($0) ?? 1) < 0.01 }
        let bestSmall = small.min { $0.metrics["val_loss"]!.min < $1.metrics["val_loss"]!.min }!
        #expect(try fixture.store.resolve(RunRef(parsing: "min:val_loss@lr<0.01")).record.name == bestSmall.name)
        // .last compares last values (here the same order as min, which is last - 0.5).
        #expect(try fixture.store.resolve(RunRef(parsing: "min:val_loss.last")).record.name == lowest.name)
        #expect(throws: ExpError.self) { try fixture.store.resolve(RunRef(parsing: "min:nothing")) }
        #expect(throws: ExpError.self) { try fixture.store.resolve(RunRef(parsing: "min:val_loss@lr<")) }

        // tree: one run with a tree of its own is found by a prefix; a shared tree is ambiguous.
        try fixture.repo.write("train.py", "print(2)\n")
        let workspace = try Workspace(context: fixture.repo.context())
        let other = try workspace.takeSnapshot()
        var random = SeededGenerator(seed: 99)
        let record = RunRecord.finished(
            id: RunID.generate(at: Date(), using: &random), name: "edited", argv: ["true"], params: [:],
            startedAt: Date(), durationSeconds: 1, host: "h", user: "u", snapshot: other)
        try fixture.store.storeFinished(record, points: [])
        #expect(other.tree.hex == (try fixture.repo.gitAddAllTree()))
        #expect(try fixture.store.resolve(RunRef(parsing: "tree:" + other.tree.hex.prefix(8))).record.name == "edited")
        #expect(try fixture.store.runs(withSnapshotTree: other.tree).map(\.record.name) == ["edited"])
        #expect(try fixture.store.runs(withSnapshotTree: fixture.snapshot.tree).count == 30)
        #expect(throws: ExpError.self) {
            try fixture.store.resolve(RunRef(parsing: "tree:" + fixture.snapshot.tree.hex))
        }
    }

    @Test("refs changed behind exp's back: deleted, moved, and fetched from another clone")
    func refsChangedBehindTheBack() throws {
        let fixture = try IndexFixture(count: 5)
        #expect(try fixture.names().count == 5)
        let victim = fixture.runs[1]
        try fixture.repo.git(["update-ref", "-d", "refs/exp/runs/\(victim.id.rawValue)"])
        #expect(
            try fixture.freshStore().runs(RunQuery(includeFailed: true)).map(\.record.name) == [
                "run-4", "run-3", "run-2", "run-0",
            ])
        // Point run-0's ref at run-4's record: the index follows the ref, which now holds
        // another run's record (an alias), so it is a broken record, not run-4 twice.
        let moved = fixture.runs[0]
        let target = try fixture.repo.gitLine(["rev-parse", "refs/exp/runs/\(fixture.runs[4].id.rawValue)"])
        try fixture.repo.git(["update-ref", "refs/exp/runs/\(moved.id.rawValue)", target])
        #expect(try fixture.freshStore().allRuns().map(\.record.name) == ["run-4", "run-3", "run-2"])
        #expect(
            try fixture.freshStore().brokenRecords().map(\.reference) == ["refs/exp/runs/\(moved.id.rawValue)"])

        // Runs made in another clone arrive by fetch.
        let other = try IndexFixture(count: 4, seed: 11)
        try fixture.repo.git(["fetch", "-q", other.repo.root, "refs/exp/runs/*:refs/exp/runs/*"])
        #expect(try fixture.freshStore().allRuns().count == 7)
        // git gc packs the refs: nothing changes for the index.
        try fixture.repo.git(["pack-refs", "--all"])
        #expect(try fixture.freshStore().allRuns().count == 7)
        #expect(try fixture.freshStore().brokenRecords().count == 1)
    }

    @Test("a ref changed just after the index trusted the ref folders' times is seen")
    func refsChangedRightAfterAStampedLook() throws {
        let fixture = try IndexFixture(count: 4)
        // Old enough folders: this look stores their stat data, later looks trust it.
        usleep(300_000)
        #expect(try fixture.freshStore().allRuns().count == 4)
        try fixture.repo.git(["update-ref", "-d", "refs/exp/runs/\(fixture.runs[0].id.rawValue)"])
        #expect(try fixture.freshStore().allRuns().map(\.record.name) == ["run-3", "run-2", "run-1"])
        usleep(300_000)
        #expect(try fixture.freshStore().allRuns().count == 3)
        // Moved in place (the same folder entries): the folder's time still changes.
        let target = try fixture.repo.gitLine(["rev-parse", "refs/exp/runs/\(fixture.runs[3].id.rawValue)"])
        try fixture.repo.git(["update-ref", "refs/exp/runs/\(fixture.runs[1].id.rawValue)", target])
        #expect(try fixture.freshStore().allRuns().map(\.record.name) == ["run-3", "run-2"])
        usleep(300_000)
        #expect(try fixture.freshStore().allRuns().count == 2)
        try fixture.repo.git(["pack-refs", "--all"])
        try fixture.repo.git(["update-ref", "-d", "refs/exp/runs/\(fixture.runs[2].id.rawValue)"])
        #expect(try fixture.freshStore().allRuns().map(\.record.name) == ["run-3"])
    }

    /// An index written before broken records were kept (schema v1) may list a run under a
    /// second ref that points at its record; once upgraded, every ref is read again, so the
    /// run is listed once and the other ref is a broken record.
    @Test func indexFromBeforeBrokenRecordsIsReadAgain() throws {
        let fixture = try IndexFixture(count: 3)
        let original = try fixture.repo.gitLine(["rev-parse", "refs/exp/runs/\(fixture.runs[2].id.rawValue)"])
        let alias = "refs/exp/runs/1a1asaaaaaaaaaaaaaaaaaaaaa"
        try fixture.repo.git(["update-ref", alias, original])
        #expect(try fixture.names().count == 3)
        // As the earlier exp left it: no broken table, and the second ref as a run of its own.
        let python = """
            import sqlite3,sys
            c = sqlite3.connect(sys.argv[1])
            c.execute("DROP TABLE broken")
            c.execute("DELETE FROM grdb_migrations WHERE identifier LIKE 'v2%'")
            cols = [r[1] for r in c.execute("PRAGMA table_info(runs)") if r[1] not in ('run', 'ref')]
            names = ", ".join(cols)
            c.execute(f"INSERT INTO runs (ref, {names}) SELECT ?, {names} FROM runs WHERE name = 'run-2'", (sys.argv[2],))
            new = c.execute("SELECT run FROM runs WHERE ref = ?", (sys.argv[2],)).fetchone()[0]
            c.execute("INSERT INTO records (run, json) SELECT ?, json FROM records JOIN runs USING (run) WHERE runs.name = 'run-2' AND runs.run != ?", (new, new))
            c.commit()
            """
        let result = try runProcess(
            ["python3", "-c", python, fixture.indexPath, alias], in: "/", environment: fixture.repo.environment)
        #expect(result.status == 0, "\(result.stderr)")
        let store = try fixture.freshStore()
        #expect(try store.allRuns().map(\.record.name) == ["run-2", "run-1", "run-0"])
        #expect(try store.brokenRecords().map(\.reference) == [alias])
    }

    @Test(
        "a damaged, foreign or older index is rebuilt and gives the same answer",
        arguments: ["delete", "random", "truncate", "older", "empty"])
    func selfHealing(_ damage: String) throws {
        let fixture = try IndexFixture(count: 12)
        let expected = try fixture.names("lr < 0.01", sort: ["val_loss"])
        let path = fixture.indexPath
        #expect(FileManager.default.fileExists(atPath: path))
        for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        switch damage {
        case "delete":
            try FileManager.default.removeItem(atPath: path)
        case "random":
            var random = SeededGenerator(seed: 5)
            let bytes = (0..<65536).map { _ in UInt8.random(in: 0...255, using: &random) }
            try Data(bytes).write(to: URL(fileURLWithPath: path))
        case "truncate":
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            try data.prefix(data.count / 3).write(to: URL(fileURLWithPath: path))
        case "older":
            try FileManager.default.removeItem(atPath: path)
            let python =
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); "
                + "c.execute('create table runs (id text, name text)'); "
                + "c.execute(\"insert into runs values ('x', 'stale')\"); c.commit()"
            #expect(
                try runProcess(["python3", "-c", python, path], in: "/", environment: fixture.repo.environment).status
                    == 0)
        default:
            try Data().write(to: URL(fileURLWithPath: path))
        }
        #expect(try fixture.freshStore().runs(RunQuery()).count == 12)
        let store = try fixture.freshStore()
        var query = RunQuery(includeFailed: true)
        query.filter = try RunFilter(parsing: "lr < 0.01")
        query.sort = [SortKey(key: "val_loss", descending: false)]
        #expect(try store.runs(query).map(\.record.name) == expected)
        #expect(try store.indexLocation().inMemory == false)
    }

    @Test("rm, rename and note change the record through the ref, and the index follows")
    func housekeeping() throws {
        let fixture = try IndexFixture(count: 3)
        let store = try fixture.freshStore()
        let first = try store.resolve(RunRef(parsing: "run-0"))
        let renamed = try store.renameRun(first, to: "baseline")
        #expect(renamed.record.id == first.record.id)
        #expect(try store.resolve(RunRef(parsing: "baseline")).record.id == first.record.id)
        #expect(throws: ExpError.self) { try store.resolve(RunRef(parsing: "run-0")) }
        #expect(throws: ExpError.self) { try store.renameRun(renamed, to: "run-1") }
        #expect(throws: ExpError.self) { try store.renameRun(renamed, to: "bad name") }
        // The other files of the record are kept.
        let files = try fixture.repo.git(["ls-tree", "--name-only", renamed.commit.hex])
        #expect(files == "metrics.jsonl\noutput.log\nrun.json\n")
        #expect(try fixture.repo.gitLine(["rev-parse", renamed.commit.hex + "^"]) == first.record.snapshot.commit.hex)

        let noted = try store.setNote(try store.resolve(RunRef(parsing: "baseline")), "  the good one ")
        #expect(noted.record.note == "the good one")
        #expect(try fixture.freshStore().resolve(RunRef(parsing: "baseline")).record.note == "the good one")
        #expect(try fixture.names("note ~ '*good*'") == ["baseline"])

        try store.remove(try store.resolve(RunRef(parsing: "run-1")))
        #expect(try fixture.freshStore().allRuns().map(\.record.name) == ["run-2", "baseline"])
        #expect(try fixture.repo.git(["for-each-ref", "refs/exp/runs"]).split(separator: "\n").count == 2)
        let fsck = try runProcess(
            ["git", "fsck", "--strict"], in: fixture.repo.root, environment: fixture.repo.environment)
        #expect(fsck.status == 0, "\(fsck.stderr)")
    }

    @Test("unknown keys in --sort and bad values are errors that name the key")
    func badKeysAndValues() throws {
        let fixture = try IndexFixture(count: 4)
        #expect(throws: ExpError.self) { try fixture.names(sort: ["nope"]) }
        for filter in ["nope < 1", "val_loss < abc", "status = done", "started > tomorrow", "base < abc"] {
            #expect(throws: RunFilterError.self, "\(filter)") { try fixture.names(filter) }
        }
        #expect(
            try fixture.names("params.lr > 0.05 or metrics.val_loss < 0")
                == fixture.runs.filter {
                    (lr($0) ?? 0) > 0.05
                }.sorted { $0.startedAt > $1.startedAt }.map(\.name))
    }
}
