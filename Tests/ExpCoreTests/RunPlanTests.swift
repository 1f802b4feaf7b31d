import ExpGit
import ExpTestSupport
import Foundation
import Testing

@testable import ExpCore

#if canImport(Glibc)
    import Glibc
#endif

extension InProcessLaunches {
    @Suite("RunPlan → LiveRun → one seal", .serialized)
    struct RunPlanTests {
        /// The refs, worktrees and exp state of a repository: what a side effect would change.
        private func state(_ repo: TestRepo) throws -> [String] {
            let live = (try? FileManager.default.contentsOfDirectory(atPath: repo.root + "/.git/exp/runs")) ?? []
            return [
                try repo.git(["for-each-ref"]), try repo.git(["worktree", "list"]),
                try repo.git(["status", "--porcelain", "--untracked-files=all"]), live.sorted().joined(separator: ","),
            ]
        }

        @Test func aPlanChangesNothingAndStartsTheSameRunAfterAFileRoundTrip() throws {
            let repo = try TestRepo()
            try repo.write("train.py", "print('v1')\n")
            try repo.write("conf.yaml", "depth: 4\n")
            try repo.commitAll()
            try repo.write("train.py", "print('v2')\n")
            let workspace = try Workspace(context: repo.context())
            let before = try state(repo)
            var request = RunRequest(
                argv: ["sh", "-c", "echo \"$EXP_RUN_NAME $GREETING\"", "--lr", "0.01", "--api-key", "hunter2"],
                message: "first try", params: ["epochs=3", "optimizer=adam", "warm=true"],
                usePseudoTerminal: false)
            request.paramsFiles = ["conf.yaml"]
            request.artifactPatterns = ["out/*.bin"]
            var plan = try workspace.plan(request)
            #expect(try state(repo) == before, "making a plan wrote something")
            plan.environment = ["GREETING": "hello"]
            plan.group = "sweep-1"
            #expect(plan.params["lr"] == .double(0.01))
            #expect(plan.params["epochs"] == .int(3))
            #expect(plan.params["warm"] == .bool(true))
            #expect(plan.params["api-key"] == .string("***"))
            #expect(plan.paramFiles["conf.yaml"]?["depth"] == .int(4))
            #expect(plan.message == "first try")
            #expect(plan.argv.last == "hunter2", "the command gets its real arguments")
            #expect(plan.cwd == ".")

            // Written to a file, read back by someone else later.
            let file = repo.root + "/../plan-\(plan.id.rawValue).json"
            try Data(try plan.encoded()).write(to: URL(fileURLWithPath: file))
            defer { unlink(file) }
            let read = try RunPlan.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: file))))
            #expect(read == plan)

            let later = try Workspace(context: repo.context())
            let finished = try later.run(read, terminal: RunTerminal(stdoutFD: open("/dev/null", O_WRONLY))) { _ in }
            #expect(finished.exitStatus == 0)
            let record = finished.record
            #expect(record.id == plan.id)
            #expect(record.name == plan.name)
            #expect(record.status == .succeeded)
            #expect(record.params["epochs"] == .int(3))
            #expect(record.params["depth"] == .int(4))
            #expect(record.argv.last == "***")
            let ref = "refs/exp/runs/" + plan.id.rawValue
            #expect(try repo.git(["show", ref + ":output.log"]) == "\(plan.name) hello\n")
            let json = try repo.git(["show", ref + ":run.json"])
            #expect(json.contains("\"name\" : \"\(plan.name)\""))
            #expect(!json.contains("hunter2"))
            #expect(record.message == "first try")
            #expect(!FileManager.default.fileExists(atPath: repo.root + "/.git/exp/runs/" + plan.id.rawValue))
        }

        @Test func aPlanGivenASnapshotRunsThatCodeInATemporaryWorktree() throws {
            let repo = try TestRepo()
            try repo.write("sub/a.txt", "committed\n")
            try repo.commitAll()
            try repo.write("sub/a.txt", "snapshotted\n")
            let workspace = try Workspace(context: repo.context())
            let snapshot = try workspace.takeSnapshot()
            try repo.write("sub/a.txt", "later\n")
            var request = RunRequest(argv: ["sh", "-c", "cat a.txt; pwd"], usePseudoTerminal: false)
            request.cwd = "sub"
            var plan = try workspace.plan(request)
            let base = try #require(snapshot.parent)
            plan.snapshot = RunPlan.GivenSnapshot(commit: snapshot.commit, base: base)
            let finished = try workspace.run(plan, terminal: RunTerminal(stdoutFD: open("/dev/null", O_WRONLY))) {
                _ in
            }
            #expect(finished.exitStatus == 0)
            #expect(finished.record.snapshot.tree == snapshot.tree)
            #expect(finished.record.base.commit == base)
            #expect(finished.record.cwd == "sub")
            let output = try repo.git(["show", "refs/exp/runs/\(plan.id.rawValue):output.log"])
            #expect(output.hasPrefix("snapshotted\n"))
            #expect(output.contains("/exp/rerun/"))
            #expect(try repo.read("sub/a.txt") == "later\n")
            #expect(try repo.git(["worktree", "list"]).split(separator: "\n").count == 1)
        }

        @Test func readingNeverSealsALostRunAndRecoveryDoes() throws {
            let repo = try TestRepo()
            try repo.write("train.py", "print('v1')\n")
            try repo.commitAll()
            let workspace = try Workspace(context: repo.context())
            let plan = try workspace.plan(RunRequest(argv: ["true"], usePseudoTerminal: false))
            var run: LiveRun? = try LiveRun.start(plan, in: workspace, terminal: RunTerminal())
            run = nil  // its exp "dies" before the command starts: only the live folder and the ref remain
            #expect(run == nil)
            // The supervisor becomes a process that has exited.
            let gone = Process()
            gone.executableURL = URL(fileURLWithPath: "/bin/true")
            try gone.run()
            gone.waitUntilExit()
            let folder = LiveFolder(path: repo.root + "/.git/exp/runs/" + plan.id.rawValue)
            var live = try #require(folder.readRecord())
            live.supervisor?.pid = gone.processIdentifier
            live.supervisor?.startTicks = nil
            try folder.writeRecord(live)

            let ref = "refs/exp/runs/" + plan.id.rawValue
            let refs = try repo.git(["for-each-ref"])
            let store = try RunStore.forReading(repo.context())
            let listed = try store.runs(ids: [plan.id])
            #expect(listed.first { $0.record.id == plan.id }?.record.status == .running)
            _ = try store.resolve(.text(plan.name))
            #expect(try repo.git(["for-each-ref"]) == refs, "reading wrote a ref")
            #expect(folder.exists)

            let recovered = try Workspace(context: repo.context()).recoverLostRuns()
            #expect(recovered.map(\.id) == [plan.id])
            #expect(recovered.first?.status == .lost)
            #expect(try repo.git(["show", ref + ":run.json"]).contains("\"status\" : \"lost\""))
            #expect(!folder.exists)
            #expect(try Workspace(context: repo.context()).recoverLostRuns().isEmpty)
        }
    }
}
