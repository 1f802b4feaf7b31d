import ExpTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The round trip `exp checkout RUN --force`, then the printed way back, with files that
/// snapshots leave out standing at paths the run's base commit tracks.
@Suite("exp checkout: the way back keeps every file (binary)")
struct AutosaveTests {
    static let secret = "TOKEN=sk-live-SUPERSECRET-4242\n"
    static let largeSize = 12 << 20

    /// A repository whose first commit tracked `.env`, `data.bin`, `conf/api.key` and
    /// `notes.log` and holds run r1; the next commit untracks them (and ignores `*.log`), and
    /// the user has their own at those paths: secrets, a 12 MB file, an ignored file.
    func repoWithUntrackedSecretAndLargeFile() throws -> TestRepo {
        let repo = try TestRepo()
        try repo.write("train.py", "print(1)\n")
        try repo.write(".env", "TOKEN=base\n")
        try repo.write("data.bin", "small, tracked\n")
        try repo.write("conf/api.key", "base key\n")
        try repo.write("notes.log", "base notes\n")
        try repo.commitAll("base tracks .env, data.bin, conf/api.key and notes.log")
        try repo.write("train.py", "print(2)\n")
        let run = try repo.runExp(["run", "--name", "r1", "--", "true"])
        #expect(run.status == 0, "\(run.stderr)")
        try repo.git(["checkout", "-q", "--", "."])
        try repo.git(["rm", "-q", "--cached", ".env", "data.bin", "conf/api.key", "notes.log"])
        try repo.write(".gitignore", "*.log\n")
        try repo.git(["add", ".gitignore"])
        try repo.git(["commit", "-q", "-m", "untrack them, ignore *.log"])
        try repo.write(".env", Self.secret)
        try repo.chmod(".env", 0o600)
        try repo.write("data.bin", Self.largeBytes())
        try repo.chmod("data.bin", 0o640)
        try repo.write("conf/api.key", "my own key\n")
        try repo.write("notes.log", "my notes, ignored now\n")
        return repo
    }

    /// 12 MB that are not all alike (so a blob holding them would be recognisable).
    static func largeBytes() -> Data {
        var bytes = [UInt8](repeating: 0, count: largeSize)
        var state: UInt32 = 2_463_534_242
        for index in bytes.indices {
            state ^= state << 13
            state ^= state >> 17
            state ^= state << 5
            bytes[index] = UInt8(truncatingIfNeeded: state)
        }
        return Data(bytes)
    }

    /// Content and permission bits of a file, or nil when it is not a regular file.
    func fileState(_ repo: TestRepo, _ path: String) -> (Data, mode_t)? {
        var info = stat()
        guard lstat(repo.root + "/" + path, &info) == 0, info.st_mode & S_IFMT == S_IFREG,
            let data = FileManager.default.contents(atPath: repo.root + "/" + path)
        else { return nil }
        return (data, info.st_mode & 0o7777)
    }

    func autosaveRefs(_ repo: TestRepo) throws -> [String] {
        try repo.git(["for-each-ref", "--format=%(refname)", "refs/exp/autosave/"]).split(separator: "\n")
            .map(String.init)
    }

    /// The name in `hint: to go back: exp checkout NAME --force`.
    func wayBack(_ stderr: String) -> String? {
        stderr.split(separator: "\n").first { $0.hasPrefix("hint: to go back: exp checkout ") }
            .map { String($0.dropFirst("hint: to go back: exp checkout ".count).split(separator: " ")[0]) }
    }

    /// Every object in the repository (reachable or not), as `git cat-file --batch` prints it.
    func allObjects(_ repo: TestRepo) throws -> String {
        try repo.git(["cat-file", "--batch-all-objects", "--batch"])
    }

