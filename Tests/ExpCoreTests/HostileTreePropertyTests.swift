import ExpCore
import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// A random tree for the property test: valid entries, and sometimes one hostile element.
private indirect enum RandomEntry {
    case file(String, String)
    case link(String, String)
    case folder(String, [RandomEntry])

    var name: String {
        switch self {
        case .file(let name, _), .link(let name, _), .folder(let name, _): return name
        }
    }
}

/// Builds random trees mixing valid paths with `.git` in its NTFS and HFS+ spellings, `.`,
/// `..`, names with `/` or a backslash, duplicate names and symlink/folder pairs.
private struct HostileTreeGenerator {
    var random: SeededGenerator
    /// An absolute folder outside the repository (symlinks point there).
    let outside: String

    static let validNames = [
        "a", "b.txt", "data", "evil", "src", "x.py", ".hidden", "git", ".gitx", "..x", "x..", "git~2", ".gitfoo",
        "gitmodules", "\u{00E9}t\u{00E9}", "a b", "-dash", "GIT~", ".git~1",
    ]
    static let hostileNames = [
        ".git", ".GIT", ".Git", "git~1", "GIT~1", ".git.", ".git ", ".git. . ", ".g\u{200C}it", "\u{FEFF}.git",
        ".gi\u{206F}t", ".git:stream", ".git\\hooks", "x\\.git", "git~1\\x", "..", ".", "a/b", "../x", "x/..",
    ]

    mutating func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

    /// A tree, and whether it holds a hostile element.
    mutating func tree() -> (entries: [RandomEntry], hostile: Bool) {
        var entries = folder(depth: 0)
        guard chance(50) else { return (entries, false) }
        // Plant one hostile element at a random folder.
        plant(in: &entries, depth: 0)
        return (entries, true)
    }

    private mutating func folder(depth: Int) -> [RandomEntry] {
        var names = Self.validNames.shuffled(using: &random)
        var entries: [RandomEntry] = []
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            let name = names.removeLast()
            if depth < 3 && chance(30) {
                entries.append(.folder(name, folder(depth: depth + 1)))
            } else if chance(20) {
                entries.append(.link(name, pick([outside, "../../outside", "a", "missing", outside + "/keep.txt"])))
            } else {
                entries.append(.file(name, "content \(Int.random(in: 0..<4, using: &random))\n"))
            }
        }
        // Names unique even when case is ignored, so only planted pairs alias.
        var seen = Set<String>()
        return entries.filter { seen.insert($0.name.lowercased()).inserted }
    }

    private mutating func plant(in entries: inout [RandomEntry], depth: Int) {
        let folders = entries.indices.filter { if case .folder = entries[$0] { true } else { false } }
        if let index = folders.first, chance(50), case .folder(let name, var children) = entries[index] {
            plant(in: &children, depth: depth + 1)
            entries[index] = .folder(name, children)
            return
        }
        let payload = RandomEntry.folder("hooks", [.file("post-commit", "#!/bin/sh\ntouch pwned\n")])
        switch Int.random(in: 0..<6, using: &random) {
        case 0, 1:
            entries.append(.folder(pick(Self.hostileNames), [payload]))
        case 2:
            entries.append(.file(pick(Self.hostileNames), "hostile\n"))
        case 3:
            // A symlink and a folder of one name.
            let name = pick(["evil", "data", "src"])
            entries.removeAll { $0.name.lowercased() == name }
            entries += [.link(name, outside), .folder(name, [.file("payload.txt", "payload\n")])]
        case 4:
            // The same name twice, or a symlink beside a name differing only in case.
            let name = pick(["twice", "Evil"])
            entries.removeAll { $0.name.lowercased() == name.lowercased() }
            if name == "twice" {
                entries += [.file(name, "one\n"), .file(name, "two\n")]
            } else {
                entries += [.link(name, outside), .folder("evil", [.file("payload.txt", "payload\n")])]
            }
        default:
            entries.append(
                .link(pick([".gitmodules", ".GITMODULES", "gitmod~1", "gi7eba~1", ".gitmodules."]), outside))
        }
    }
}

