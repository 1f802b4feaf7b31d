import Foundation
import Testing

@testable import ExpCore

#if canImport(Glibc)
    import Glibc
#endif

@Suite("telling a dead run from a live one")
struct LostRunTests {
    /// A live folder whose files were last touched at `seconds` since the epoch.
    private func liveFolder(touchedAt seconds: Int) throws -> String {
        let template = NSTemporaryDirectory() + "exp-lost-XXXXXX"
        var bytes = Array(template.utf8CString)
        let made = try #require(bytes.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
        let folder = String(cString: made)
        for name in ["heartbeat", "run.json"] {
            #expect(FileManager.default.createFile(atPath: folder + "/" + name, contents: Data()))
            var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, folder + "/" + name, &times, 0) == 0)
        }
        return folder
    }

    @Test func supervisorInAnotherNamespaceIsJudgedByItsHeartbeat() throws {
        let current = try #require(ProcessFacts.pidNamespace)
        let beat = 1_900_000_000
        let folder = try liveFolder(touchedAt: beat)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Our own pid, alive here, but recorded in another namespace: the pid says nothing.
        let supervisor = RunRecord.Supervisor(
            pid: getpid(), childPid: nil, startTicks: 1, bootID: ProcessFacts.bootID, pidNamespace: current &+ 1)
        let at = { (offset: Int) in Date(timeIntervalSince1970: Double(beat + offset)) }
        #expect(!ProcessFacts.isGone(supervisor, liveDirectory: folder, now: at(10)))
        #expect(!ProcessFacts.isGone(supervisor, liveDirectory: folder, now: at(60)))
        #expect(ProcessFacts.isGone(supervisor, liveDirectory: folder, now: at(61)))
        #expect(ProcessFacts.isGone(supervisor, liveDirectory: folder, now: at(3600)))
        // Another boot is gone whatever the heartbeat says.
        var rebooted = supervisor
        rebooted.bootID = "not-this-boot"
        #expect(ProcessFacts.isGone(rebooted, liveDirectory: folder, now: at(10)))
    }

    @Test func supervisorInThisNamespaceIsJudgedByItsPid() throws {
        let current = try #require(ProcessFacts.pidNamespace)
        let beat = Int(Date().timeIntervalSince1970)
        let folder = try liveFolder(touchedAt: beat)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let now = Date(timeIntervalSince1970: Double(beat))
        let alive = RunRecord.Supervisor(
            pid: getpid(), childPid: nil, startTicks: ProcessFacts.startTicks(of: getpid()),
            bootID: ProcessFacts.bootID, pidNamespace: current)
        #expect(!ProcessFacts.isGone(alive, liveDirectory: folder, now: now.addingTimeInterval(3600)))
        // A fresh heartbeat does not keep a dead pid of this namespace alive.
        var reused = alive
        reused.startTicks = (alive.startTicks ?? 0) &+ 1
        #expect(ProcessFacts.isGone(reused, liveDirectory: folder, now: now))
    }

    /// A killed `exp rerun` leaves its command running in the worktree (it is not killed with
    /// exp): the clean-up must see it there and keep the worktree.
    @Test func aProcessWorkingInAFolderIsSeen() throws {
        let folder = NSTemporaryDirectory() + "exp-busy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder + "/sub", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(!Workspace.someProcessWorks(in: folder))
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        sleeper.currentDirectoryURL = URL(fileURLWithPath: folder + "/sub")
        try sleeper.run()
        #expect(Workspace.someProcessWorks(in: folder))
        #expect(!Workspace.someProcessWorks(in: folder + "-other"))
        sleeper.terminate()
        sleeper.waitUntilExit()
        #expect(!Workspace.someProcessWorks(in: folder))
    }
}
