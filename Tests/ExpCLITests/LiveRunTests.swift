import ExpTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Whether this machine lets us run `argv` (a probe for `unshare` and `mount`).
private func permitted(_ argv: [String], in directory: String) -> Bool {
    let result = try? runProcess(argv, in: directory, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
    return result?.status == 0
}

/// Sets the modification time of every file in a folder to `seconds` since the epoch.
private func setModificationTimes(in folder: String, to seconds: Int) throws {
    for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
        var times = [timespec(tv_sec: seconds, tv_nsec: 0), timespec(tv_sec: seconds, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, folder + "/" + name, &times, 0) == 0)
    }
}

@Suite("live runs: lost only when really gone, and the truth kept when sealing fails")
struct LiveRunTests {
    /// A run started in another PID namespace (as in a container) looks, by its pid, like a
    /// dead one from the host: it must stay `running` while it goes, and seal normally.
    @Test func runInAnotherPIDNamespaceIsNotSealedLostWhileItGoes() throws {
        let repo = try makeRepo()
        guard permitted(["unshare", "--pid", "--fork", "--mount-proc", "true"], in: repo.root) else {
            print("skipped: unshare --pid --fork --mount-proc is not permitted here")
            try Test.cancel("unshare --pid --fork --mount-proc is not permitted here")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "unshare", "--pid", "--fork", "--mount-proc", builtExp, "run", "--name", "contained", "--", "sh", "-c",
            "while [ ! -f go ]; do sleep 0.05; done; echo done",
        ]
        process.currentDirectoryURL = URL(fileURLWithPath: repo.root)
        process.environment = repo.environment.merging(["EXP_NOW": ""]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer {
            try? repo.write("go", "")
            process.waitUntilExit()
        }
        #expect(try waitUntil(30) { try liveRun(repo) != nil })
        let live = try #require(try liveRun(repo))
        let id = try #require(live["id"] as? String)
        let supervisor = try #require(live["supervisor"] as? [String: Any])
        #expect(supervisor["pid_namespace"] is Int)
        let folder = repo.root + "/.git/exp/runs/" + id

        let list = try repo.expLive(["list", "--all"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("running"))
        #expect(!list.stdout.contains("lost"))
        #expect(FileManager.default.fileExists(atPath: folder + "/run.json"))
        #expect(FileManager.default.fileExists(atPath: folder + "/heartbeat"))
        #expect(try runJSON(repo, "refs/exp/runs/" + id)["status"] as? String == "running")

        try repo.write("go", "")
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let after = try repo.expLive(["list", "--all"])
        #expect(after.stdout.contains("succeeded"))
        let record = try runJSON(repo, "refs/exp/runs/" + id)
        #expect(record["status"] as? String == "succeeded")
        #expect(try repo.git(["show", "refs/exp/runs/\(id):output.log"]) == "done\n")
        #expect(!FileManager.default.fileExists(atPath: folder))
    }

    /// The heartbeat rule, with the clock given by EXP_NOW: a run supervised from another PID
    /// namespace is lost only once its last sign of life is over a minute old.
    @Test func runFromAnotherNamespaceIsLostOnlyWhenItsHeartbeatIsStale() throws {
        let repo = try makeRepo()
        let exp = try startExp(repo, ["run", "--name", "far", "--", "sh", "-c", "exec sleep 30"])
        #expect(try waitUntil { try liveRun(repo) != nil })
        var live = try #require(try liveRun(repo))
        let id = try #require(live["id"] as? String)
        var supervisor = try #require(live["supervisor"] as? [String: Any])
        let child = try #require(supervisor["child_pid"] as? Int)
        kill(exp.processIdentifier, SIGKILL)
        kill(Int32(child), SIGKILL)
        exp.waitUntilExit()
        // As if it ran in a container: another namespace, a pid that means nothing here.
        supervisor["pid_namespace"] = 1
        live["supervisor"] = supervisor
        let folder = repo.root + "/.git/exp/runs/" + id
        try JSONSerialization.data(withJSONObject: live).write(to: URL(fileURLWithPath: folder + "/run.json"))
        let beat = 1_900_000_000
        try setModificationTimes(in: folder, to: beat)

        let fresh = try repo.exp(["list", "--all"], env: ["EXP_NOW": String(beat + 30)])
        #expect(fresh.stdout.contains("running"))
        #expect(FileManager.default.fileExists(atPath: folder + "/run.json"))
        #expect(try runJSON(repo, "refs/exp/runs/" + id)["status"] as? String == "running")

        let stale = try repo.exp(["list", "--all"], env: ["EXP_NOW": String(beat + 120)])
        #expect(stale.stdout.contains("lost"))
        #expect(try runJSON(repo, "refs/exp/runs/" + id)["status"] as? String == "lost")
        // It may only have been paused (a stopped container): its files stay a week.
        #expect(FileManager.default.fileExists(atPath: folder + "/output.log"))
        _ = try repo.exp(["list", "--all"], env: ["EXP_NOW": String(beat + 6 * 86_400)])
        #expect(FileManager.default.fileExists(atPath: folder + "/output.log"))
        _ = try repo.exp(["list", "--all"], env: ["EXP_NOW": String(beat + 8 * 86_400)])
        #expect(!FileManager.default.fileExists(atPath: folder))
        #expect(try runJSON(repo, "refs/exp/runs/" + id)["status"] as? String == "lost")
    }

    /// A run judged lost by its heartbeat while its exp was only paused: when that exp comes
    /// back and the command ends, it seals the run as it really ended, over the `lost` record.
    @Test func aPausedRunSealedLostIsSealedAgainByItsOwnExp() throws {
        let repo = try makeRepo()
        let exp = try startExp(repo, ["run", "--name", "paused", "--", "sh", "-c", "sleep 6; echo done"])
        #expect(try waitUntil { try liveRun(repo) != nil })
        var live = try #require(try liveRun(repo))
        let id = try #require(live["id"] as? String)
        var supervisor = try #require(live["supervisor"] as? [String: Any])
        supervisor["pid_namespace"] = 1  // as if it ran in a container
        live["supervisor"] = supervisor
        let folder = repo.root + "/.git/exp/runs/" + id
        try JSONSerialization.data(withJSONObject: live).write(to: URL(fileURLWithPath: folder + "/run.json"))
        // Seen two minutes later, its heartbeat is stale: sealed lost, files kept.
        let later = String(Int(Date().timeIntervalSince1970) + 120)
        let far = try repo.exp(["list", "--all"], env: ["EXP_NOW": later])
        #expect(far.stdout.contains("lost"), "\(far.stdout) \(far.stderr)")
        #expect(try runJSON(repo, "refs/exp/runs/" + id)["status"] as? String == "lost")
        #expect(FileManager.default.fileExists(atPath: folder + "/output.log"))
        exp.waitUntilExit()
        #expect(exp.terminationStatus == 0)
        let record = try runJSON(repo, "refs/exp/runs/" + id)
        #expect(record["status"] as? String == "succeeded")
        #expect(record["exit_code"] as? Int == 0)
        #expect(try repo.git(["show", "refs/exp/runs/\(id):output.log"]) == "done\n")
        #expect(!FileManager.default.fileExists(atPath: folder))
        #expect(try repo.git(["fsck", "--strict"]).isEmpty)
    }

    /// With the object database read-only while the run is sealed (a read-only bind mount in
    /// a private mount namespace: root ignores file modes), exp exits with the command's own
    /// status, says what it could not save and where the files are, and the next exp
    /// command seals the run as it really ended.
    @Test func sealingFailureKeepsTheCommandsStatusAndTheOutcome() throws {
        let repo = try makeRepo()
        let probe = repo.folder.path + "/probe"
        try FileManager.default.createDirectory(atPath: probe, withIntermediateDirectories: true)
        guard
            permitted(
                ["unshare", "-m", "sh", "-c", "mount --bind \"$0\" \"$0\" && mount -o remount,ro,bind \"$0\"", probe],
                in: repo.root)
        else {
            print("skipped: a read-only bind mount in a private mount namespace is not permitted here")
            try Test.cancel("unshare -m with a read-only bind mount is not permitted here")
        }
        let run = try runProcess(
            [
                "unshare", "-m", "sh", "-c", "mount --bind .git/objects .git/objects && exec \"$0\" \"$@\"",
                builtExp, "run", "--name", "unsaved", "--", "sh", "-c",
                "mount -o remount,ro,bind .git/objects && echo trained && exit 3",
            ], in: repo.root, environment: repo.environment)
        #expect(run.status == 3)
        #expect(run.stdout == "trained\n")
        #expect(run.stderr.contains("could not save run unsaved"))
        let ids = try FileManager.default.contentsOfDirectory(atPath: repo.root + "/.git/exp/runs")
        let id = try #require(ids.first)
        let folder = repo.root + "/.git/exp/runs/" + id
        #expect(run.stderr.contains("/.git/exp/runs/" + id))
        #expect(try runJSON(repo, "refs/exp/runs/" + id)["status"] as? String == "running")
        let kept = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/run.json")))
                as? [String: Any])
        #expect(kept["status"] as? String == "failed")

        // The mount went with its namespace: git can write again.
        let list = try repo.exp(["list", "--all"])
        #expect(list.status == 0)
        let record = try runJSON(repo, "refs/exp/runs/" + id)
        #expect(record["status"] as? String == "failed")
        #expect(record["exit_code"] as? Int == 3)
        #expect(record["error"] == nil)
        #expect(try repo.git(["show", "refs/exp/runs/\(id):output.log"]) == "trained\n")
        #expect(!FileManager.default.fileExists(atPath: folder))
        try repo.git(["fsck", "--strict", "--no-progress"])
    }
}