extension InProcessLaunches {
    @Suite("Restore refuses every hostile tree, and writes valid ones only inside the worktree (property)")
    struct HostileTreePropertyTests {
        /// `EXP_PROPERTY_SEED` replays one seed.
        static let seed: UInt64 =
            ProcessInfo.processInfo.environment["EXP_PROPERTY_SEED"].flatMap(UInt64.init)
            ?? 0x5EED_0013

        /// Writes `entries` as a tree object with libgit2 (no checks, as `--literally`).
        private static func write(_ entries: [RandomEntry], _ repository: Repository) throws -> ObjectID {
            var rows: [(key: [UInt8], bytes: [UInt8])] = []
            for entry in entries {
                var key = Array(entry.name.utf8)
                let (mode, id): (String, ObjectID)
                switch entry {
                case .file(_, let content): (mode, id) = ("100644", try repository.writeBlob(Array(content.utf8)))
                case .link(_, let target): (mode, id) = ("120000", try repository.writeBlob(Array(target.utf8)))
                case .folder(_, let children):
                    (mode, id) = ("40000", try write(children, repository))
                    key.append(0x2F)
                }
                rows.append((key, Array("\(mode) \(entry.name)".utf8) + [0] + raw(id)))
            }
            rows.sort { $0.key.lexicographicallyPrecedes($1.key) }
            return try repository.writeTreeObject(literally: rows.flatMap(\.bytes))
        }

        private static func raw(_ id: ObjectID) -> [UInt8] {
            let hex = Array(id.hex.utf8)
            return stride(from: 0, to: hex.count, by: 2).map {
                UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16) ?? 0
            }
        }

        /// What the worktree must hold after a valid tree is checked out: `file:` content or
        /// `link:` target, by path.
        private static func expected(_ entries: [RandomEntry], prefix: String = "") -> [String: String] {
            var files: [String: String] = [:]
            for entry in entries {
                let path = prefix + entry.name
                switch entry {
                case .file(_, let content): files["file:" + path] = content
                case .link(_, let target): files["link:" + path] = target
                case .folder(_, let children): files.merge(expected(children, prefix: path + "/")) { $1 }
                }
            }
            return files
        }

