import ExpGit
import ExpTestSupport
import Foundation
import Testing

@Suite("PathRules: git's verify_path, with git itself as the oracle")
struct PathRulesTests {
    @Test(arguments: [
        ".git", ".GIT", ".Git", "git~1", "GIT~1", ".git.", ".git ", ".git. .", ".git::$INDEX_ALLOCATION",
        ".g\u{200C}it", "\u{FEFF}.git", ".gi\u{206F}T", "x\\.git", ".git\\x", "git~1\\y", "..", ".", "a/b", "",
    ])
    func refusesGitsOwnFolderInEverySpelling(_ name: String) {
        #expect(PathRules.problem(name: Array(name.utf8), mode: 0o100644) != nil)
    }

    @Test(arguments: [
        ".gitfoo", ".git~1", "git~2", "git", ".gitmodules", ".\u{0147}it", "...", "..x", "x..", ".hidden", "a b",
        "\u{00E9}t\u{00E9}", "gitmodules",
    ])
    func acceptsNamesGitAccepts(_ name: String) {
        #expect(PathRules.problem(name: Array(name.utf8), mode: 0o100644) == nil)
    }

    @Test func refusesSymlinksNamedGitmodulesInEverySpelling() {
        for name in [".gitmodules", ".GITMODULES", ".gitmodules .", "gitmod~1", "GITMOD~4", "gi7eba~1", "gi7eb~12"] {
            #expect(PathRules.problem(name: Array(name.utf8), mode: 0o120000) != nil, "\(name)")
            #expect(PathRules.problem(name: Array(name.utf8), mode: 0o100644) == nil || name == ".gitmodules .")
        }
        #expect(PathRules.problem(name: Array(".gitmodulesx".utf8), mode: 0o120000) == nil)
    }

    @Test func refusesWhatGitCannotHoldOrExpCannotWrite() {
        #expect(PathRules.problem(name: [0x61, 0xFF], mode: 0o100644) == "a name that is not valid UTF-8")
        #expect(PathRules.problem(name: Array(repeating: 0x61, count: 256), mode: 0o100644) != nil)
        #expect(PathRules.problem(path: "/etc/passwd", mode: 0o100644) == "an absolute path")
        #expect(PathRules.problem(path: "a//b", mode: 0o100644) == "an empty name")
        #expect(PathRules.problem(path: "a/.GIT/hooks/x", mode: 0o100644) != nil)
        #expect(PathRules.problem(path: "checkpoints/epoch=1.ckpt", mode: 0o100644) == nil)
    }

    @Test func quotesPathsAsGitDoes() {
        #expect(PathRules.quoted("plain/path.txt") == "plain/path.txt")
        #expect(PathRules.quoted(".g\u{200C}it") == "\".g\\342\\200\\214it\"")
        #expect(PathRules.quoted("tab\there\u{1B}[31m") == "\"tab\\there\\033[31m\"")
    }

    /// 3,000 names made of the pieces git's checks look at, each judged by `git update-index`
    /// (which runs `verify_path` with `core.protectNTFS` and `core.protectHFS` on) and by
    /// PathRules, as a file and as a symlink: the verdicts must agree (save one place where
    /// exp is stricter).
    @Test func agreesWithGitUpdateIndexOnRandomNames() throws {
        let repo = try TestRepo()
        let pieces = [
            ".", "git", "GIT", "Git", "~1", "~2", "~4", " ", "\u{200C}", "\u{FEFF}", "\u{200B}", "modules", "gitmod",
            "gi7eba", "\\", ":", "x", "..", "i", "t", "\u{0147}", "mailmap",
        ]
        var random = SplitMix(state: 0x0013_5EED)
        var names = Set<String>()
        while names.count < 3000 {
            let count = Int.random(in: 1...4, using: &random)
            names.insert((0..<count).map { _ in pieces[Int.random(in: 0..<pieces.count, using: &random)] }.joined())
        }
        let sorted = names.sorted()
        let blob = try repo.gitLine(["hash-object", "-w", "--stdin"])
        var lines: [String] = []
        for (index, name) in sorted.enumerated() {
            lines.append("100644 \(blob)\tf\(index)/\(name)")
            lines.append("120000 \(blob)\tl\(index)/\(name)")
        }
        let added = try runProcess(
            [
                "git", "-c", "core.protectNTFS=true", "-c", "core.protectHFS=true", "update-index", "--index-info",
            ], in: repo.root, environment: repo.environment, stdin: lines.joined(separator: "\n") + "\n")
        #expect(added.status == 0, "\(added.stderr)")
        let accepted = Set(try repo.git(["ls-files", "-z"]).split(separator: "\0").map(String.init))
        var disagreements: [String] = []
        for (index, name) in sorted.enumerated() {
            for (prefix, mode) in [("f", UInt32(0o100644)), ("l", UInt32(0o120000))] {
                let gitAccepts = accepted.contains("\(prefix)\(index)/\(name)")
                let ours = PathRules.problem(name: Array(name.utf8), mode: mode)
                // exp is stricter in one place: git never looks at a backslash that begins a
                // name (verify_path reads a component's first character before its backslash
                // check), so `\\git~1` passes git; exp reads it as NTFS would.
                if gitAccepts && ours != nil && name.hasPrefix("\\") { continue }
                if gitAccepts != (ours == nil) {
                    disagreements.append(
                        "\(PathRules.quoted(name)) mode \(String(mode, radix: 8)): git "
                            + (gitAccepts ? "accepts" : "refuses") + ", exp says \(ours ?? "fine")")
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(20).joined(separator: "\n"))")
    }
}

extension PathRulesTests {
    /// A few small trees can stand for millions of files: 16 entries of 16 entries … six
    /// levels deep is 16^6 files from 7 objects. The walk stops at its bound (lowered here, so
    /// the test is quick) instead of listing them all. git finds nothing wrong with such a tree.
    @Test(.timeLimit(.minutes(1)))
    func aTreeBombIsRefusedAtTheBound() throws {
        let repo = try TestRepo()
        func git(_ args: [String], input: String) throws -> String {
            let result = try runProcess(["git"] + args, in: repo.root, environment: repo.environment, stdin: input)
            #expect(result.status == 0, "git \(args): \(result.stderr)")
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        var object = try git(["hash-object", "-w", "--stdin"], input: "x\n")
        var mode = "100644 blob"
        for _ in 0..<6 {
            let listing = (0..<16).map { "\(mode) \(object)\tx\($0)" }.joined(separator: "\n") + "\n"
            object = try git(["mktree"], input: listing)
            mode = "040000 tree"
        }
        let repository = try repo.openRepository()
        let tree = try #require(ObjectID(hex: object))
        do {
            _ = try repository.verifiedTreeFiles(tree, maximumEntries: 50_000)
            Issue.record("a tree of 16^6 files was walked whole")
        } catch {
            #expect(error.description.contains("more than 50000 entries"))
        }
        // The default bound is far above any real repository and far below a bomb.
        #expect(Repository.maximumTreeEntries == 2_000_000)
    }
}

/// A seeded random source (SplitMix64), so a failure replays.
private struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
