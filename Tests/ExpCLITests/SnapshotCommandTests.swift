import ExpTestSupport
import Foundation
import Testing

/// A repository with one commit (`a.txt`, `dir/b.txt`), then an edit, a deletion and a new file.
func dirtyRepo() throws -> TestRepo {
    let repo = try TestRepo()
    try repo.write("a.txt", "a\n")
    try repo.write("dir/b.txt", "b\n")
    try repo.commitAll("base")
    try repo.write("a.txt", "edited\n")
    try repo.remove("dir/b.txt")
    try repo.write("new.txt", "new\n")
    return repo
}

/// `text` parsed as a JSON object.
func jsonObject(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
    let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
    return try #require(value as? [String: Any], "not a JSON object: \(text)", sourceLocation: sourceLocation)
}

@Suite("exp snapshot")
struct SnapshotCommandTests {
    @Test func printsTheCommitOfTheWorkingTree() throws {
        let repo = try dirtyRepo()
        let head = try repo.gitLine(["rev-parse", "HEAD"])
        let status = try repo.git(["status", "--porcelain"])
        let before = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")

        let result = try repo.runExp(["snapshot"])
        #expect(result.status == 0)
        #expect(result.stdout.isCommitLine, "stdout: \(result.stdout)")
        #expect(result.stderr == "")
        let commit = result.stdout.trimmedLine
        #expect(try repo.gitLine(["cat-file", "-t", commit]) == "commit")
        #expect(try repo.gitLine(["rev-parse", "\(commit)^{tree}"]) == repo.gitAddAllOracle())
        #expect(try repo.gitLine(["rev-parse", "\(commit)^"]) == head)

        #expect(try repo.git(["status", "--porcelain"]) == status)
        let after = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        #expect(before == after, "exp snapshot changed the repository: \(before.differences(from: after))")
    }

