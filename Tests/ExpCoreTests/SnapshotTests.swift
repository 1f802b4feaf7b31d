import ExpCore
import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// Takes a snapshot through ExpCore and checks it against the git CLI oracle: the tree equals
/// `git add -A && git write-tree` (minus `excluding`), the commit's parent is HEAD, and
/// nothing in the repository changed.
@discardableResult
func expectSnapshotMatchesGit(
    _ repo: TestRepo, excluding: [String] = [], in directory: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> Snapshot {
    let dir = directory ?? repo.root
    let gitDir = try repo.gitLine(["rev-parse", "--absolute-git-dir"], in: dir)
    let top = try repo.gitLine(["rev-parse", "--show-toplevel"], in: dir)
    let before = try RepoFingerprint(root: top, gitDir: gitDir)
    let snapshot = try Workspace(context: repo.context(in: dir)).takeSnapshot()
    let after = try RepoFingerprint(root: top, gitDir: gitDir)
    #expect(
        before == after, "snapshot changed the repository: \(before.differences(from: after))",
        sourceLocation: sourceLocation)
    let oracle = try repo.gitAddAllTree(excluding: excluding, in: dir)
    #expect(snapshot.tree.hex == oracle, "snapshot tree differs from git add -A", sourceLocation: sourceLocation)
    #expect(
        try repo.gitLine(["rev-parse", "\(snapshot.commit.hex)^{tree}"], in: dir) == snapshot.tree.hex,
        sourceLocation: sourceLocation)
    let head = try? repo.gitLine(["rev-parse", "-q", "--verify", "HEAD"], in: dir)
    #expect(snapshot.parent?.hex == head, sourceLocation: sourceLocation)
    if !snapshot.clean {
        let parents = try repo.gitLine(["rev-list", "--parents", "-n", "1", snapshot.commit.hex], in: dir)
            .split(separator: " ").dropFirst().map(String.init)
        #expect(parents == (head.map { [$0] } ?? []), sourceLocation: sourceLocation)
    }
    return snapshot
}