    @Test func roundTripLeavesSecretsAndLargeFilesByteIdenticalAndOutOfGit() throws {
        let repo = try repoWithUntrackedSecretAndLargeFile()
        let paths = [".env", "data.bin", "conf/api.key", "notes.log"]
        let before = paths.map { fileState(repo, $0) }
        let status = try repo.git(["status", "--porcelain"])

        let forward = try repo.runExp(["checkout", "r1", "--force"])
        #expect(forward.stderr.contains("exp: not restored: .env"), "\(forward.stderr)")
        #expect(try repo.read("train.py") == "print(2)\n")
        for (path, state) in zip(paths, before) {
            #expect(fileState(repo, path)?.0 == state?.0, "\(path) kept by the checkout")
        }
        #expect(try autosaveRefs(repo).count == 1)
        let back = try #require(wayBack(forward.stderr), "\(forward.stderr)")
        #expect(back.hasPrefix("autosave-"))

        let returned = try repo.runExp(["checkout", back, "--force"])
        #expect(returned.status == 0, "\(returned.stderr)")
        #expect(!returned.stderr.contains("saved your current state"), "\(returned.stderr)")
        #expect(try autosaveRefs(repo).count == 1, "the way back makes no second autosave")
        for (path, state) in zip(paths, before) {
            let after = fileState(repo, path)
            #expect(after?.0 == state?.0, "\(path): content after the round trip")
            #expect(after?.1 == state?.1, "\(path): mode after the round trip")
        }
        #expect(try repo.read("train.py") == "print(1)\n")
        #expect(try repo.git(["status", "--porcelain"]) == status)

        // Neither the secret nor the large file is in any object, reachable or not.
        let objects = try allObjects(repo)
        #expect(!objects.contains("SUPERSECRET"), "the secret's bytes are in a git object")
        #expect(!objects.contains("my own key"), "conf/api.key's bytes are in a git object")
        let sizes = try repo.git(["cat-file", "--batch-all-objects", "--batch-check=%(objectsize)"])
        #expect(!sizes.split(separator: "\n").contains { Int($0) ?? 0 >= Self.largeSize })
        #expect(try repo.git(["fsck", "--strict", "--no-dangling"]).isEmpty)
    }

    @Test func checkingOutTheStateTheTreeEqualsNeedsNoForceAndMakesNoAutosave() throws {
        let repo = try repoWithUntrackedSecretAndLargeFile()
        let forward = try repo.runExp(["checkout", "r1", "--force"])
        #expect(try autosaveRefs(repo).count == 1, "\(forward.stderr)")
        let back = try #require(wayBack(forward.stderr))
        let secretBefore = fileState(repo, ".env")

        // The tree is r1's snapshot (and files kept as they were): nothing to save.
        for args in [["checkout", "r1"], ["checkout", "r1", "--force"]] {
            let again = try repo.runExp(args)
            #expect(!again.stderr.contains("uncommitted work"), "\(again.stderr)")
            #expect(!again.stderr.contains("saved your current state"), "\(again.stderr)")
            #expect(try autosaveRefs(repo).count == 1, "\(args)")
        }
        #expect(fileState(repo, ".env")?.0 == secretBefore?.0)

        // Back to the autosave, then that autosave again: no --force, no new autosave.
        #expect(try repo.runExp(["checkout", back]).status == 0)
        let twice = try repo.runExp(["checkout", back])
        #expect(twice.status == 0, "\(twice.stderr)")
        #expect(try autosaveRefs(repo).count == 1)
        #expect(fileState(repo, ".env")?.0 == Data(Self.secret.utf8))
    }

    @Test func aDifferentFileWhereASavedOneGoesBackNeedsForceAndIsSavedToo() throws {
        let repo = try repoWithUntrackedSecretAndLargeFile()
        let forward = try repo.runExp(["checkout", "r1", "--force"])
        let back = try #require(wayBack(forward.stderr), "\(forward.stderr)")
        try repo.write(".env", "TOKEN=rotated-SECRET-NEWER\n")
        let before = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")

        let refused = try repo.runExp(["checkout", back])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("uncommitted work:\n"), "\(refused.stderr)")
        #expect(refused.stderr.contains("  .env\n"), "\(refused.stderr)")
        #expect(try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git").differences(from: before) == [])