    @Test func aCleanTreePrintsHEAD() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        let head = try repo.commitAll()
        let result = try repo.runExp(["snapshot"])
        #expect(result.status == 0)
        #expect(result.stdout == head + "\n")
        #expect(result.stderr == "")
    }

    @Test func jsonHasTheDocumentedFields() throws {
        let repo = try dirtyRepo()
        try repo.write(".env", "TOKEN=secret\n")
        let head = try repo.gitLine(["rev-parse", "HEAD"])
        let result = try repo.runExp(["snapshot", "--json"])
        #expect(result.status == 0)
        let json = try jsonObject(result.stdout)
        #expect(Set(json.keys) == ["commit", "tree", "parent", "branch", "clean", "counts", "skipped"])
        let commit = try #require(json["commit"] as? String)
        #expect((commit + "\n").isCommitLine)
        #expect(json["tree"] as? String == (try repo.gitLine(["rev-parse", "\(commit)^{tree}"])))
        #expect(json["parent"] as? String == head)
        #expect(json["branch"] as? String == "main")
        #expect(json["clean"] as? Bool == false)
        let counts = try #require(json["counts"] as? [String: Any])
        #expect(counts["modified"] as? Int == 1)
        #expect(counts["added"] as? Int == 1)
        #expect(counts["deleted"] as? Int == 1)
        let skipped = try #require(json["skipped"] as? [[String: Any]])
        #expect(skipped.count == 1)
        #expect(skipped.first?["path"] as? String == ".env")
        #expect(skipped.first?["reason"] as? String == "secret")
        #expect(skipped.first?["size"] as? Int == 13)
    }

    @Test func jsonOfACleanTree() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        let head = try repo.commitAll()
        let json = try jsonObject(try repo.runExp(["snapshot", "--json"]).stdout)
        #expect(json["commit"] as? String == head)
        #expect(json["parent"] as? String == head)
        #expect(json["clean"] as? Bool == true)
        let counts = try #require(json["counts"] as? [String: Int])
        #expect(counts == ["modified": 0, "added": 0, "deleted": 0])
        #expect((json["skipped"] as? [Any])?.isEmpty == true)
    }

    @Test func jsonOnAnUnbornBranchHasNoParent() throws {
        let repo = try TestRepo()
        try repo.write("first.txt", "1\n")
        let result = try repo.runExp(["snapshot", "--json"])
        #expect(result.status == 0)
        let json = try jsonObject(result.stdout)
        #expect(json["parent"] == nil || json["parent"] is NSNull)
        #expect(json["branch"] as? String == "main")
        #expect(json["clean"] as? Bool == false)
        let commit = try #require(json["commit"] as? String)
        #expect(try repo.gitLine(["rev-list", "--parents", "-n", "1", commit]) == commit, "a root commit")
        #expect(try repo.gitLine(["rev-parse", "\(commit)^{tree}"]) == repo.gitAddAllOracle())
    }

    @Test func jsonOnADetachedHeadHasNoBranch() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        let head = try repo.commitAll()
        try repo.git(["checkout", "-q", "--detach"])
        try repo.write("a.txt", "edited\n")
        let json = try jsonObject(try repo.runExp(["snapshot", "--json"]).stdout)
        #expect(json["branch"] == nil || json["branch"] is NSNull)
        #expect(json["parent"] as? String == head)
    }

    @Test func skippedFilesAreReportedOnStderr() throws {
        let repo = try dirtyRepo()
        try repo.git(["config", "exp.maxFileSize", "1k"])
        try repo.write(".env", "TOKEN=secret\n")
        try repo.write("keys/server.pem", "-----BEGIN PRIVATE KEY-----\n")
        try repo.write("big.bin", Data(repeating: 7, count: 2048))
        try repo.write("small.bin", Data(repeating: 7, count: 1024))  // exactly the limit: taken

        let result = try repo.runExp(["snapshot"])
        #expect(result.status == 0)
        #expect(result.stdout.isCommitLine)
        #expect(
            result.stderr == """
                exp: skipped .env (named like a secret)
                exp: skipped big.bin (2.0 KiB, over exp.maxFileSize)
                exp: skipped keys/server.pem (named like a secret)

                """)
        let tree = try repo.gitLine(["rev-parse", "\(result.stdout.trimmedLine)^{tree}"])
        #expect(tree == (try repo.gitAddAllOracle(excluding: [".env", "big.bin", "keys/server.pem"])))

        let json = try jsonObject(try repo.runExp(["snapshot", "--json"]).stdout)
        let skipped = try #require(json["skipped"] as? [[String: Any]])
        #expect(skipped.map { $0["path"] as? String } == [".env", "big.bin", "keys/server.pem"])
        #expect(skipped.map { $0["reason"] as? String } == ["secret", "too-large", "secret"])
        #expect(skipped[1]["size"] as? Int == 2048)
    }

    @Test func trackedSecretsAndLargeTrackedFilesAreKept() throws {
        let repo = try TestRepo()
        try repo.write(".env.example", "TOKEN=\n")
        try repo.write("big.bin", Data(repeating: 1, count: 4096))
        try repo.commitAll()
        try repo.git(["config", "exp.maxFileSize", "1k"])
        try repo.write(".env.example", "TOKEN=changeme\n")
        try repo.write("big.bin", Data(repeating: 2, count: 4096))
        let result = try repo.runExp(["snapshot"])
        #expect(result.status == 0)
        #expect(result.stderr == "")
        #expect(try repo.gitLine(["rev-parse", "\(result.stdout.trimmedLine)^{tree}"]) == repo.gitAddAllOracle())
    }

    /// A racily clean entry: the file changed but kept its size and modification time, and the
    /// index was written in that same instant. Only reading the file tells; git does, so must exp.
    @Test func aRacilyCleanEditIsTaken() throws {
        let repo = try TestRepo()
        try repo.write("params.txt", "lr=0.1\n")
        try repo.commitAll()
        try repo.git(["config", "core.trustctime", "false"])  // a rewrite always changes the ctime
        let reference = repo.folder.path + "/mtime-reference"
        let touch = { (args: [String]) throws in try repo.runChecked(["touch"] + args) }
        try touch([reference])
        try touch(["-r", repo.root + "/params.txt", reference])
        try repo.write("params.txt", "lr=0.3\n")  // same size
        try touch(["-r", reference, repo.root + "/params.txt"])
        try touch(["-r", reference, repo.root + "/.git/index"])

        let result = try repo.runExp(["snapshot"])
        #expect(result.status == 0)
        let commit = result.stdout.trimmedLine
        #expect(try repo.git(["show", "\(commit):params.txt"]) == "lr=0.3\n")
        #expect(try repo.gitLine(["rev-parse", "\(commit)^{tree}"]) == repo.gitAddAllOracle())
    }

    @Test func expconfigAndExpignoreAtTheRootApply() throws {
        let repo = try dirtyRepo()
        try repo.write(".expconfig", "[exp]\n\tmaxFileSize = 100\n")
        try repo.write(".expignore", "scratch/\n")
        try repo.write("scratch/notes.txt", "notes\n")
        try repo.write("medium.txt", String(repeating: "x", count: 200))
        let result = try repo.runExp(["snapshot", "--json"])
        #expect(result.status == 0)
        let json = try jsonObject(result.stdout)
        let skipped = try #require(json["skipped"] as? [[String: Any]])
        #expect(skipped.contains { $0["path"] as? String == "medium.txt" && $0["reason"] as? String == "too-large" })
        let tree = try repo.gitLine(["rev-parse", "\(try #require(json["commit"] as? String))^{tree}"])
        #expect(tree == (try repo.gitAddAllOracle(excluding: ["medium.txt", "scratch"])))

        try repo.git(["config", "exp.maxFileSize", "10m"])  // the user's git config wins
        let again = try jsonObject(try repo.runExp(["snapshot", "--json"]).stdout)
        #expect((again["skipped"] as? [Any])?.isEmpty == true)
    }

    @Test func dashCRunsAsIfStartedThere() throws {
        let repo = try dirtyRepo()
        try repo.write("dir/sub/c.txt", "c\n")
        let expected = try repo.runExp(["snapshot"]).stdout
        #expect(expected.isCommitLine)
        let outside = repo.folder.path

        let absolute = try repo.runExp(["snapshot", "-C", repo.root], in: outside)
        #expect(absolute.status == 0)
        #expect(absolute.stdout == expected, "the same tree, parent, author and time give the same commit")

        let relative = try repo.runExp(["snapshot", "-C", "repo"], in: outside)
        #expect(relative.status == 0)
        #expect(relative.stdout == expected)

        let subfolder = try repo.runExp(["snapshot", "-C", "dir/sub"])
        #expect(subfolder.stdout == expected)
    }

    @Test func dashCToAFolderOutsideAnyRepositoryFails() throws {
        let repo = try dirtyRepo()
        let elsewhere = TemporaryFolder()
        let result = try repo.runExp(["snapshot", "-C", elsewhere.path])
        #expect(result.status == 1)
        #expect(result.stdout == "")
        #expect(result.stderr.hasPrefix("exp: error: not a git repository"))
    }

    @Test func outsideARepositoryIsAnErrorWithAHint() throws {
        let folder = try TestRepo(initialize: false)
        let result = try folder.runExp(["snapshot"])
        #expect(result.status == 1)
        #expect(result.stdout == "")
        #expect(result.stderr.hasPrefix("exp: error: not a git repository"))
        #expect(result.stderr.split(separator: "\n").contains { $0.hasPrefix("hint: ") })
        let stderr = result.stderr.replacingOccurrences(of: canonicalPath(folder.root), with: "<DIR>")
            .replacingOccurrences(of: folder.root, with: "<DIR>")
        try Golden.expect(stderr, matches: "snapshot-outside-repository.stderr")
    }

    @Test func aBareRepositoryIsAnError() throws {
        let repo = try TestRepo(bare: true)
        let result = try repo.runExp(["snapshot"])
        #expect(result.status == 1)
        #expect(result.stdout == "")
        #expect(result.stderr.hasPrefix("exp: error: "))
        #expect(result.stderr.contains("bare repository"))
    }

    @Test func anUnknownOptionIsAUsageError() throws {
        let repo = try dirtyRepo()
        let result = try repo.runExp(["snapshot", "--bogus"])
        #expect(result.stdout == "")
        #expect(result.status != 0)
        #expect(result.status == 2)
        try Golden.expect(result.stderr, matches: "snapshot-unknown-option.stderr")
        #expect(try repo.git(["for-each-ref", "refs/exp/"]).isEmpty)
    }

    @Test func aBadColorChoiceIsAUsageError() throws {
        let repo = try dirtyRepo()
        let result = try repo.runExp(["snapshot", "--color", "sometimes"])
        #expect(result.stdout == "")
        #expect(result.status != 0 && result.status != 1)
        #expect(result.stderr.contains("sometimes"))
        let accepted = try repo.runExp(["snapshot", "--color", "never"])
        #expect(accepted.status == 0)
    }
}

