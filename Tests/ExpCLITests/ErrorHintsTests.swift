import ExpTestSupport
import Foundation
import Testing

/// The CLI words the core's typed errors: exit 2 for usage errors and 1 for the rest, and
/// hints that name exp's commands and flags (Sources/exp/ErrorHints.swift).
@Suite("Error hints and exit codes (binary)")
struct ErrorHintsTests {
    /// A repository with one commit and two runs of the same code, `one` and `two`.
    func repoWithTwoRuns() throws -> TestRepo {
        let repo = try TestRepo()
        try repo.write("train.py", "print(1)\n")
        try repo.commitAll("init")
        for name in ["one", "two"] {
            let result = try repo.runExp(["run", "--name", name, "--", "true"])
            #expect(result.status == 0, "\(result.stderr)")
        }
        return repo
    }

    /// The short ids of the runs, by name, from `exp list --json`.
    func shortIDs(_ repo: TestRepo) throws -> [String: String] {
        let listed = try repo.runExp(["list", "--json"])
        let runs = try #require(
            try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]])
        var ids: [String: String] = [:]
        for run in runs {
            if let name = run["name"] as? String, let id = run["id"] as? String { ids[name] = String(id.prefix(10)) }
        }
        return ids
    }

    @Test func aMalformedRunReferenceIsAUsageErrorExiting2() throws {
        let repo = try repoWithTwoRuns()
        let result = try repo.runExp(["show", "latest~x"])
        #expect(result.status == 2)
        #expect(result.stdout == "")
        #expect(
            result.stderr
                == "exp: error: bad run reference 'latest~x': expected latest~N with N a number\n"
                + "hint: name a run by its name, an id prefix, latest, latest~N, min:KEY, max:KEY or tree:OID; "
                + "`exp list` shows them\n")
    }

    @Test func checkoutOptionsThatExcludeEachOtherExit2WithTheirFlags() throws {
        let repo = try repoWithTwoRuns()
        let before = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        let result = try repo.runExp(["checkout", "one", "--into", "elsewhere", "--", "train.py"])
        #expect(result.status == 2)
        #expect(result.stderr == "exp: error: --into and paths cannot be used together\nhint: use one or the other\n")
        #expect(try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git").differences(from: before) == [])
    }

    @Test func anAmbiguousTreeListsItsRunsAndNamesTheListCommand() throws {
        let repo = try repoWithTwoRuns()
        let tree = try repo.gitAddAllTree()
        let ids = try shortIDs(repo)
        let one = try #require(ids["one"])
        let two = try #require(ids["two"])
        let result = try repo.runExp(["show", "tree:" + tree])
        #expect(result.status == 1)
        // Newest first; two runs started in the same second come in either order.
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.count == 5)
        #expect(lines.first == "exp: error: tree:\(tree) is ambiguous; 2 runs ran that code:")
        #expect(Set(lines.dropFirst().prefix(2)) == ["  \(one)  one", "  \(two)  two"])
        #expect(
            lines.dropFirst(3) == ["hint: name one of them, or list them with `exp list --where 'tree = \(tree)'`", ""])
    }

    @Test func anUnknownRunNamesRecentRunsAndTheListCommand() throws {
        let repo = try repoWithTwoRuns()
        let result = try repo.runExp(["show", "zzz"])
        #expect(result.status == 1)
        // Newest first; two runs started in the same second come in either order.
        #expect(
            [
                "exp: error: no run named 'zzz'\nhint: recent runs: two, one; `exp list` shows all\n",
                "exp: error: no run named 'zzz'\nhint: recent runs: one, two; `exp list` shows all\n",
            ].contains(result.stderr), "\(result.stderr)")
    }

    @Test func aBareRepositoryGetsTheCloneCommand() throws {
        let repo = try TestRepo(bare: true)
        let root = repo.root.replacingOccurrences(of: "//", with: "/")
        let result = try repo.runExp(["list"])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("exp: error: "))
        #expect(result.stderr.contains("is a bare repository\n"))
        #expect(
            result.stderr.hasSuffix(
                "hint: exp records runs of a working tree; clone it (`git clone \(root) DIR`) and run exp there\n"))
    }

    @Test func notARepositoryNamesGitInit() throws {
        let folder = TemporaryFolder()
        let path = folder.path.replacingOccurrences(of: "//", with: "/")
        let result = try runProcess(
            [builtExp, "list"], in: folder.path, environment: TestRepo.hermeticEnvironment(home: folder.path))
        #expect(result.status == 1)
        #expect(
            result.stderr
                == "exp: error: not a git repository (or any parent folder): \(path)\n"
                + "hint: run exp inside a git repository, or create one with `git init`\n")
    }
}