        /// Files and symlinks on disk under `root` (symlinks not followed, `.git` left out).
        private static func onDisk(_ root: String, prefix: String = "") throws -> [String: String] {
            var files: [String: String] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: root + "/" + prefix) {
                if prefix.isEmpty && name == ".git" { continue }
                let path = prefix + name
                var info = stat()
                guard lstat(root + "/" + path, &info) == 0 else { continue }
                switch info.st_mode & S_IFMT {
                case S_IFDIR: files.merge(try onDisk(root, prefix: path + "/")) { $1 }
                case S_IFLNK:
                    files["link:" + path] = try FileManager.default.destinationOfSymbolicLink(atPath: root + "/" + path)
                default: files["file:" + path] = try String(contentsOfFile: root + "/" + path, encoding: .utf8)
                }
            }
            return files
        }

        @Test func restoreRefusesHostileTreesAndWritesValidOnesInside() throws {
            let repo = try TestRepo()
            try repo.write("train.py", "print('v1')\n")
            try repo.commitAll("init")
            // A change, so the run's snapshot is a commit of its own (not HEAD).
            try repo.write("train.py", "print('v2')\n")
            let id = try RestoreHelpers.recordRun(repo)
            let outside = repo.folder.path + "/outside"
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try "keep\n".write(toFile: outside + "/keep.txt", atomically: true, encoding: .utf8)
            let workspace = try Workspace(context: repo.context())
            let repository = workspace.repository
            let reference = try #require(ReferenceName("refs/exp/runs/" + id.rawValue))
            let original = try #require(try repository.resolve(reference))
            let base = try #require(ObjectID(hex: try repo.gitLine(["rev-parse", "HEAD"])))
            let json = try repo.git(["show", "\(original.hex):run.json"])
            let oldSnapshot = try repo.gitLine(["rev-parse", "\(original.hex)^1"])
            let oldTree = try repo.gitLine(["rev-parse", "\(original.hex)^1^{tree}"])
            let emptyBlob = try repository.writeBlob([])
            let signature = Signature(name: "t", email: "t@example.com", time: 1_767_323_045)
            let hooks = repo.root + "/.git/hooks"
            try FileManager.default.createDirectory(atPath: hooks, withIntermediateDirectories: true)
            let around = try RepoFingerprint(root: repo.folder.path, gitDir: repo.folder.path + "/none")
            let hooksBefore = try RepoFingerprint(root: hooks, gitDir: repo.root + "/none")
            let config = FileManager.default.contents(atPath: repo.root + "/.git/config")

            var generator = HostileTreeGenerator(random: SeededGenerator(seed: Self.seed), outside: outside)
            var current = original
            var (refused, written) = (0, 0)
            for round in 0..<200 {
                let (entries, hostile) = generator.tree()
                let tree = try Self.write(entries, repository)
                let snapshot = try repository.createCommit(
                    tree: tree, parents: [base], author: signature, committer: signature, message: "snapshot")
                let record = json.replacingOccurrences(of: oldSnapshot, with: snapshot.hex)
                    .replacingOccurrences(of: oldTree, with: tree.hex)
                let runJSON = try repository.writeBlob(Array(record.utf8))
                let recordTree = try repository.writeTreeObject(
                    literally: [("metrics.jsonl", emptyBlob), ("output.log", emptyBlob), ("run.json", runJSON)]
                        .flatMap { Array("100644 \($0.0)".utf8) + [0] + Self.raw($0.1) })
                let commit = try repository.createCommit(
                    tree: recordTree, parents: [snapshot], author: signature, committer: signature, message: "crafted")
                try repository.updateReference(reference, to: commit, expecting: current, message: "round \(round)")
                current = commit

                // Every restore: the whole tree (most rounds), `-- .`, and `--into` a new folder.
                let mode = round % 10 == 9 ? "--into" : round % 2 == 1 ? "-- ." : "whole"
                let into = repo.folder.path + "/into-\(round)"
                let context = "seed \(Self.seed) round \(round) (\(mode)): \(entries)"
                do {
                    let result: CheckoutResult
                    switch mode {
                    case "--into": result = try RestoreHelpers.checkout(repo, id.rawValue, into: into)
                    case "-- .": result = try RestoreHelpers.checkout(repo, id.rawValue, force: true, paths: ["."])
                    default: result = try RestoreHelpers.checkout(repo, id.rawValue, force: true)
                    }
                    written += 1
                    // Autosaves are not under test here: dropped so each round stays as quick.
                    if let autosave = result.autosave,
                        let name = ReferenceName("refs/exp/autosave/" + autosave.record.id.rawValue)
                    {
                        try repository.deleteReference(name, expecting: autosave.commit)
                    }
                    #expect(!hostile, "a hostile tree was checked out: \(context)")
                    if !hostile {
                        let root = mode == "--into" ? into : repo.root
                        #expect(try Self.onDisk(root) == Self.expected(entries), "\(context)")
                    }
                } catch let error as ExpError {
                    refused += 1
                    #expect(hostile, "a valid tree was refused (\(error.message)): \(context)")
                    #expect(error.message.contains("refusing to restore run"), "\(error.message)")
                    #expect(!FileManager.default.fileExists(atPath: into), "\(context)")
                }
                // The --into worktrees are the only new folders beside the repository.
                let aroundNow = try RepoFingerprint(root: repo.folder.path, gitDir: repo.folder.path + "/none")
                let changed = aroundNow.differences(from: around).filter { !$0.hasPrefix("dir:into-") }
                #expect(changed == [], "outside changed: \(context)")
                let hooksNow = try RepoFingerprint(root: hooks, gitDir: repo.root + "/none")
                #expect(hooksNow.differences(from: hooksBefore) == [], ".git/hooks changed: \(context)")
                #expect(FileManager.default.contents(atPath: repo.root + "/.git/config") == config, "\(context)")
                #expect(!FileManager.default.fileExists(atPath: repo.root + "/pwned"))
            }
            // Both kinds were tried.
            #expect(refused > 50 && written > 50, "refused \(refused), written \(written)")
        }
    }
}
