import ExpCore
import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// Two trees made with the real git: `before` as committed, `after` as `git add -A` stages
/// the edits `change` makes.
private func treePair(
    _ setup: (TestRepo) throws -> Void, _ change: (TestRepo) throws -> Void
) throws -> (repo: TestRepo, old: String, new: String) {
    let repo = try TestRepo()
    try setup(repo)
    try repo.commitAll()
    let old = try repo.gitLine(["rev-parse", "HEAD^{tree}"])
    try change(repo)
    return (repo, old, try repo.gitAddAllTree())
}

/// Checks that exp's patch, names and stat for two trees equal git's.
private func expectMatchesGit(
    _ repo: TestRepo, _ old: String, _ new: String, pathspecs: [String] = [], columns: Int = 80,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let repository = try Workspace(context: repo.context()).repository
    guard let oldID = ObjectID(hex: old), let newID = ObjectID(hex: new) else {
        Issue.record("git printed a tree id that is not one", sourceLocation: sourceLocation)
        return
    }
    let diff = try repository.diffTrees(from: oldID, to: newID, pathspecs: pathspecs)
    let spec = pathspecs.isEmpty ? [] : ["--"] + pathspecs
    let env = ["COLUMNS": String(columns)]
    #expect(
        String(decoding: diff.patch, as: UTF8.self) == (try repo.git(["diff", old, new] + spec, env: env)),
        sourceLocation: sourceLocation)
    let stat = DiffStat.render(diff.files, width: columns)
    let gitStat = try repo.git(["diff", "--stat", old, new] + spec, env: env)
    #expect(stat == gitStat, "exp:\n\(stat)git:\n\(gitStat)", sourceLocation: sourceLocation)
    let names = diff.files.map { quotedPath($0.path) + "\n" }.joined()
    let gitNames = try repo.git(["diff", "--name-only", old, new] + spec, env: env)
    #expect(names == gitNames, "exp:\n\(names)git:\n\(gitNames)", sourceLocation: sourceLocation)
}

@Suite("RunDiff: trees compared like git diff")
struct RunDiffTests {
    @Test func modifiedAddedDeletedAndEmptyFiles() throws {
        let (repo, old, new) = try treePair(
            { repo in
                try repo.write("a.txt", (1...20).map { "line \($0)\n" }.joined())
                try repo.write("gone.txt", "bye\n")
                try repo.write("empty-gone", "")
            },
            { repo in
                try repo.write("a.txt", (1...20).map { $0 == 7 ? "SEVEN\n" : "line \($0)\n" }.joined() + "tail")
                try repo.remove("gone.txt")
                try repo.remove("empty-gone")
                try repo.write("new.txt", "hello\n")
                try repo.write("empty", "")
            })
        try expectMatchesGit(repo, old, new)
        try expectMatchesGit(repo, new, old)
    }

    @Test func renamesExactAndSimilarAcrossFolders() throws {
        let (repo, old, new) = try treePair(
            { repo in
                try repo.write("src/model/net.py", (1...40).map { "x\($0) = \($0)\n" }.joined())
                try repo.write("old.txt", (1...30).map { "row \($0)\n" }.joined())
                try repo.write("train.py", (1...40).map { "step(\($0))\n" }.joined())
            },
            { repo in
                try repo.remove("src/model/net.py")
                try repo.write("src/layers/net.py", (1...40).map { "x\($0) = \($0)\n" }.joined())
                try repo.remove("old.txt")
                try repo.write("new.txt", (1...30).map { "row \($0)\n" }.joined())
                try repo.remove("train.py")
                try repo.write("scripts/train.py", (1...40).map { $0 == 20 ? "changed()\n" : "step(\($0))\n" }.joined())
            })
        try expectMatchesGit(repo, old, new)
        try expectMatchesGit(repo, new, old)
    }

    @Test func binaryModeSymlinkAndTypeChanges() throws {
        let (repo, old, new) = try treePair(
            { repo in
                try repo.write("weights.bin", Data([0, 1, 2, 3, 0, 9]))
                try repo.write("run.sh", "echo hi\n")
                try repo.symlink("link", to: "run.sh")
                try repo.write("becomes-link", "text\n")
            },
            { repo in
                try repo.write("weights.bin", Data([0, 1, 2, 0, 7]))
                try repo.write("model.bin", Data([0, 0, 1]))
                try repo.chmod("run.sh", 0o755)
                try repo.remove("link")
                try repo.symlink("link", to: "weights.bin")
                try repo.remove("becomes-link")
                try repo.symlink("becomes-link", to: "run.sh")
            })
        try expectMatchesGit(repo, old, new)
        try expectMatchesGit(repo, new, old)
    }

