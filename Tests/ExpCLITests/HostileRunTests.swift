import ExpTestSupport
import Foundation
import Testing

/// An entry of a tree built byte by byte, with names git's own commands would refuse.
indirect enum CraftedEntry {
    case file([UInt8], String)
    case link([UInt8], String)
    case folder([UInt8], [CraftedEntry])

    static func file(_ name: String, _ content: String) -> CraftedEntry { .file(Array(name.utf8), content) }
    static func link(_ name: String, _ target: String) -> CraftedEntry { .link(Array(name.utf8), target) }
    static func folder(_ name: String, _ entries: [CraftedEntry]) -> CraftedEntry {
        .folder(Array(name.utf8), entries)
    }

    var name: [UInt8] {
        switch self {
        case .file(let name, _), .link(let name, _), .folder(let name, _): return name
        }
    }
}

extension TestRepo {
    /// Writes `entries` as a tree with `git hash-object -t tree --literally` (which, unlike
    /// `git mktree`, checks nothing), sorted as git sorts, and returns its id.
    func craftTree(_ entries: [CraftedEntry]) throws -> String {
        var rows: [(key: [UInt8], bytes: [UInt8])] = []
        for entry in entries {
            let mode: String
            let id: String
            var key = entry.name
            switch entry {
            case .file(_, let content):
                mode = "100644"
                id = try writeObject(Array(content.utf8), type: "blob")
            case .link(_, let target):
                mode = "120000"
                id = try writeObject(Array(target.utf8), type: "blob")
            case .folder(_, let children):
                mode = "40000"
                id = try craftTree(children)
                key.append(0x2F)
            }
            rows.append((key, Array("\(mode) ".utf8) + entry.name + [0] + Self.rawID(id)))
        }
        rows.sort { $0.key.lexicographicallyPrecedes($1.key) }
        return try writeObject(rows.flatMap(\.bytes), type: "tree")
    }

    /// `git hash-object -w --literally -t TYPE` of `bytes` (through a file: a tree is binary).
    func writeObject(_ bytes: [UInt8], type: String) throws -> String {
        let file = folder.path + "/object-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        return try gitLine(["hash-object", "-w", "--literally", "-t", type, file])
    }

    private static func rawID(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16) ?? 0)
            index = next
        }
        return bytes
    }

    /// Replaces the snapshot of the run at `ref` by a commit of `tree` (its parent: the run's
    /// base commit) and rewrites run.json to match, the way a crafted record would arrive.
    func replaceSnapshot(of ref: String, with tree: String) throws {
        var recorded = try #require(
            try JSONSerialization.jsonObject(with: Data(try git(["show", "\(ref):run.json"]).utf8)) as? [String: Any])
        let base = try #require((recorded["base"] as? [String: Any])?["commit"] as? String)
        let snapshot = try gitLine(["commit-tree", tree, "-p", base, "-m", "snapshot"])
        var summary = try #require(recorded["snapshot"] as? [String: Any])
        summary["commit"] = snapshot
        summary["tree"] = tree
        recorded["snapshot"] = summary
        let json = try JSONSerialization.data(withJSONObject: recorded, options: [.prettyPrinted, .sortedKeys])
        let blob = try writeObject(Array(json), type: "blob")
        let rows = try git(["ls-tree", ref]).split(separator: "\n").map { line in
            line.hasSuffix("\trun.json") ? "100644 blob \(blob)\trun.json" : String(line)
        }
        let recordTree = try runProcess(
            ["git", "mktree"], in: root, environment: environment, stdin: rows.joined(separator: "\n") + "\n"
        ).stdout.trimmedLine
        let record = try gitLine(["commit-tree", recordTree, "-p", snapshot, "-m", "exp run: crafted"])
        try git(["update-ref", ref, record])
    }
}

/// What must not change when exp refuses: everything around the repository (other folders
/// in the test's temp folder, the remote), the repository itself (worktree, refs, index),
/// and git's hooks and config.
struct Untouched {
    let repo: TestRepo
    let around: RepoFingerprint
    let inside: RepoFingerprint
    let hooks: RepoFingerprint
    let config: Data?

    init(_ repo: TestRepo) throws {
        self.repo = repo
        // The walk of the parent folder skips folders holding a .git (the repository itself).
        around = try RepoFingerprint(root: repo.folder.path, gitDir: repo.folder.path + "/none")
        inside = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        try FileManager.default.createDirectory(atPath: repo.root + "/.git/hooks", withIntermediateDirectories: true)
        hooks = try RepoFingerprint(root: repo.root + "/.git/hooks", gitDir: repo.root + "/none")
        config = FileManager.default.contents(atPath: repo.root + "/.git/config")
    }

