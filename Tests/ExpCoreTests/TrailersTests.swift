import ExpGit
import ExpTestSupport
import Foundation
import Testing

@testable import ExpCore

@Suite("Commit trailers (git interpret-trailers as the oracle)")
struct TrailersTests {
    static let messages: [String] = [
        "",
        "\n",
        "Subject\n",
        "Subject",
        "Subject\n\nBody text\n",
        "Subject\n\nBody text\n\n\n# comment\n",
        "\n# Please enter the commit message for your changes.\n#\n# On branch main\n",
        "Subject\n\n# Please enter the commit message\n# more\n",
        "Subject\n\nSigned-off-by: A <a@example.com>\n",
        "Subject\n\nbody\n\nSigned-off-by: A <a@example.com>\nReviewed-by: B\n\n# comment\n",
        "Subject\nNot: a trailer, the title\n",
        "Subject\n\nbody\n# comment in the middle\nmore\n",
        "Subject\n\nToken: value\n  continued value\n",
        "Subject\n\nsome text\nSigned-off-by: A <a@example.com>\nmore text\n",
        "Subject\n\nplain: words here\nand more words\n",
        "Subject\n\nbody\n# ------------------------ >8 ------------------------\ndiff --git a/x b/x\n",
        "Subject\n\nbody\n\nConflicts:\n\tfile.txt\n",
        "Fix: a title that looks like a trailer\n\nBody\n",
    ]

    @Test(arguments: messages)
    func matchesGitInterpretTrailers(_ message: String) throws {
        let repo = try TestRepo()
        let trailers = ["Exp-Run: brave-otter 1ngqd0qpr3 loss=0.5", "Exp-Run: … and 2 more"]
        try repo.write("message.txt", message)
        let oracle = try repo.git(
            ["interpret-trailers"] + trailers.flatMap { ["--trailer", $0] } + ["message.txt"])
        #expect(CommitTrailers.add(trailers, to: message) == oracle, "message: \(message.debugDescription)")
    }

    @Test func recognisesExistingTrailersOutsideComments() {
        #expect(CommitTrailers.contains(token: "Exp-Run", in: "S\n\nExp-Run: a b\n"))
        #expect(CommitTrailers.contains(token: "exp-run", in: "S\n\nExp-Run: a b\n"))
        #expect(!CommitTrailers.contains(token: "Exp-Run", in: "S\n\n# Exp-Run: a b\n"))
        #expect(!CommitTrailers.contains(token: "Exp-Run", in: "S\n\nbody\n"))
    }

    @Test func otherCommentCharacter() throws {
        let repo = try TestRepo()
        let message = "Subject\n\n; comment\n"
        try repo.write("message.txt", message)
        let oracle = try repo.git([
            "-c", "core.commentChar=;", "interpret-trailers", "--trailer", "A: b", "message.txt",
        ])
        #expect(CommitTrailers.add(["A: b"], to: message, commentChar: ";") == oracle)
    }
}

@Suite("Best run by a metric")
struct BestRunTests {
    func run(_ name: String, _ metrics: [String: (last: Double, min: Double, max: Double)], second: Int = 0)
        throws -> StoredRun
    {
        let id = try #require(RunID(String(repeating: "0", count: 25) + String(second)))
        let summaries = metrics.mapValues { MetricSummary(last: $0.last, min: $0.min, max: $0.max, count: 3) }
        let snapshot = RunRecord.SnapshotSummary(
            Snapshot(
                commit: ObjectID.emptyTree, tree: ObjectID.emptyTree, clean: true, counts: ChangeCounts(),
                skipped: []))
        let record = RunRecord(
            id: id, name: name, status: .succeeded, message: nil, exitCode: 0, signal: nil, error: nil, argv: ["true"],
            cwd: ".", startedAt: Date(timeIntervalSince1970: Double(second)), endedAt: nil, durationSeconds: nil,
            host: "h", user: "u", base: .init(commit: nil, branch: nil), snapshot: snapshot, params: [:],
            environment: nil, variables: [:], metrics: summaries, skippedMetricLines: 0, links: .init(),
            reproduces: nil, supervisor: nil)
        return StoredRun(record: record, commit: ObjectID.emptyTree, isLive: false)
    }

    @Test func parsing() throws {
        #expect(BestRunCriterion(parsing: "min:val_loss") == BestRunCriterion(direction: .min, key: "val_loss"))
        #expect(
            BestRunCriterion(parsing: "max:acc.max") == BestRunCriterion(direction: .max, key: "acc", summary: .max))
        #expect(
            BestRunCriterion(parsing: "min:loss@lr<0.01")
                == BestRunCriterion(direction: .min, key: "loss", filter: "lr<0.01"))
        #expect(BestRunCriterion(parsing: "min:") == nil)
        #expect(BestRunCriterion(parsing: "loss") == nil)
        #expect(BestRunCriterion(parsing: "median:loss") == nil)
        #expect(BestRunCriterion(parsing: "min:loss.min")?.description == "min:loss.min")
    }

    @Test func picksByLastByDefaultAndBySummaryWhenAsked() throws {
        let a = try run("a", ["loss": (last: 0.5, min: 0.1, max: 0.9)], second: 1)
        let b = try run("b", ["loss": (last: 0.3, min: 0.3, max: 0.8)], second: 2)
        let c = try run("c", ["acc": (last: 0.9, min: 0.1, max: 0.9)], second: 3)
        let runs = [a, b, c]
        #expect(BestRunCriterion(parsing: "min:loss")?.best(of: runs)?.record.name == "b")
        #expect(BestRunCriterion(parsing: "min:loss.min")?.best(of: runs)?.record.name == "a")
        #expect(BestRunCriterion(parsing: "max:loss")?.best(of: runs)?.record.name == "a")
        #expect(BestRunCriterion(parsing: "max:acc")?.best(of: runs)?.record.name == "c")
        #expect(BestRunCriterion(parsing: "min:nothing")?.best(of: runs) == nil)
    }

    @Test func nanNeverWinsAndTiesGoToTheNewest() throws {
        let nan = try run("nan", ["loss": (last: .nan, min: .nan, max: .nan)], second: 1)
        let old = try run("old", ["loss": (last: 0.2, min: 0.2, max: 0.2)], second: 2)
        let new = try run("new", ["loss": (last: 0.2, min: 0.2, max: 0.2)], second: 3)
        let criterion = try #require(BestRunCriterion(parsing: "min:loss"))
        #expect(criterion.best(of: [nan, old, new])?.record.name == "new")
        #expect(criterion.best(of: [new, old, nan])?.record.name == "new")
        #expect(criterion.best(of: [nan]) == nil)
    }

    @Test func autotagValues() throws {
        #expect(try AutoTagPolicy(parsing: "all") == .all)
        #expect(try AutoTagPolicy(parsing: "none") == .none)
        #expect(try AutoTagPolicy(parsing: "false") == .none)
        #expect(try AutoTagPolicy(parsing: "min:loss") == .best(BestRunCriterion(direction: .min, key: "loss")))
        #expect(throws: ExpError.self) { try AutoTagPolicy(parsing: "best") }
        #expect(throws: ExpError.self) { try AutoTagPolicy(parsing: "min:loss@lr<1") }
    }
}
