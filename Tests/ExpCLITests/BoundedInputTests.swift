import ExpTestSupport
import Foundation
import Testing

/// Issue 13, item 10: any input gets bounded work and a clear error. Every command here runs
/// under `timeout`, so a hang fails the test (exit 124) instead of stalling the suite.
@Suite("Bounded work for any input")
struct BoundedInputTests {
    /// `exp` with a 60 s limit.
    private func expLimited(_ repo: TestRepo, _ args: [String], env: [String: String] = [:]) throws -> ProcessResult {
        var environment = repo.environment.merging(env) { $1 }
        environment["COLUMNS"] = "100"
        return try runProcess(["timeout", "60", builtExp] + args, in: repo.root, environment: environment)
    }

    private func repoWithRuns() throws -> TestRepo {
        let repo = try TestRepo()
        try repo.write("train.py", "print('hi')\n")
        try repo.commitAll()
        for lr in ["0.1", "0.01"] {
            let run = try repo.runExp(["run", "--", "sh", "-c", "echo loss: \(lr)", "--lr", lr])
            #expect(run.status == 0, "\(run.stderr)")
        }
        return repo
    }

    /// The files of exp's folder, with their inode numbers: a rebuilt index gets a new inode.
    private func expFolderState(_ repo: TestRepo) throws -> [String: UInt64] {
        let folder = repo.root + "/.git/exp"
        var state: [String: UInt64] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
            let attributes = try FileManager.default.attributesOfItem(atPath: folder + "/" + name)
            state[name] = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        }
        return state
    }

    @Test("deeply nested --where is refused with its column, and the index is left alone")
    func deepFilters() throws {
        let repo = try repoWithRuns()
        _ = try repo.runExp(["list"])
        let before = try expFolderState(repo)
        let parentheses = String(repeating: "(", count: 4500) + "lr < 1" + String(repeating: ")", count: 4500)
        let nots = String(repeating: "not ", count: 1000) + "lr < 1"
        for filter in [parentheses, nots] {
            let result = try expLimited(repo, ["list", "--where", filter])
            #expect(!result.signaled && result.status == 2, "\(result.status) \(result.stderr.prefix(300))")
            #expect(result.stderr.hasPrefix("exp: error: --where: the filter nests '(' and 'not' more than 16 deep"))
            #expect(!result.stderr.contains("index"))
            // The filter is shown around the column, not whole.
            #expect(result.stderr.count < 600)
        }
        #expect(try expFolderState(repo) == before, "a parser error must not rebuild the index")
        // 16 levels are fine, of parentheses, of `not`, and of both mixed with operators.
        var mixed = "lr < 0.05"
        for level in 0..<6 { mixed = level % 2 == 1 ? "not (lr > 5 or not \(mixed))" : "(lr < 5 and \(mixed))" }
        for fine in [
            String(repeating: "(", count: 16) + "lr < 0.05" + String(repeating: ")", count: 16),
            String(repeating: "not ", count: 16) + "lr < 0.05", mixed,
        ] {
            let listed = try expLimited(repo, ["list", "--where", fine, "--columns", "lr", "--csv"])
            #expect(listed.status == 0 && listed.stdout == "lr\n0.01\n", "\(fine): \(listed.stderr)")
        }
    }

    @Test("a filter of too many comparisons is refused; one under the limit answers")
    func longFilters() throws {
        let repo = try repoWithRuns()
        let long = Array(repeating: "lr < 1", count: 300).joined(separator: " and ")
        let refused = try expLimited(repo, ["list", "--where", long])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("the filter holds more than 256 comparisons"))
        let many = Array(repeating: "lr < 0.05", count: 250).joined(separator: " or ")
        let listed = try expLimited(repo, ["list", "--where", many, "--columns", "lr", "--csv"])
        #expect(listed.status == 0 && listed.stdout == "lr\n0.01\n", "\(listed.stderr)")
    }

    @Test("a YAML alias bomb in --params-file is refused quickly, and no run is made")
    func yamlAliasBomb() throws {
        let repo = try TestRepo()
        try repo.write("a", "a\n")
        try repo.commitAll()
        // The "billion laughs": 9 levels of 9 aliases each stand for 9^9 strings.
        var yaml = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        let letters = Array("abcdefghi")
        for level in 1..<letters.count {
            let previous = letters[level - 1]
            yaml +=
                "\(letters[level]): &\(letters[level]) ["
                + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
        }
        try repo.write("bomb.yaml", yaml)
        let result = try expLimited(repo, ["run", "--params-file", "bomb.yaml", "--", "true"])
        #expect(result.status != 124, "exp hung on the alias bomb")
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("bomb.yaml"))
        #expect(result.stderr.contains("expands to more than 100000 values"))
        #expect(try repo.git(["for-each-ref", "refs/exp/runs"]).isEmpty)
        // An ordinary file with an alias still reads.
        try repo.write("ok.yaml", "base: &base {lr: 0.1}\nmodel: *base\nlayers: [1, 2]\n")
        let fine = try expLimited(repo, ["run", "--params-file", "ok.yaml", "--", "true"])
        #expect(fine.status == 0, "\(fine.stderr)")
        let shown = try expLimited(repo, ["show", "latest", "--json"])
        #expect(shown.stdout.contains("\"model.lr\""))
    }

    @Test("a catastrophic exp.outputPattern costs linear time per line")
    func catastrophicOutputPattern() throws {
        let repo = try TestRepo()
        try repo.write("a", "a\n")
        try repo.commitAll()
        // ICU needs 2^n steps for n a's before a line that does not match: 40 lines of 28.
        try repo.git(["config", "exp.outputPattern", #"^(?<key>(a+)+)=(?<value>\d+)$"#])
        let script = "for i in $(seq 40); do echo aaaaaaaaaaaaaaaaaaaaaaaaaaaa=; done; echo aaa=3"
        let result = try expLimited(repo, ["run", "--", "sh", "-c", script])
        #expect(result.status == 0, "\(result.status) \(result.stderr)")
        let metrics = try expLimited(repo, ["metrics", "latest", "aaa", "--csv"])
        #expect(metrics.stdout.contains(",3"), "\(metrics.stdout) \(metrics.stderr)")
    }

    @Test("an exp.outputPattern that needs backtracking is refused with its column")
    func unsupportedOutputPattern() throws {
        let repo = try TestRepo()
        try repo.write("a", "a\n")
        try repo.commitAll()
        try repo.git(["config", "exp.outputPattern", #"(?<key>\w+)=(?<value>\d+)\1"#])
        let result = try expLimited(repo, ["run", "--", "true"])
        #expect(result.stderr.contains("bad exp.outputPattern: back-references are not supported"))
        #expect(result.stderr.contains("at column 26"))
    }
}