@Suite("Snapshot equals git add -A")
struct SnapshotTests {
    @Test func cleanTreeIsHEADItself() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        let head = try repo.commitAll()
        let objectsBefore = try repo.git(["count-objects", "-v"])
        let snapshot = try expectSnapshotMatchesGit(repo)
        #expect(snapshot.clean)
        #expect(snapshot.commit.hex == head)
        #expect(snapshot.counts == ChangeCounts())
        #expect(try repo.git(["count-objects", "-v"]) == objectsBefore, "a clean snapshot writes no object")
    }

    @Test func trackedChangesDeletionsAndUntrackedFiles() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        try repo.write("dir/b.txt", "b\n")
        try repo.write("dir/c.txt", "c\n")
        try repo.commitAll()
        try repo.write("a.txt", "changed\n")
        try repo.remove("dir/b.txt")
        try repo.write("new/d.txt", "d\n")
        try repo.write("dir/e.txt", "e\n")
        let snapshot = try expectSnapshotMatchesGit(repo)
        #expect(!snapshot.clean)
        #expect(snapshot.counts == ChangeCounts(modified: 1, added: 2, deleted: 1))
        #expect(snapshot.branch == "main")
    }

    @Test func stagedChangesAreKept() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        try repo.commitAll()
        try repo.write("staged.txt", "s\n")
        try repo.git(["add", "staged.txt"])
        try repo.write("a.txt", "staged edit\n")
        try repo.git(["add", "a.txt"])
        try repo.write("a.txt", "worktree edit\n")  // the worktree wins, as with git add -A
        try expectSnapshotMatchesGit(repo)
    }

    @Test func ignoreRulesAtEveryLevel() throws {
        let repo = try TestRepo()
        try repo.write(".gitignore", "*.log\nbuild/\n")
        try repo.write("sub/.gitignore", "local.txt\n!keep.log\n")
        try repo.write("tracked.txt", "t\n")
        try repo.commitAll()
        try repo.write(".git/info/exclude", "excluded-by-info\n")
        let globalIgnore = repo.folder.path + "/global-ignore"
        try "from-excludes-file\n".write(toFile: globalIgnore, atomically: true, encoding: .utf8)
        try repo.git(["config", "core.excludesFile", globalIgnore])
        for path in [
            "x.log", "build/out.bin", "sub/local.txt", "sub/keep.log", "excluded-by-info",
            "deep/excluded-by-info", "from-excludes-file", "sub/ok.txt", "deep/ok.txt",
        ] {
            try repo.write(path, path + "\n")
        }
        let snapshot = try expectSnapshotMatchesGit(repo)
        #expect(snapshot.counts.added == 3)  // sub/keep.log, sub/ok.txt, deep/ok.txt
    }

    @Test func ignoredTrackedFileStaysTracked() throws {
        let repo = try TestRepo()
        try repo.write("config.log", "v1\n")
        try repo.commitAll()
        try repo.write(".gitignore", "*.log\n")
        try repo.write("config.log", "v2\n")
        try expectSnapshotMatchesGit(repo)
    }

    @Test func symlinksAndExecutableBits() throws {
        let repo = try TestRepo()
        try repo.write("run.sh", "#!/bin/sh\n")
        try repo.write("lib.py", "x = 1\n")
        try repo.symlink("link-to-lib", to: "lib.py")
        try repo.commitAll()
        try repo.chmod("run.sh", 0o755)  // mode change only
        try repo.symlink("dangling", to: "does/not/exist")
        try repo.symlink("dir-link", to: "/tmp")
        try repo.remove("link-to-lib")
        try repo.symlink("link-to-lib", to: "run.sh")  // retargeted
        try repo.write("new-tool", "#!/bin/sh\n")
        try repo.chmod("new-tool", 0o700)
        let snapshot = try expectSnapshotMatchesGit(repo)
        #expect(snapshot.counts.modified == 2)
    }

    @Test func fileReplacedByFolderAndBack() throws {
        let repo = try TestRepo()
        try repo.write("thing", "file\n")
        try repo.write("folder/inner.txt", "i\n")
        try repo.commitAll()
        try repo.remove("thing")
        try repo.write("thing/now-a-folder.txt", "f\n")
        try repo.remove("folder")
        try repo.write("folder", "now a file\n")
        try expectSnapshotMatchesGit(repo)
    }

    @Test func attributesFiltersAndLineEndings() throws {
        let repo = try TestRepo()
        try repo.write(".gitattributes", "*.txt text eol=lf\n*.id ident\n*.bin -text\n")
        try repo.write("keep.txt", "x\n")
        try repo.commitAll()
        try repo.write("crlf.txt", "one\r\ntwo\r\n")
        try repo.write("version.id", "$Id$\nbody\n")
        try repo.write("raw.bin", "a\r\nb\r\n")
        try repo.write("keep.txt", "changed\r\n")
        try expectSnapshotMatchesGit(repo)
    }

    @Test func autocrlfConfig() throws {
        let repo = try TestRepo()
        try repo.git(["config", "core.autocrlf", "input"])
        try repo.write("a.txt", "a\n")
        try repo.commitAll()
        try repo.write("a.txt", "x\r\ny\r\n")
        try repo.write("b.txt", "b\r\n")
        try expectSnapshotMatchesGit(repo)
    }

    @Test func fileModeIgnoredWhenCoreFileModeIsFalse() throws {
        let repo = try TestRepo()
        try repo.write("tool", "#!/bin/sh\n")
        try repo.chmod("tool", 0o755)
        try repo.commitAll()
        try repo.git(["config", "core.fileMode", "false"])
        try repo.chmod("tool", 0o644)
        try repo.write("tool", "#!/bin/sh\necho changed\n")
        try repo.write("new", "x\n")
        try repo.chmod("new", 0o755)
        try expectSnapshotMatchesGit(repo)
    }

    @Test func namesWithSpacesUnicodeAndNewlines() throws {
        let repo = try TestRepo()
        try repo.write("plain.txt", "p\n")
        try repo.commitAll()
        for name in ["with space.txt", "ünïcødé/ファイル.txt", "new\nline.txt", "tab\there", "quote\"d", "-dash"] {
            try repo.write(name, name + "\n")
        }
        let snapshot = try expectSnapshotMatchesGit(repo)
        #expect(snapshot.counts.added == 6)
    }

    @Test func fromSubfolder() throws {
        let repo = try TestRepo()
        try repo.write("top.txt", "t\n")
        try repo.write("sub/deeper/file.txt", "f\n")
        try repo.commitAll()
        try repo.write("top.txt", "edited\n")
        try repo.write("sub/new.txt", "n\n")
        try expectSnapshotMatchesGit(repo, in: repo.root + "/sub/deeper")
    }

    @Test func detachedHead() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "1\n")
        let first = try repo.commitAll("one")
        try repo.write("a.txt", "2\n")
        try repo.commitAll("two")
        try repo.git(["checkout", "-q", "--detach", first])
        try repo.write("b.txt", "b\n")
        let snapshot = try expectSnapshotMatchesGit(repo)
        #expect(snapshot.branch == nil)
        #expect(snapshot.parent?.hex == first)
    }

    @Test func emptyRepository() throws {
        let repo = try TestRepo()
        let empty = try expectSnapshotMatchesGit(repo)
        #expect(empty.parent == nil)
        #expect(empty.tree.hex == "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
        #expect(empty.branch == "main")
        try repo.write("first.txt", "hello\n")
        try repo.write("sub/second.txt", "world\n")
        let withFiles = try expectSnapshotMatchesGit(repo)
        #expect(withFiles.parent == nil)
        #expect(withFiles.counts.added == 2)
        #expect(try repo.gitLine(["cat-file", "-t", withFiles.commit.hex]) == "commit")
    }

    @Test func linkedWorktree() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        try repo.commitAll()
        let other = repo.folder.path + "/linked"
        try repo.git(["worktree", "add", "-q", "-b", "side", other])
        try "changed in linked\n".write(toFile: other + "/a.txt", atomically: false, encoding: .utf8)
        try "new\n".write(toFile: other + "/n.txt", atomically: false, encoding: .utf8)
        let mainBefore = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        let snapshot = try expectSnapshotMatchesGit(repo, in: other)
        #expect(snapshot.branch == "side")
        #expect(try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git") == mainBefore)
    }

    @Test func submodulesAtTheirCheckedOutCommit() throws {
        let library = try TestRepo()
        try library.write("lib.txt", "v1\n")
        try library.commitAll("v1")
        try library.write("lib.txt", "v2\n")
        let v2 = try library.commitAll("v2")
        let repo = try TestRepo()
        try repo.write("main.txt", "m\n")
        try repo.git(["-c", "protocol.file.allow=always", "submodule", "add", "-q", library.root, "vendor/lib"])
        try repo.commitAll("add submodule")
        try repo.git(["checkout", "-q", "HEAD~1"], in: repo.root + "/vendor/lib")  // move the submodule
        try "dirty\n".write(toFile: repo.root + "/vendor/lib/lib.txt", atomically: false, encoding: .utf8)
        let snapshot = try expectSnapshotMatchesGit(repo)
        let entry = try repo.gitLine(["ls-tree", snapshot.tree.hex, "vendor/lib"])
        #expect(entry.hasPrefix("160000 commit"))
        #expect(!entry.contains(v2))
    }

    @Test func embeddedRepositoryBecomesGitlink() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        try repo.commitAll()
        let nested = repo.root + "/nested"
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
        try repo.git(["init", "-q", "-b", "main"], in: nested)
        try "n\n".write(toFile: nested + "/n.txt", atomically: false, encoding: .utf8)
        try repo.git(["add", "-A"], in: nested)
        try repo.git(["commit", "-q", "-m", "nested"], in: nested)
        try expectSnapshotMatchesGit(repo)
    }

    @Test func mergeConflictTakesTheWorkingFile() throws {
        let repo = try TestRepo()
        try repo.write("f.txt", "base\n")
        try repo.commitAll("base")
        try repo.git(["checkout", "-q", "-b", "other"])
        try repo.write("f.txt", "other\n")
        try repo.commitAll("other")
        try repo.git(["checkout", "-q", "main"])
        try repo.write("f.txt", "main\n")
        try repo.commitAll("main")
        _ = try? repo.git(["merge", "-q", "other"])
        #expect(try repo.git(["status", "--porcelain"]).contains("UU f.txt"))
        try expectSnapshotMatchesGit(repo)
    }
}