    /// Records an issue for every difference.
    func check(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let aroundNow = try RepoFingerprint(root: repo.folder.path, gitDir: repo.folder.path + "/none")
        #expect(
            aroundNow.differences(from: around) == [], "\(what): outside the repository", sourceLocation: sourceLocation
        )
        let insideNow = try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
        // git fetch notes what it fetched (nothing) in FETCH_HEAD.
        #expect(
            insideNow.differences(from: inside).filter { $0 != "git:FETCH_HEAD" } == [], "\(what): the repository",
            sourceLocation: sourceLocation)
        let hooksNow = try RepoFingerprint(root: repo.root + "/.git/hooks", gitDir: repo.root + "/none")
        #expect(hooksNow.differences(from: hooks) == [], "\(what): .git/hooks", sourceLocation: sourceLocation)
        #expect(
            FileManager.default.contents(atPath: repo.root + "/.git/config") == config, "\(what): .git/config",
            sourceLocation: sourceLocation)
    }
}

/// A hostile tree, the path exp must name when it refuses it, and the id git's fsck gives it.
struct HostileCase: CustomTestStringConvertible, Sendable {
    var label: String
    /// Builds the entries; `outside` is an absolute folder outside the repository.
    var entries: @Sendable (_ outside: String) -> [CraftedEntry]
    /// The bad path as exp prints it.
    var shown: String
    /// git fsck's message id for it.
    var fsck: String

    var testDescription: String { label }

    static let hook = CraftedEntry.folder(
        "hooks", [.file("post-commit", "#!/bin/sh\ntouch \"$HOME/pwned\"\n"), .file("pre-commit", "#!/bin/sh\n")])

    static func dotGit(_ name: String, label: String, shown: String? = nil) -> HostileCase {
        HostileCase(
            label: label, entries: { _ in [.folder(Array(name.utf8), [hook])] }, shown: shown ?? name,
            fsck: "hasDotgit")
    }

    static let all: [HostileCase] = [
        dotGit(".git", label: ".git"),
        dotGit(".GIT", label: ".GIT"),
        dotGit("git~1", label: "git~1 (NTFS short name)"),
        dotGit(".git.", label: ".git. (NTFS trailing dot)"),
        dotGit(".git ", label: ".git  (NTFS trailing space)"),
        dotGit(".g\u{200C}it", label: "HFS+ .g<U+200C>it", shown: "\".g\\342\\200\\214it\""),
        HostileCase(
            label: "..", entries: { _ in [.folder("..", [.file("escaped.txt", "escaped\n")])] }, shown: "..",
            fsck: "hasDotdot"),
        HostileCase(
            label: ".", entries: { _ in [.folder(".", [.file("dot.txt", "dot\n")])] }, shown: ".", fsck: "hasDot"),
        HostileCase(
            label: "a name with /", entries: { _ in [.file("../../outside.txt", "escaped\n")] },
            shown: "../../outside.txt", fsck: "fullPathname"),
        HostileCase(
            label: "duplicate names",
            entries: { _ in [.file("twice.txt", "one\n"), .file("twice.txt", "two\n")] }, shown: "twice.txt",
            fsck: "duplicateEntries"),
        HostileCase(
            label: "symlink and folder of one name",
            entries: { outside in [.link("evil", outside), .folder("evil", [.file("payload.txt", "payload\n")])] },
            shown: "evil", fsck: "duplicateEntries"),
    ]
}

@Suite("Hostile runs: exp pull refuses them, every restore refuses them and writes nothing (binary)")
struct HostileRunTests {
    /// A repository with a run `evil` whose snapshot is `entries` beside a normal `train.py`,
    /// pushed with its branch to a bare remote; and a fresh clone of that remote.
    func publish(_ hostile: HostileCase) throws -> (origin: TestRepo, clone: TestRepo, outside: String, runID: String) {
        let origin = try TestRepo()
        try origin.write("train.py", "print('v1')\n")
        try origin.commitAll("init")
        #expect(try origin.runExp(["run", "--name", "evil", "--", "sh", "-c", "echo ran"]).status == 0)
        let ref = try #require(try runRefs(origin).first)
        let clone = try TestRepo(initialize: false)
        let outside = clone.folder.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "keep\n".write(toFile: outside + "/keep.txt", atomically: true, encoding: .utf8)
        let tree = try origin.craftTree([.file("train.py", "print('v2')\n")] + hostile.entries(outside))
        try origin.replaceSnapshot(of: ref, with: tree)
        let remote = clone.folder.path + "/remote.git"
        try origin.git(["init", "-q", "--bare", "-b", "main", remote])
        try origin.git(["push", "-q", remote, "main", "refs/exp/*:refs/exp/*"])
        // --no-local: objects travel as a pack, checked as any fetch over the network.
        try clone.git(["clone", "-q", "--no-local", remote, clone.root], in: clone.folder.path)
        return (origin, clone, outside, String(ref.dropFirst("refs/exp/runs/".count)))
    }