    @Test func fileBecomesFolder() throws {
        let (repo, old, new) = try treePair(
            { repo in
                try repo.write("data", "a file\n")
                try repo.write("conf/x.yaml", "k: 1\n")
            },
            { repo in
                try repo.remove("data")
                try repo.write("data/part.csv", "1,2\n")
                try repo.remove("conf")
                try repo.write("conf", "now a file\n")
            })
        try expectMatchesGit(repo, old, new)
        try expectMatchesGit(repo, new, old)
    }

    @Test func statScalesAndTruncatesAtAnyWidth() throws {
        let deep = "very/long/folder/names/that/go/on/and/on/and/on/to/a/file_with_a_long_name.py"
        let (repo, old, new) = try treePair(
            { repo in
                try repo.write("small.txt", "1\n2\n3\n")
                try repo.write("blob.bin", Data([0, 1]))
            },
            { repo in
                try repo.write(deep, (1...300).map { "\($0)\n" }.joined())
                try repo.write("small.txt", "1\nTWO\n3\n")
                try repo.write("mid.txt", (1...45).map { "\($0)\n" }.joined())
                try repo.write("blob.bin", Data([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]))
            })
        for columns in [80, 40, 120, 200, 20] {
            try expectMatchesGit(repo, old, new, columns: columns)
        }
    }

    @Test func pathspecsLimitLikeGit() throws {
        let (repo, old, new) = try treePair(
            { repo in
                try repo.write("src/a.py", "a\n")
                try repo.write("src/b.txt", "b\n")
                try repo.write("docs/c.md", "c\n")
            },
            { repo in
                try repo.write("src/a.py", "A\n")
                try repo.write("src/b.txt", "B\n")
                try repo.write("docs/c.md", "C\n")
                try repo.write("top.py", "t\n")
            })
        try expectMatchesGit(repo, old, new, pathspecs: ["src"])
        try expectMatchesGit(repo, old, new, pathspecs: ["*.py"])
        try expectMatchesGit(repo, old, new, pathspecs: ["docs/c.md", "top.py"])
        try expectMatchesGit(repo, old, new, pathspecs: ["nothing-here"])
    }

    @Test func quotedNamesLikeGit() throws {
        let (repo, old, new) = try treePair(
            { repo in try repo.write("plain.txt", "x\n") },
            { repo in
                try repo.write("caf\u{E9}.txt", "x\n")
                try repo.write("tab\there.txt", "y\n")
            })
        try expectMatchesGit(repo, old, new)
    }

    @Test func paramsThatDifferOnly() {
        let changes = RunDiff.paramChanges(
            ["lr": .double(0.1), "bs": .int(32), "gone": .bool(true)],
            ["lr": .double(0.01), "bs": .int(32), "opt": .string("adam")])
        #expect(changes.keys.sorted() == ["gone", "lr", "opt"])
        #expect(changes["lr"] == ParamChange(a: .double(0.1), b: .double(0.01)))
        #expect(changes["gone"] == ParamChange(a: .bool(true), b: nil))
        #expect(changes["opt"] == ParamChange(a: nil, b: .string("adam")))
    }

    @Test func metricsSideBySideWithTheChange() throws {
        func summaries(_ values: [String: [Double]]) -> [String: MetricSummary] {
            MetricSummary.summarize(
                values.flatMap { key, series in
                    series.enumerated().map {
                        MetricPoint(key: key, step: Double($0.offset), time: nil, value: $0.element, source: .file)
                    }
                })
        }
        let comparisons = RunDiff.metricComparisons(
            summaries(["loss": [1, 0.5], "acc": [0.9]]), summaries(["loss": [1, 0.25]]))
        #expect(comparisons.keys.sorted() == ["acc", "loss"])
        let change = try #require(comparisons["loss"])
        #expect(change.change == -0.25)
        #expect(change.relativeChange == -50)
        #expect(comparisons["acc"]?.b == nil)
        #expect(comparisons["acc"]?.change == nil)
    }
}