@Suite("What a snapshot leaves out")
struct SnapshotSkipTests {
    @Test func largeUntrackedFilesAreSkippedAndReported() throws {
        let repo = try TestRepo()
        try repo.write("small.txt", "s\n")
        try repo.write("tracked-big.bin", String(repeating: "x", count: 4000))
        try repo.commitAll()
        try repo.git(["config", "exp.maxFileSize", "2k"])
        try repo.write("big.bin", String(repeating: "y", count: 3000))
        try repo.write("tracked-big.bin", String(repeating: "z", count: 5000))
        try repo.write("ok.bin", String(repeating: "o", count: 2048))
        let snapshot = try expectSnapshotMatchesGit(repo, excluding: ["big.bin"])
        #expect(snapshot.skipped == [SkippedFile(path: "big.bin", size: 3000, reason: .tooLarge)])
    }

    @Test func defaultLimitIsTenMebibytes() throws {
        let repo = try TestRepo()
        try repo.write("a", "a\n")
        try repo.commitAll()
        try repo.write("limit.bin", Data(count: 10 << 20))
        try repo.write("over.bin", Data(count: (10 << 20) + 1))
        let snapshot = try expectSnapshotMatchesGit(repo, excluding: ["over.bin"])
        #expect(snapshot.skipped.map(\.path) == ["over.bin"])
    }