    @Test(arguments: HostileCase.all)
    func pullRefusesAndEveryRestoreRefuses(_ hostile: HostileCase) throws {
        let (origin, clone, _, runID) = try publish(hostile)
        defer { withExtendedLifetime(origin) {} }
        let before = try Untouched(clone)
        let pull = try clone.runExp(["pull"])
        #expect(pull.status == 1, "\(pull.stderr)")
        #expect(pull.stderr.contains("exp: refused run \(runID) (refs/exp/runs/\(runID)): git's object checks failed:"))
        #expect(pull.stderr.contains(hostile.fsck), "\(pull.stderr)")
        #expect(try runRefs(clone) == [])
        try before.check("exp pull")

        // A plain `git fetch` takes it anyway: exp itself must refuse it at every restore.
        try clone.git(["fetch", "-q", "origin", "refs/exp/*:refs/exp/*"])
        let fetched = try Untouched(clone)
        let refusal = "exp: error: refusing to restore run evil: its snapshot holds an unsafe path \(hostile.shown) ("
        let into = clone.folder.path + "/into"
        let commands: [[String]] = [
            ["checkout", "evil"], ["checkout", "evil", "--force"], ["checkout", "evil", "--into", into],
            ["checkout", "evil", "--", "train.py"], ["checkout", "evil", "--force", "--artifacts"], ["rerun", "evil"],
        ]
        for command in commands {
            let result = try clone.runExp(command)
            let label = command.joined(separator: " ")
            #expect(result.status == 1, "\(label): \(result.stderr)")
            #expect(result.stderr.contains(refusal), "\(label): \(result.stderr)")
            #expect(result.stdout == "", "\(label)")
            #expect(!FileManager.default.fileExists(atPath: into), "\(label)")
            try fetched.check(label)
        }
        #expect(try clone.git(["worktree", "list"]).split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: clone.folder.path + "/home/pwned"))
    }

    @Test func aSymlinkOnDiskWhereTheRunHasAFolderIsNeverWrittenThrough() throws {
        let repo = try TestRepo()
        let outside = repo.folder.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try repo.write("train.py", "print('v1')\n")
        try repo.write("data/config.txt", "lr = 0.1\n")
        try repo.commitAll("init")
        try repo.write("data/config.txt", "lr = 0.2\n")
        #expect(try repo.runExp(["run", "--name", "r", "--", "true"]).status == 0)
        // Later the folder becomes a symlink out of the repository.
        try repo.git(["checkout", "-q", "--", "."])
        try repo.remove("data")
        try repo.symlink("data", to: outside)
        try repo.commitAll("data elsewhere")
        let before = try Untouched(repo)

        let onlyPath = try repo.runExp(["checkout", "r", "--", "data/config.txt"])
        #expect(onlyPath.status == 1, "\(onlyPath.stderr)")
        #expect(
            onlyPath.stderr.contains(
                "exp: not restored: data/config.txt (data is a symlink; exp never writes through one)"))
        try before.check("checkout -- data/config.txt")