@Suite("exp help")
struct HelpTests {
    @Test func topLevelHelp() throws {
        let repo = try TestRepo(initialize: false)
        let result = try repo.runExp(["--help"])
        #expect(result.status == 0)
        #expect(result.stderr == "")
        try Golden.expect(result.stdout, matches: "help.stdout")
    }

    @Test func snapshotHelp() throws {
        let repo = try TestRepo(initialize: false)
        let result = try repo.runExp(["snapshot", "--help"])
        #expect(result.status == 0)
        #expect(result.stderr == "")
        try Golden.expect(result.stdout, matches: "snapshot-help.stdout")
        #expect(try repo.runExp(["help", "snapshot"]).stdout == result.stdout, "`exp help snapshot` says the same")
    }

    @Test func helpDoesNotDependOnTheTerminalWidthGivenColumns() throws {
        let repo = try TestRepo(initialize: false)
        let first = try repo.runExp(["snapshot", "--help"])
        let second = try repo.runExp(["snapshot", "--help"], env: ["TERM": "dumb", "LINES": "10"])
        #expect(first.stdout == second.stdout)
        #expect(first.stdout.split(separator: "\n").allSatisfy { $0.count <= 100 })
    }
}

/// `path` with symlinks and `//` resolved, as the kernel reports a process's working folder.
func canonicalPath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}
