import ExpTestSupport
import Foundation
import Testing

/// The `exp artifacts --json` listing of a run.
func artifactList(_ repo: TestRepo, _ run: String) throws -> [[String: Any]] {
    let result = try repo.runExp(["artifacts", run, "--json"])
    try #require(result.status == 0, "\(result.stderr)")
    return try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
}

/// The files in the artifact store (digests).
func storedObjects(_ repo: TestRepo) -> [String] {
    let folder = repo.root + "/.git/exp/objects/sha256"
    let folders = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    return folders.flatMap { prefix in
        ((try? FileManager.default.contentsOfDirectory(atPath: folder + "/" + prefix)) ?? []).map { prefix + $0 }
    }.sorted()
}

/// `sha256sum` of a file in the worktree.
func digestOf(_ repo: TestRepo, _ path: String) throws -> String {
    let result = try runProcess(["sha256sum", path], in: repo.root, environment: repo.environment)
    return String(result.stdout.prefix(64))
}

func artifactRepo() throws -> TestRepo {
    let repo = try TestRepo()
    try repo.write(".gitignore", "lightning_logs/\ncheckpoints/\noutputs/\n*.bin\n")
    try repo.write("train.py", "print('hi')\n")
    try repo.commitAll()
    return repo
}

@Suite("exp artifacts, exp gc (binary)", .serialized)
struct ArtifactsCommandTests {
    @Test func runLinksFilesByGlobAndShowCountsThem() throws {
        let repo = try artifactRepo()
        try repo.write("outputs/old/model.pt", "untouched")
        let script = "mkdir -p outputs/a/b && printf weights > outputs/a/b/model.pt && printf log > outputs/log.txt"
        let run = try repo.runExp(["run", "--name", "g", "--artifact", "outputs/**/*.pt", "--", "sh", "-c", script])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("· 1 artifact, 7 B"))
        let listed = try artifactList(repo, "g")
        #expect(listed.count == 1)
        #expect(listed.first?["path"] as? String == "outputs/a/b/model.pt")
        #expect(listed.first?["size"] as? Int == 7)
        #expect(listed.first?["stored"] as? Bool == true)
        let digest = try digestOf(repo, "outputs/a/b/model.pt")
        #expect(listed.first?["sha256"] as? String == digest)
        #expect(storedObjects(repo) == [digest])
        let show = try repo.runExp(["show", "g"])
        #expect(show.stdout.contains("artifacts  1 artifact, 7 B (exp artifacts g)\n"))
        let human = try repo.runExp(["artifacts", "g"])
        #expect(human.stdout == "outputs/a/b/model.pt  7 B  \(digest.prefix(12))\n")
        // The record tree holds artifacts.json, readable with git alone.
        let ref = try #require(try runRefs(repo).first)
        #expect(try repo.git(["show", "\(ref):artifacts.json"]).contains("\"sha256\" : \"\(digest)\""))
        let record = try runJSON(repo, ref)
        #expect((record["artifacts"] as? [String: Any])?["count"] as? Int == 1)
    }

    @Test func configuredPatternsAndSizeLimitAndOptOut() throws {
        let repo = try artifactRepo()
        try repo.git(["config", "--add", "exp.artifacts", "a.bin"])
        try repo.git(["config", "--add", "exp.artifacts", "b.bin"])
        try repo.git(["config", "exp.artifactMaxSize", "10"])
        let run = try repo.runExp([
            "run", "--name", "c", "--", "sh", "-c", "printf small > a.bin && printf 'far too large' > b.bin",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let listed = try artifactList(repo, "c")
        #expect(listed.map { $0["path"] as? String } == ["a.bin", "b.bin"])
        #expect(listed.map { $0["stored"] as? Bool } == [true, false])
        #expect(listed[1]["sha256"] == nil)
        #expect(storedObjects(repo).count == 1)

        let none = try repo.runExp(["run", "--name", "n", "--no-artifacts", "--", "sh", "-c", "printf x > a.bin"])
        #expect(none.status == 0)
        #expect(try artifactList(repo, "n").isEmpty)
        #expect(try runJSON(repo, try #require(try runRefsNamed(repo, "n")))["artifacts"] == nil)
    }

    @Test func lightningDefaultLayoutAndBestCheckpoint() throws {
        let repo = try artifactRepo()
        let script = """
            mkdir -p lightning_logs/version_0/checkpoints && \
            printf a > 'lightning_logs/version_0/checkpoints/epoch=0-val_loss=0.90.ckpt' && \
            printf bb > 'lightning_logs/version_0/checkpoints/epoch=1-val_loss=0.30.ckpt' && \
            printf hp > lightning_logs/version_0/hparams.yaml && \
            mkdir -p checkpoints && printf ccc > checkpoints/last.ckpt
            """
        let run = try repo.runExp(["run", "--name", "l", "--", "sh", "-c", script])
        #expect(run.status == 0, "\(run.stderr)")
        let listed = try artifactList(repo, "l").compactMap { $0["path"] as? String }
        #expect(
            listed == [
                "checkpoints/last.ckpt", "lightning_logs/version_0/checkpoints/epoch=0-val_loss=0.90.ckpt",
                "lightning_logs/version_0/checkpoints/epoch=1-val_loss=0.30.ckpt",
            ])
        let show = try repo.runExp(["show", "l"])
        #expect(show.stdout.contains("artifacts  3 artifacts, 6 B"))
        #expect(
            show.stdout.contains(
                "best       lightning_logs/version_0/checkpoints/epoch=1-val_loss=0.30.ckpt (val_loss 0.3)"))
    }

    @Test func checkpointRewrittenInPlaceAcrossEpochs() throws {
        let repo = try artifactRepo()
        // `>` truncates and rewrites the same file (same inode) each epoch.
        let script =
            "mkdir -p checkpoints && for e in 1 2 3; do printf \"epoch $e\" > checkpoints/last.ckpt; done"
        #expect(try repo.runExp(["run", "--name", "first", "--", "sh", "-c", script]).status == 0)
        let finalDigest = try digestOf(repo, "checkpoints/last.ckpt")
        #expect(try artifactList(repo, "first").first?["sha256"] as? String == finalDigest)
        // A later run rewrites it in place again; the first run's object must stay intact.
        let again = "for e in 4 5; do printf \"epoch $e, longer\" > checkpoints/last.ckpt; done"
        #expect(try repo.runExp(["run", "--name", "second", "--", "sh", "-c", again]).status == 0)
        #expect(storedObjects(repo).count == 2)
        let object = repo.root + "/.git/exp/objects/sha256/" + finalDigest.prefix(2) + "/" + finalDigest.dropFirst(2)
        #expect(FileManager.default.contents(atPath: object) == Data("epoch 3".utf8))
        let restored = try repo.runExp(["artifacts", "first", "--restore", "--into", "back"])
        #expect(restored.status == 0, "\(restored.stderr)")
        #expect(try repo.read("back/checkpoints/last.ckpt") == "epoch 3")
    }

    @Test func identicalCheckpointsOfTwoRunsAreStoredOnce() throws {
        let repo = try artifactRepo()
        let script = "mkdir -p checkpoints && printf same > checkpoints/a.ckpt"
        #expect(try repo.runExp(["run", "--name", "one", "--", "sh", "-c", script]).status == 0)
        try repo.remove("checkpoints")
        #expect(try repo.runExp(["run", "--name", "two", "--", "sh", "-c", script]).status == 0)
        let one = try artifactList(repo, "one").first?["sha256"] as? String
        let two = try artifactList(repo, "two").first?["sha256"] as? String
        #expect(one != nil && one == two)
        #expect(storedObjects(repo) == [try #require(one)])
    }

    @Test func restoreOverIdenticalDifferentAndForced() throws {
        let repo = try artifactRepo()
        let script = "mkdir -p checkpoints && printf trained > checkpoints/m.ckpt"
        #expect(try repo.runExp(["run", "--name", "r", "--", "sh", "-c", script]).status == 0)

        let same = try repo.runExp(["artifacts", "r", "--restore"])
        #expect(same.status == 0)
        #expect(same.stderr.contains("exp: unchanged checkpoints/m.ckpt\n"))
        #expect(same.stderr.contains("0 artifacts written, 1 unchanged"))

        try repo.write("checkpoints/m.ckpt", "my own edit")
        let refused = try repo.runExp(["artifacts", "r", "--restore"])
        #expect(refused.status == 1)
        #expect(
            refused.stderr.hasPrefix("exp: error: restoring the artifacts of r would overwrite 1 different file:\n"))
        #expect(refused.stderr.contains("hint: use --force"))
        #expect(try repo.read("checkpoints/m.ckpt") == "my own edit")

        let forced = try repo.runExp(["artifacts", "r", "--restore", "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try repo.read("checkpoints/m.ckpt") == "trained")
        #expect(try repo.read("checkpoints/m.ckpt.exp-backup-1") == "my own edit")
        try repo.write("checkpoints/m.ckpt", "second edit")
        #expect(try repo.runExp(["artifacts", "r", "--restore", "--force"]).status == 0)
        #expect(try repo.read("checkpoints/m.ckpt.exp-backup-2") == "second edit")

        // Paths not among the run's artifacts are an error.
        let unknown = try repo.runExp(["artifacts", "r", "--restore", "nope.ckpt"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("exp: error: run r has no artifact nope.ckpt\n"))
    }

    @Test func refusesArtifactPathsOutsideTheFolder() throws {
        let repo = try artifactRepo()
        let script = "mkdir -p checkpoints && printf w > checkpoints/m.ckpt"
        #expect(try repo.runExp(["run", "--name", "r", "--", "sh", "-c", script]).status == 0)
        // A record fetched from elsewhere whose artifacts.json points outside the worktree.
        let ref = try #require(try runRefs(repo).first)
        let listing = try repo.git(["show", "\(ref):artifacts.json"])
            .replacingOccurrences(of: "checkpoints/m.ckpt", with: "../escaped.ckpt")
        let blob = try runProcess(
            ["git", "hash-object", "-w", "--stdin"], in: repo.root, environment: repo.environment, stdin: listing
        ).stdout.trimmedLine
        let entries = try repo.git(["ls-tree", ref]).split(separator: "\n").map { line in
            line.hasSuffix("\tartifacts.json") ? "100644 blob \(blob)\tartifacts.json" : String(line)
        }
        let tree = try runProcess(
            ["git", "mktree"], in: repo.root, environment: repo.environment,
            stdin: entries.joined(separator: "\n") + "\n"
        ).stdout.trimmedLine
        let commit = try repo.gitLine(["commit-tree", tree, "-p", "\(ref)^", "-m", "tampered"])
        try repo.git(["update-ref", ref, commit])

        let result = try repo.runExp(["artifacts", "r", "--restore", "--into", "sub"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("exp: error: run r lists an artifact at an unsafe path: ../escaped.ckpt ("))
        #expect(!FileManager.default.fileExists(atPath: repo.root + "/escaped.ckpt"))
    }

    @Test func corruptObjectIsDetectedAndNothingOverwritten() throws {
        let repo = try artifactRepo()
        let script = "mkdir -p checkpoints && printf original > checkpoints/m.ckpt"
        #expect(try repo.runExp(["run", "--name", "r", "--", "sh", "-c", script]).status == 0)
        let digest = try digestOf(repo, "checkpoints/m.ckpt")
        let object = repo.root + "/.git/exp/objects/sha256/" + digest.prefix(2) + "/" + digest.dropFirst(2)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: object)
        try Data("damaged!".utf8).write(to: URL(fileURLWithPath: object))
        try repo.write("checkpoints/m.ckpt", "current")

        let result = try repo.runExp(["artifacts", "r", "--restore", "--force"])
        #expect(result.status == 1)
        #expect(
            result.stderr.contains(
                "exp: error: the stored copy of checkpoints/m.ckpt is corrupt: expected sha256 \(digest)"))
        #expect(try repo.read("checkpoints/m.ckpt") == "current")
        #expect(!FileManager.default.fileExists(atPath: repo.root + "/checkpoints/m.ckpt.exp-backup-1"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: repo.root + "/checkpoints") == ["m.ckpt"])
    }

    @Test func checkoutWithArtifacts() throws {
        let repo = try artifactRepo()
        try repo.write("train.py", "print('v2')\n")
        let script = "mkdir -p checkpoints && printf v2weights > checkpoints/m.ckpt"
        #expect(try repo.runExp(["run", "--name", "r", "--", "sh", "-c", script]).status == 0)
        try repo.git(["checkout", "-q", "--", "train.py"])
        try repo.remove("checkpoints")
        let result = try repo.runExp(["checkout", "r", "--artifacts"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(try repo.read("train.py") == "print('v2')\n")
        #expect(try repo.read("checkpoints/m.ckpt") == "v2weights")
        #expect(result.stderr.contains("exp: restored checkpoints/m.ckpt\n"))
    }

    @Test func rerunLinksWithTheSameGlobs() throws {
        let repo = try artifactRepo()
        let script = "mkdir -p out && printf result > out/x.bin"
        #expect(
            try repo.runExp(["run", "--name", "orig", "--artifact", "out/*.bin", "--", "sh", "-c", script]).status == 0)
        let rerun = try repo.runExp(["rerun", "orig"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let again = try #require(try runRefs(repo).first { (try? runJSON(repo, $0))?["reproduces"] != nil })
        let listed = try repo.git(["show", "\(again):artifacts.json"])
        #expect(listed.contains("\"path\" : \"out/x.bin\""))
        #expect(storedObjects(repo).count == 1)
    }

    @Test func gcRemovesWhatNoRunReferences() throws {
        let repo = try artifactRepo()
        #expect(
            try repo.runExp([
                "run", "--name", "keep", "--", "sh", "-c", "mkdir -p checkpoints && printf k > checkpoints/k.ckpt",
            ])
            .status == 0)
        #expect(
            try repo.runExp([
                "run", "--name", "drop", "--", "sh", "-c",
                "mkdir -p checkpoints && printf dropped > checkpoints/d.ckpt",
            ]).status == 0)
        let kept = try digestOf(repo, "checkpoints/k.ckpt")
        let dropped = try digestOf(repo, "checkpoints/d.ckpt")
        #expect(storedObjects(repo) == [kept, dropped].sorted())

        let nothing = try repo.runExp(["gc"])
        #expect(nothing.status == 0)
        #expect(nothing.stderr == "exp: removed 0 objects, freed 0 B; kept 2 (8 B)\n")

        let dropRef = try #require(try runRefsNamed(repo, "drop"))
        try repo.git(["update-ref", "-d", dropRef])
        let dry = try repo.runExp(["gc", "--dry-run"])
        #expect(dry.status == 0)
        #expect(dry.stdout == "would remove \(dropped) 7 B\n")
        #expect(dry.stderr == "exp: would remove 1 object, freeing 7 B; kept 1 (1 B)\n")
        #expect(storedObjects(repo) == [kept, dropped].sorted())

        let gc = try repo.runExp(["gc"])
        #expect(gc.status == 0)
        #expect(gc.stdout == "removed \(dropped) 7 B\n")
        #expect(gc.stderr == "exp: removed 1 object, freed 7 B; kept 1 (1 B)\n")
        #expect(storedObjects(repo) == [kept])
        #expect(try repo.runExp(["artifacts", "keep", "--restore"]).status == 0)
    }

    @Test func killedRunIsSealedLostWithItsArtifacts() throws {
        let repo = try artifactRepo()
        let script =
            "mkdir -p checkpoints && printf 'epoch 1' > 'checkpoints/epoch=1.ckpt' && echo saved; exec sleep 5"
        let exp = try startExp(repo, ["run", "--name", "doomed", "--", "sh", "-c", script])
        #expect(try waitUntil { try liveRun(repo) != nil })
        let live = try #require(try liveRun(repo))
        let child = try #require((live["supervisor"] as? [String: Any])?["child_pid"] as? Int)
        defer { kill(Int32(child), SIGKILL) }
        #expect(try waitUntil { FileManager.default.fileExists(atPath: repo.root + "/checkpoints/epoch=1.ckpt") })
        #expect(
            try waitUntil {
                (try? String(contentsOfFile: repo.root + "/.git/exp/runs/\(live["id"]!)/output.log", encoding: .utf8))?
                    .contains("saved") == true
            })
        kill(exp.processIdentifier, SIGKILL)
        exp.waitUntilExit()

        let list = try repo.expLive(["list"])
        #expect(list.stdout.contains("lost"))
        let record = try runJSON(repo, try #require(try runRefs(repo).first))
        #expect(record["status"] as? String == "lost")
        let listed = try artifactList(repo, "doomed")
        #expect(listed.map { $0["path"] as? String } == ["checkpoints/epoch=1.ckpt"])
        let digest = try digestOf(repo, "checkpoints/epoch=1.ckpt")
        #expect(listed.first?["sha256"] as? String == digest)
        #expect(storedObjects(repo) == [digest])
    }
}

/// The ref of the run named `name`.
func runRefsNamed(_ repo: TestRepo, _ name: String) throws -> String? {
    try runRefs(repo).first { (try? runJSON(repo, $0))?["name"] as? String == name }
}