        // A whole checkout replaces the symlink by the run's folder, outside untouched.
        let whole = try repo.runExp(["checkout", "r"])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == [])
        #expect(try repo.read("data/config.txt") == "lr = 0.2\n")
        var info = stat()
        #expect(lstat(repo.root + "/data", &info) == 0 && info.st_mode & S_IFMT == S_IFDIR)
    }

    @Test func anArtifactUnderASymlinkOfTheSnapshotIsRefusedBeforeAnythingIsWritten() throws {
        let repo = try artifactRepo()
        let outside = repo.folder.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let script = "mkdir -p checkpoints && printf weights > checkpoints/m.ckpt"
        #expect(try repo.runExp(["run", "--name", "r", "--", "sh", "-c", script]).status == 0)
        let ref = try #require(try runRefs(repo).first)
        let tree = try repo.craftTree([
            .file(".gitignore", "lightning_logs/\ncheckpoints/\noutputs/\n*.bin\n"), .file("train.py", "print('hi')\n"),
            .link("checkpoints", outside),
        ])
        try repo.replaceSnapshot(of: ref, with: tree)
        try repo.remove("checkpoints")
        let before = try Untouched(repo)

        let result = try repo.runExp(["checkout", "r", "--artifacts", "--force"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(
            result.stderr.contains(
                "exp: error: refusing to restore the artifacts of r: its snapshot makes checkpoints a symlink"),
            "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == [])
        try before.check("checkout --artifacts")
    }

    @Test func anArtifactUnderASymlinkAlreadyOnDiskIsRefused() throws {
        let repo = try artifactRepo()
        let outside = repo.folder.path + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        let script = "mkdir -p checkpoints && printf weights > checkpoints/m.ckpt"
        #expect(try repo.runExp(["run", "--name", "r", "--", "sh", "-c", script]).status == 0)
        try repo.remove("checkpoints")
        try repo.symlink("checkpoints", to: outside)
        let before = try Untouched(repo)

        for command in [["artifacts", "r", "--restore"], ["artifacts", "r", "--restore", "--force"]] {
            let result = try repo.runExp(command)
            #expect(result.status == 1, "\(result.stderr)")
            #expect(
                result.stderr.contains(
                    "exp: error: refusing to restore the artifacts of r: checkpoints/m.ckpt would be written where "
                        + "checkpoints is a symlink; exp never writes through one"),
                "\(result.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: outside) == [])
            try before.check(command.joined(separator: " "))
        }
    }

    @Test func anArtifactListedInsideAnotherArtifactIsRefusedBeforeAnythingIsWritten() throws {
        let repo = try artifactRepo()
        let script = "mkdir -p checkpoints && printf w > checkpoints/m.ckpt && printf v > checkpoints/n.ckpt"
        #expect(try repo.runExp(["run", "--name", "r", "--", "sh", "-c", script]).status == 0)
        let ref = try #require(try runRefs(repo).first)
        let listing = try repo.git(["show", "\(ref):artifacts.json"])
            .replacingOccurrences(of: "checkpoints/m.ckpt", with: "checkpoints")
        #expect(listing.contains("\"checkpoints\""))
        let blob = try repo.writeObject(Array(listing.utf8), type: "blob")
        let rows = try repo.git(["ls-tree", ref]).split(separator: "\n").map { line in
            line.hasSuffix("\tartifacts.json") ? "100644 blob \(blob)\tartifacts.json" : String(line)
        }
        let tree = try runProcess(
            ["git", "mktree"], in: repo.root, environment: repo.environment, stdin: rows.joined(separator: "\n") + "\n"
        ).stdout.trimmedLine
        try repo.git(["update-ref", ref, try repo.gitLine(["commit-tree", tree, "-p", "\(ref)^1", "-m", "crafted"])])
        try repo.remove("checkpoints")
        let before = try Untouched(repo)
        let result = try repo.runExp(["artifacts", "r", "--restore"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(
            result.stderr.contains(
                "exp: error: run r lists an artifact checkpoints and another inside it (checkpoints/n.ckpt)"),
            "\(result.stderr)")
        try before.check("artifacts --restore")
    }

    @Test func rerunRefusesAFolderOutsideTheRun() throws {
        let repo = try TestRepo()
        try repo.write("train.py", "print('v1')\n")
        try repo.commitAll("init")
        #expect(try repo.runExp(["run", "--name", "r", "--", "true"]).status == 0)
        let ref = try #require(try runRefs(repo).first)
        let json = try repo.git(["show", "\(ref):run.json"])
            .replacingOccurrences(of: "\"cwd\" : \".\"", with: "\"cwd\" : \"..\\/..\\/..\\/..\\/..\\/escaped\"")
        #expect(json.contains("escaped"))
        let blob = try repo.writeObject(Array(json.utf8), type: "blob")
        let rows = try repo.git(["ls-tree", ref]).split(separator: "\n").map { line in
            line.hasSuffix("\trun.json") ? "100644 blob \(blob)\trun.json" : String(line)
        }
        let tree = try runProcess(
            ["git", "mktree"], in: repo.root, environment: repo.environment, stdin: rows.joined(separator: "\n") + "\n"
        ).stdout.trimmedLine
        try repo.git(["update-ref", ref, try repo.gitLine(["commit-tree", tree, "-p", "\(ref)^1", "-m", "crafted"])])
        let before = try Untouched(repo)
        let result = try repo.runExp(["rerun", "r"])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(
            result.stderr.contains("exp: error: refusing to run r again: its folder ../../../../../escaped is unsafe"))
        try before.check("rerun")
    }
}

@Suite("exp push and pull show git's whole message; stale rerun worktrees are removed (binary)")
struct SharingErrorsAndRerunLeftoversTests {
    @Test func pushAndPullShowGitsWholeMessage() throws {
        let repo = try TestRepo()
        try repo.write("train.py", "print('v1')\n")
        try repo.commitAll("init")
        #expect(try repo.runExp(["run", "--name", "r", "--", "true"]).status == 0)
        let missing = repo.folder.path + "/no-such-remote"
        try repo.git(["remote", "add", "origin", missing])
        let pull = try repo.runExp(["pull"])
        #expect(pull.status == 1)
        #expect(pull.stderr.contains("exp: error: could not fetch runs from origin:\n"), "\(pull.stderr)")
        #expect(pull.stderr.contains("does not appear to be a git repository"), "\(pull.stderr)")
        #expect(pull.stderr.contains("and the repository exists."), "\(pull.stderr)")
        let push = try repo.runExp(["push"])
        #expect(push.status == 1)
        #expect(push.stderr.contains("does not appear to be a git repository"), "\(push.stderr)")
        #expect(push.stderr.contains("and the repository exists."), "\(push.stderr)")
    }

    @Test func aKilledRerunsWorktreeIsRemovedByTheNextExpAndOthersAreKept() throws {
        let repo = try TestRepo()
        try repo.write("train.py", "print('v1')\n")
        try repo.commitAll("init")
        #expect(try repo.runExp(["run", "--name", "slow", "--", "sh", "-c", "sleep 0"]).status == 0)
        let ref = try #require(try runRefs(repo).first)
        // The rerun sleeps long enough to be killed while it goes.
        let json = try repo.git(["show", "\(ref):run.json"]).replacingOccurrences(of: "sleep 0", with: "exec sleep 30")
        let blob = try repo.writeObject(Array(json.utf8), type: "blob")
        let rows = try repo.git(["ls-tree", ref]).split(separator: "\n").map { line in
            line.hasSuffix("\trun.json") ? "100644 blob \(blob)\trun.json" : String(line)
        }
        let tree = try runProcess(
            ["git", "mktree"], in: repo.root, environment: repo.environment, stdin: rows.joined(separator: "\n") + "\n"
        ).stdout.trimmedLine
        try repo.git(["update-ref", ref, try repo.gitLine(["commit-tree", tree, "-p", "\(ref)^1", "-m", "slower"])])
        let mine = repo.folder.path + "/mine"
        try repo.git(["worktree", "add", "-q", "--detach", mine])
        func worktrees() throws -> Int { try repo.git(["worktree", "list"]).split(separator: "\n").count }
        #expect(try worktrees() == 2)

        let rerun = try startExp(repo, ["rerun", "slow"])
        #expect(try waitUntil(30) { try worktrees() == 3 && (try liveRun(repo)) != nil })
        let live = try #require(try liveRun(repo))
        let child = try #require((live["supervisor"] as? [String: Any])?["child_pid"] as? Int)
        defer { kill(Int32(child), SIGKILL) }
        // While it goes, other exp commands leave it alone.
        #expect(try repo.runExp(["list"]).status == 0)
        #expect(try worktrees() == 3)

        kill(rerun.processIdentifier, SIGKILL)
        // The command too (it would hold the test's pipe to exp open), then exp is reaped.
        kill(Int32(child), SIGKILL)
        rerun.waitUntilExit()
        // A worktree some process still works in is kept: wait until the command is gone.
        #expect(try waitUntil(10) { access("/proc/\(child)/cwd", F_OK) != 0 })
        #expect(try worktrees() == 3)
        #expect(try repo.runExp(["list"]).status == 0)
        let listed = try repo.git(["worktree", "list", "--porcelain"])
        #expect(try worktrees() == 2, "\(listed)")
        #expect(
            listed.contains("worktree \(URL(fileURLWithPath: mine).resolvingSymlinksInPath().path)\n")
                || listed.contains("worktree \(mine)\n"))
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: repo.root + "/.git/exp/rerun")) ?? []
        #expect(leftovers == [])
        #expect(try repo.git(["branch", "--list", "exp-worktree-*"]) == "")
    }
}
