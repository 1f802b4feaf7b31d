import ExpTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("Journeys: reproducible identity (EXP_SEED, EXP_HOST, EXP_USER, EXP_NOW)")
struct JourneysIdentityTests {
    static let identity = [
        "EXP_SEED": "7", "EXP_HOST": "h", "EXP_USER": "u", "EXP_NOW": "2026-01-01T00:00:00Z",
    ]

    /// What one `exp run` leaves in a fresh copy of the one-commit fixture.
    struct Outcome: Equatable {
        var id: String
        var name: String
        var list: String
        var showJSON: String
        var recordCommit: String
        var runningRecordCommit: String
    }

    func runInFreshCopy() throws -> Outcome {
        let repo = try TestRepo(fixture: "one-commit", exp: builtExp, env: Self.identity)
        let run = try repo.runExp(["run", "--", "sh", "-c", "echo 'step 1 loss: 0.5'", "train", "--lr", "0.1"])
        #expect(run.status == 0, "\(run.stderr)")
        let refs = try runRefs(repo)
        let ref = try #require(refs.first)
        #expect(refs.count == 1)
        let record = try runJSON(repo, ref)
        let list = try repo.runExp(["list"])
        let show = try repo.runExp(["show", "latest", "--json"])
        #expect(list.status == 0 && show.status == 0)
        let commit = try repo.gitLine(["rev-parse", ref])
        return Outcome(
            id: try #require(record["id"] as? String), name: try #require(record["name"] as? String),
            list: list.stdout, showJSON: show.stdout, recordCommit: commit,
            runningRecordCommit: try repo.gitLine(["rev-parse", ref + "^2"]))
    }

    /// The test: the same `exp run` in two fresh copies of one repository gives the
    /// same run id and name, byte-identical `exp list` and `exp show --json`, and the same
    /// record commits (the sealed one and the `running` one it replaced).
    @Test func theSameRunInTwoFreshCopiesIsTheSameRun() throws {
        let first = try runInFreshCopy()
        let second = try runInFreshCopy()
        #expect(first == second)
        #expect(first.id.hasPrefix("1mnbe80"), "the id starts with EXP_NOW's seconds")
        let record = try #require(
            JSONSerialization.jsonObject(with: Data(first.showJSON.utf8)) as? [String: Any])
        #expect(record["host"] as? String == "h")
        #expect(record["user"] as? String == "u")
        let environment = try #require(record["environment"] as? [String: Any])
        #expect(environment["hostname"] as? String == "h")
        #expect(environment["user"] as? String == "u")
        #expect(record["supervisor"] == nil, "the live-only supervisor block never enters git")
    }

    @Test func recordCommitsAreByTheContextsUserAtItsHost() throws {
        let repo = try TestRepo(fixture: "one-commit", exp: builtExp, env: Self.identity)
        #expect(try repo.runExp(["run", "--", "true"]).status == 0)
        let ref = try #require(try runRefs(repo).first)
        #expect(try repo.gitLine(["log", "-1", "--format=%an <%ae>|%cn <%ce>", ref]) == "u <u@h>|u <u@h>")
    }

    /// Another seed, another id and name; no seed, the system's randomness.
    @Test func theSeedDecidesTheIdAndName() throws {
        let seven = try runInFreshCopy()
        var other = Self.identity
        other["EXP_SEED"] = "8"
        let repo = try TestRepo(fixture: "one-commit", exp: builtExp, env: other)
        #expect(try repo.runExp(["run", "--", "true"]).status == 0)
        let record = try runJSON(repo, try #require(try runRefs(repo).first))
        #expect(record["id"] as? String != seven.id)
    }

    /// With a seed and a fixed clock every exp process draws the same numbers first: the
    /// second run of a repository must still get its own id and name.
    @Test func runsOfOneRepositoryStayDistinctUnderOneSeed() throws {
        let repo = try TestRepo(fixture: "one-commit", exp: builtExp, env: Self.identity)
        for _ in 0..<3 { #expect(try repo.runExp(["run", "--", "true"]).status == 0) }
        let records = try runRefs(repo).map { try runJSON(repo, $0) }
        #expect(Set(records.compactMap { $0["id"] as? String }).count == 3)
        #expect(Set(records.compactMap { $0["name"] as? String }).count == 3)
    }

    /// `EXP_HOST` renames what is recorded, not the machine: a run started with `EXP_HOST=h`
    /// whose exp is killed is sealed `lost` by the next exp on this machine, whatever host
    /// name that one is given.
    @Test(.timeLimit(.minutes(1)), arguments: [nil, "other"] as [String?])
    func aRunRecordedUnderAnotherHostNameIsStillRecoveredHere(_ laterHost: String?) throws {
        let repo = try TestRepo(fixture: "one-commit", exp: builtExp, env: ["EXP_HOST": "h"])
        let exp = try startExp(repo, ["run", "--name", "doomed", "--", "sh", "-c", "exec sleep 30"])
        #expect(try waitUntil { try liveRun(repo) != nil })
        let live = try #require(try liveRun(repo))
        #expect(live["host"] as? String == "h")
        let supervisor = try #require(live["supervisor"] as? [String: Any])
        let realHost = try #require(supervisor["host"] as? String)
        #expect(realHost != "h")
        let child = try #require(supervisor["child_pid"] as? Int)
        kill(exp.processIdentifier, SIGKILL)
        kill(Int32(child), SIGKILL)
        exp.waitUntilExit()

        let list = try repo.runExp(["list", "--all"], env: ["EXP_HOST": laterHost ?? ""])
        #expect(list.status == 0, "\(list.stderr)")
        let record = try runJSON(repo, try #require(try runRefs(repo).first))
        #expect(record["status"] as? String == "lost")
        #expect(record["host"] as? String == "h", "the recorded host stays the one the run was started with")
    }

    /// A run still going on this machine can't be removed, whether it was recorded under the
    /// real host name or under `EXP_HOST`; once its exp is gone with its live folder (nothing
    /// can seal it any more), it can.
    @Test(.timeLimit(.minutes(1)), arguments: ["", "h"])
    func aRunGoingHereCannotBeRemoved(_ host: String) throws {
        let repo = try TestRepo(fixture: "one-commit", exp: builtExp, env: ["EXP_HOST": host])
        let exp = try startExp(repo, ["run", "--name", "going", "--", "sh", "-c", "exec sleep 30"])
        #expect(try waitUntil { try liveRun(repo) != nil })
        let live = try #require(try liveRun(repo))
        let id = try #require(live["id"] as? String)
        let child = try #require((live["supervisor"] as? [String: Any])?["child_pid"] as? Int)
        defer {
            kill(Int32(child), SIGKILL)
            kill(exp.processIdentifier, SIGKILL)
            exp.waitUntilExit()
        }
        let refused = try repo.runExp(["rm", "going"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("still running"), "\(refused.stderr)")

        kill(exp.processIdentifier, SIGKILL)
        exp.waitUntilExit()
        try FileManager.default.removeItem(atPath: repo.root + "/.git/exp/runs/" + id)
        let removed = try repo.runExp(["rm", "going"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try runRefs(repo).isEmpty)
    }
}