    @Test func secretsAreNeverTaken() throws {
        let repo = try TestRepo()
        try repo.write("tracked.key", "already in git\n")
        try repo.commitAll()
        try repo.write("tracked.key", "edited, still tracked\n")
        let secrets = [
            ".env", "app/.env.local", "server.pem", "deploy/id_rsa", "id_rsa.pub", "id_ed25519", "cert.p12",
            ".netrc", ".pypirc", "credentials.json", "credentials-prod.json", "secrets.yaml", "x.key",
            // Issue 13, item 7: more names, and every name in any case.
            "home/.aws/credentials", ".git-credentials", ".npmrc", ".envrc", "service-account-prod.json",
            "ops/kubeconfig", "prod.kubeconfig.yaml", ".kube/config", "release.keystore", "android.jks",
            "ci/.docker/config.json", ".boto", ".s3cfg", "ID_RSA", ".ENV", "Server.PEM", "Credentials.JSON",
            "SECRETS.toml", ".AWS/CREDENTIALS",
        ]
        for path in secrets { try repo.write(path, "secret\n") }
        // Names that only look close: a pattern with a folder needs that folder.
        let fine = [
            "environment.py", "keys.txt", "aws/credentials", "config", "kube/config", "docker/config.json",
            "credentials.txt", "keystore.py",
        ]
        for path in fine { try repo.write(path, "fine\n") }
        let snapshot = try expectSnapshotMatchesGit(repo, excluding: secrets)
        #expect(Set(snapshot.skipped.map(\.path)) == Set(secrets))
        #expect(snapshot.skipped.allSatisfy { $0.reason == .secret })
    }

    @Test func expignoreAndExpconfig() throws {
        let repo = try TestRepo()
        try repo.write(".expignore", "data/\n*.ckpt\n")
        try repo.write(".expconfig", "[exp]\n\tmaxFileSize = 100\n")
        try repo.write("data/tracked.csv", "t\n")
        try repo.commitAll()
        try repo.write("data/tracked.csv", "still taken\n")
        try repo.write("data/new.csv", "left out\n")
        try repo.write("model.ckpt", "left out\n")
        try repo.write("medium.txt", String(repeating: "m", count: 200))
        let snapshot = try expectSnapshotMatchesGit(
            repo, excluding: ["data/new.csv", "model.ckpt", "medium.txt"])
        #expect(snapshot.skipped.map(\.path) == ["medium.txt"])
        // The user's own git config wins over the shared .expconfig.
        try repo.git(["config", "exp.maxFileSize", "1m"])
        try expectSnapshotMatchesGit(repo, excluding: ["data/new.csv", "model.ckpt"])
    }

    @Test func badMaxFileSizeIsAClearError() throws {
        let repo = try TestRepo()
        try repo.git(["config", "exp.maxFileSize", "lots"])
        #expect {
            try Workspace(context: repo.context()).takeSnapshot()
        } throws: { error in
            (error as? ExpError)?.message.contains("exp.maxFileSize") == true
        }
    }
}

@Suite("Where a snapshot cannot be taken")
struct SnapshotErrorTests {
    @Test func outsideARepository() throws {
        let folder = TemporaryFolder()
        let context = ExpContext(
            workingDirectory: folder.path, environment: TestRepo.hermeticEnvironment(home: folder.path))
        #expect {
            try Workspace(context: context)
        } throws: { error in
            guard let error = error as? ExpError else { return false }
            return error.message.hasPrefix("not a git repository") && error.hint != nil && error.kind == .notFound
                && error.reason == .notARepository(path: folder.path)
        }
    }

    @Test func bareRepository() throws {
        let repo = try TestRepo(bare: true)
        #expect {
            try Workspace(context: repo.context())
        } throws: { error in
            guard let error = error as? ExpError else { return false }
            return error.kind == .conflict && error.reason == .bareRepository(path: repo.root)
        }
    }
}