        let forced = try repo.runExp(["checkout", back, "--force"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try repo.read(".env") == Self.secret)
        #expect(try autosaveRefs(repo).count == 2)
        let newer = try #require(wayBack(forced.stderr), "\(forced.stderr)")
        #expect(forced.stderr.contains("exp: saved your current state as \(newer)"))
        // The newer autosave brings the rotated secret back; no object holds either secret.
        let again = try repo.runExp(["checkout", newer, "--force"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(!again.stderr.contains("saved your current state"), "\(again.stderr)")
        #expect(try repo.read(".env") == "TOKEN=rotated-SECRET-NEWER\n")
        let objects = try allObjects(repo)
        #expect(!objects.contains("SUPERSECRET") && !objects.contains("SECRET-NEWER"))
    }

    @Test func trackedSecretsAndLargeFilesChangedOnDiskAreRestoredAndTheirChangesKeptOutOfGit() throws {
        let repo = try TestRepo()
        try repo.git(["config", "exp.maxFileSize", "1k"])
        try repo.write("config.key", "committed key\n")
        try repo.write("model.bin", "committed model\n")
        try repo.write("train.py", "print(1)\n")
        try repo.commitAll("init")
        try repo.write("train.py", "print(2)\n")
        #expect(try repo.runExp(["run", "--name", "r1", "--", "true"]).status == 0)
        try repo.write("config.key", "EDITED-KEY-77\n")
        try repo.write("model.bin", String(repeating: "EDITED-MODEL ", count: 200))
        try repo.chmod("model.bin", 0o755)
        let before = ["config.key", "model.bin"].map { fileState(repo, $0) }

        let refused = try repo.runExp(["checkout", "r1"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("  config.key\n  model.bin\n"), "\(refused.stderr)")

        let forward = try repo.runExp(["checkout", "r1", "--force"])
        #expect(forward.status == 0, "\(forward.stderr)")
        #expect(try repo.read("config.key") == "committed key\n")
        #expect(try repo.read("model.bin") == "committed model\n")
        #expect(forward.stderr.contains("kept outside git in "), "\(forward.stderr)")
        #expect(forward.stderr.contains(": config.key, model.bin\n"), "\(forward.stderr)")
        let back = try #require(wayBack(forward.stderr))
        let returned = try repo.runExp(["checkout", back, "--force"])
        #expect(returned.status == 0, "\(returned.stderr)")
        for (path, state) in zip(["config.key", "model.bin"], before) {
            #expect(fileState(repo, path)?.0 == state?.0, "\(path): content")
            #expect(fileState(repo, path)?.1 == state?.1, "\(path): mode")
        }
        #expect(try repo.read("train.py") == "print(2)\n")
        let objects = try allObjects(repo)
        #expect(!objects.contains("EDITED-KEY") && !objects.contains("EDITED-MODEL"))
        #expect(try autosaveRefs(repo).count == 1)
    }

    @Test func aSymlinkWhereASavedFileGoesBackIsRefused() throws {
        let repo = try repoWithUntrackedSecretAndLargeFile()
        let outside = repo.folder.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try Data("not yours\n".utf8).write(to: URL(fileURLWithPath: outside + "/.env"))
        let forward = try repo.runExp(["checkout", "r1", "--force"])
        let back = try #require(wayBack(forward.stderr), "\(forward.stderr)")

        // .env replaced by a symlink to a file outside: refused without --force, nothing written.
        try repo.remove(".env")
        try repo.symlink(".env", to: outside + "/.env")
        let refused = try repo.runExp(["checkout", back])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains(".env"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: outside + "/.env", encoding: .utf8) == "not yours\n")
        #expect(try repo.read("train.py") == "print(2)\n")

        // A folder above a saved file turned into a symlink: refused even with --force.
        try repo.remove(".env")
        try repo.write(".env", Self.secret)
        try FileManager.default.removeItem(atPath: repo.root + "/conf")
        try repo.symlink("conf", to: outside)
        let throughLink = try repo.runExp(["checkout", back, "--force"])
        #expect(throughLink.status == 1)
        #expect(throughLink.stderr.contains("conf"), "\(throughLink.stderr)")
        #expect(!FileManager.default.fileExists(atPath: outside + "/api.key"))
        #expect(try repo.read("train.py") == "print(2)\n")
    }

    @Test(arguments: ["../escaped.txt", ".git/hooks/post-commit", ".GIT/config", "a//b", "/tmp/abs"])
    func aSavedFilesListWithABadPathIsRefused(path: String) throws {
        let repo = try repoWithUntrackedSecretAndLargeFile()
        let forward = try repo.runExp(["checkout", "r1", "--force"])
        let back = try #require(wayBack(forward.stderr), "\(forward.stderr)")
        let ref = try #require(try autosaveRefs(repo).first)
        // The autosave's record, rewritten with git plumbing to list a hostile path.
        let list =
            "{\"format\": 1, \"files\": [{\"path\": \"\(path)\", \"kind\": \"file\", \"mode\": \"0755\","
            + " \"size\": 11, \"reason\": \"secret\", \"copy\": \"1\"}]}"
        let blob = try runProcess(
            ["git", "hash-object", "-w", "--stdin"], in: repo.root, environment: repo.environment, stdin: list
        ).stdout.trimmedLine
        let entries = try repo.git(["ls-tree", ref]).split(separator: "\n").filter {
            !$0.hasSuffix("\tsaved-files.json")
        }
        let tree = try runProcess(
            ["git", "mktree"], in: repo.root, environment: repo.environment,
            stdin: (entries + ["100644 blob \(blob)\tsaved-files.json"]).joined(separator: "\n") + "\n"
        ).stdout.trimmedLine
        let commit = try repo.gitLine(["commit-tree", tree, "-p", ref + "^1", "-m", "crafted"])
        try repo.git(["update-ref", ref, commit])
        // The folder around the repository (the repository itself is skipped there), and the
        // repository with its refs, index and hooks.
        let outside = repo.folder.path
        let before = try RepoFingerprint(root: outside, gitDir: outside + "/none")
        let repoBefore = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        let hooksBefore = try RepoFingerprint(root: repo.root + "/.git/hooks", gitDir: outside + "/none")

        let result = try repo.runExp(["checkout", back, "--force"])
        #expect(result.status == 1)
        #expect(result.stderr.contains("bad path"), "\(result.stderr)")
        #expect(try RepoFingerprint(root: outside, gitDir: outside + "/none").differences(from: before) == [])
        #expect(try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git").differences(from: repoBefore) == [])
        #expect(
            try RepoFingerprint(root: repo.root + "/.git/hooks", gitDir: outside + "/none").differences(
                from: hooksBefore) == [])
    }

    @Test func gcAutosavesPrunesOldOnesAndTheirCopies() throws {
        let repo = try repoWithUntrackedSecretAndLargeFile()
        let old = ["EXP_NOW": "2025-10-01T00:00:00Z"]
        let commonDir = try repo.gitLine(["rev-parse", "--git-common-dir"])
        let folder = (commonDir.hasPrefix("/") ? "" : repo.root + "/") + commonDir + "/exp/autosaves"
        let copies = { (try? FileManager.default.contentsOfDirectory(atPath: folder))?.count ?? 0 }

        // Two old autosaves, A1 and A2, each with out-of-git copies of the kept files.
        try repo.write("train.py", "print(3)\n")
        let first = try repo.runExp(["checkout", "r1", "--force"], env: old)
        let oldSave = try #require(wayBack(first.stderr), "\(first.stderr)")
        #expect(try repo.runExp(["checkout", oldSave], env: old).status == 0)
        try repo.write("train.py", "print(4)\n")
        let second = try repo.runExp(["checkout", "r1", "--force"], env: old)
        let printedSave = try #require(wayBack(second.stderr), "\(second.stderr)")
        #expect(copies() == 2, "each autosave keeps its out-of-git copies under \(folder)")
        // Today: back to A2, then to r1 again; the tree equals A2, so A2 is the way back printed.
        #expect(try repo.runExp(["checkout", printedSave]).status == 0)
        let last = try repo.runExp(["checkout", "r1"])
        #expect(wayBack(last.stderr) == printedSave, "\(last.stderr)")
        #expect(try autosaveRefs(repo).count == 2)

        let badAge = try repo.runExp(["gc", "--autosaves", "--older-than", "soon"])
        #expect(badAge.status == 2, "\(badAge.stderr)")
        #expect(try repo.runExp(["gc", "--older-than", "30d"]).status == 2)
        let dryRun = try repo.runExp(["gc", "--autosaves", "--older-than", "30d", "--dry-run"])
        #expect(dryRun.status == 0, "\(dryRun.stderr)")
        #expect(dryRun.stdout.contains("would remove \(oldSave)"), "\(dryRun.stdout)")
        #expect(try autosaveRefs(repo).count == 2)
        #expect(copies() == 2)

        let pruned = try repo.runExp(["gc", "--autosaves", "--older-than", "30d"])
        #expect(pruned.status == 0, "\(pruned.stderr)")
        #expect(pruned.stdout.contains("removed \(oldSave)"), "\(pruned.stdout)")
        #expect(!pruned.stdout.contains(printedSave), "the way back the last checkout printed is kept")
        #expect(try autosaveRefs(repo).count == 1)
        #expect(copies() == 1, "the removed autosave's copies are gone, the kept one's stay")

        // 40 days after that checkout, its way back is older than the limit too.
        let later = try repo.runExp(["gc", "--autosaves"], env: ["EXP_NOW": "2026-02-12T00:00:00Z"])
        #expect(later.stdout.contains("removed \(printedSave)"), "\(later.stdout)")
        #expect(try autosaveRefs(repo).isEmpty)
        #expect(copies() == 0)
    }
}