@Suite("Index layouts the snapshot reads")
struct SnapshotIndexFormatTests {
    func repoWithChanges() throws -> TestRepo {
        let repo = try TestRepo()
        for i in 0..<30 { try repo.write("src/dir\(i % 4)/file\(i).txt", "content \(i)\n") }
        try repo.commitAll()
        try repo.write("src/dir1/file1.txt", "edited\n")
        try repo.remove("src/dir2/file2.txt")
        try repo.write("src/new/untracked.txt", "new\n")
        return repo
    }

    @Test(arguments: ["2", "3", "4"])
    func indexVersion(_ version: String) throws {
        let repo = try repoWithChanges()
        try repo.git(["update-index", "--index-version", version])
        try expectSnapshotMatchesGit(repo)
    }

    @Test func splitIndexIsAClearErrorThatChangesNothing() throws {
        let repo = try repoWithChanges()
        try repo.git(["update-index", "--split-index"])
        let before = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        #expect {
            try Workspace(context: repo.context()).takeSnapshot()
        } throws: { error in
            (error as? ExpError)?.message.contains("git update-index --no-split-index") == true
        }
        #expect(try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git") == before)
        try repo.git(["update-index", "--no-split-index"])
        try expectSnapshotMatchesGit(repo)
    }

    @Test func intentToAdd() throws {
        let repo = try repoWithChanges()
        try repo.write("planned.txt", "planned\n")
        try repo.git(["add", "-N", "planned.txt"])
        try expectSnapshotMatchesGit(repo)
    }

    @Test func sparseCheckoutLeavesSkippedPathsAlone() throws {
        let repo = try repoWithChanges()
        try repo.commitAll("all")
        try repo.git(["sparse-checkout", "set", "--no-cone", "/src/dir1/"])
        try repo.write("src/dir1/file5.txt", "edited in sparse\n")
        try expectSnapshotMatchesGit(repo)
    }

    @Test func staleCacheTreeAfterStaging() throws {
        let repo = try repoWithChanges()
        try repo.git(["add", "src/dir1/file1.txt"])
        try repo.write("src/dir0/file0.txt", "edited too\n")
        try expectSnapshotMatchesGit(repo)
    }

    @Test func racilyCleanFileIsHashed() throws {
        let repo = try TestRepo()
        try repo.write("same-size.txt", "aaaa\n")
        try repo.commitAll()
        // Same size, written right after the index: only a hash can tell it changed.
        try repo.write("same-size.txt", "bbbb\n")
        try expectSnapshotMatchesGit(repo)
    }
}

@Suite("Ignore rules match git's")
struct IgnoreRuleTests {
    static let paths = [
        "a.log", "keep.log", "dir/a.log", "dir/keep.log", "dir/sub/a.log", "build/out.o", "src/build/x.o",
        "src/main.c", "src/lib/util.c", "docs/readme.md", "docs/api/index.md", "tmp", "x/tmp/file",
        "foo/bar/baz.txt", "foo/baz.txt", "[weird].txt", "star*name", "back\\slash", "#hash", "!bang",
        "trailing ", "a/b/c/d/e.txt", "data1.csv", "data22.csv", "DATA.CSV", "node_modules/x/y.js",
        "deep/node_modules/z.js", ".hidden/file", "abc.txt", "a-c.txt",
    ]

    static let ignoreFiles: [String] = [
        "*.log\n!keep.log\n",
        "build/\n",
        "/build/\n",
        "src/**/*.c\n",
        "**/api\n",
        "docs/*\n!docs/api/\n",
        "foo/**/baz.txt\n",
        "foo/*/baz.txt\n",
        "tmp\n",
        "tmp/\n",
        "\\[weird\\].txt\nstar\\*name\n",
        "\\#hash\n\\!bang\n",
        "trailing\\ \n",
        "data?.csv\ndata[0-9][0-9].csv\n",
        "[[:upper:]]*\n",
        "a[!b]c.txt\na[-]c.txt\n",
        "node_modules\n",
        "/node_modules\n",
        ".*\n!.gitignore\n",
        "*\n!*/\n!*.c\n",
        "a/**\n!a/b/\n",
        "**/d/\n",
        "# comment\n\n*.txt\n!abc.txt\n",
    ]

    @Test(arguments: ignoreFiles)
    func ignoreFileMatchesGit(_ rules: String) throws {
        let repo = try TestRepo()
        try repo.write("README", "tracked\n")
        try repo.commitAll()
        for path in Self.paths { try repo.write(path, path + "\n") }
        try repo.write(".gitignore", rules)
        try repo.write("dir/.gitignore", "!a.log\nsub/\n")
        try expectSnapshotMatchesGit(repo)
    }
}
