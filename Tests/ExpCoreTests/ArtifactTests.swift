import ExpCore
import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// `sha256sum`'s digest of a file: the oracle for the store's hashing.
func sha256sum(_ path: String) throws -> String {
    let result = try runProcess(["sha256sum", path], in: "/", environment: ["PATH": "/usr/bin:/bin"])
    try #require(result.status == 0, "\(result.stderr)")
    return String(result.stdout.prefix(64))
}

/// The inode, link count and permission bits of a file.
func fileFacts(_ path: String) throws -> (inode: UInt64, links: Int, mode: Int) {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (
        (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0,
        (attributes[.referenceCount] as? NSNumber)?.intValue ?? 0,
        (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
    )
}

/// Writes bytes into an existing file without replacing it (same inode), as training code
/// saving a checkpoint over the last one does.
func rewriteInPlace(_ path: String, _ text: String) throws {
    let handle = try #require(FileHandle(forWritingAtPath: path))
    try handle.truncate(atOffset: 0)
    try handle.write(contentsOf: Data(text.utf8))
    try handle.close()
}

@Suite("Artifact store")
struct ArtifactStoreTests {
    @Test func storesOnceReadOnlyAndHashesLikeSha256sum() throws {
        let folder = TemporaryFolder()
        let store = ArtifactStore(directory: folder.path + "/objects/sha256")
        let source = folder.path + "/model.ckpt"
        var bytes = [UInt8](repeating: 0, count: 3 << 20 | 12345)  // several chunks and a tail
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 11) }
        try Data(bytes).write(to: URL(fileURLWithPath: source))

        let first = try store.store(file: source, name: "model.ckpt")
        #expect(first.digest.hex == (try sha256sum(source)))
        #expect(first.size == Int64(bytes.count))
        #expect(first.added)
        let object = store.path(of: first.digest)
        #expect(object.hasSuffix("/objects/sha256/" + first.digest.hex.prefix(2) + "/" + first.digest.hex.dropFirst(2)))
        #expect(FileManager.default.contents(atPath: object) == Data(bytes))
        let facts = try fileFacts(object)
        #expect(facts.mode == 0o444)
        #expect(facts.links == 1)
        #expect(facts.inode != (try fileFacts(source)).inode)

        let copy = folder.path + "/copy.ckpt"
        try FileManager.default.copyItem(atPath: source, toPath: copy)
        let second = try store.store(file: copy, name: "copy.ckpt")
        #expect(second.digest == first.digest)
        #expect(!second.added)
        #expect(store.allObjects().map(\.digest) == [first.digest])
        // No temporary file is left behind.
        let names = try FileManager.default.contentsOfDirectory(atPath: store.directory)
        #expect(names == [String(first.digest.hex.prefix(2))])
    }

    @Test func emptyFileIsTheEmptyDigest() throws {
        let folder = TemporaryFolder()
        let store = ArtifactStore(directory: folder.path + "/store")
        FileManager.default.createFile(atPath: folder.path + "/empty", contents: Data())
        let object = try store.store(file: folder.path + "/empty", name: "empty")
        #expect(object.digest.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(object.size == 0)
    }

    @Test func rewritingTheSourceInPlaceLeavesTheObjectIntact() throws {
        let folder = TemporaryFolder()
        let store = ArtifactStore(directory: folder.path + "/store")
        let source = folder.path + "/last.ckpt"
        try Data("epoch 1 weights".utf8).write(to: URL(fileURLWithPath: source))
        let stored = try store.store(file: source, name: "last.ckpt")
        try rewriteInPlace(source, "epoch 2 weights, rewritten in place")
        #expect(FileManager.default.contents(atPath: store.path(of: stored.digest)) == Data("epoch 1 weights".utf8))
        #expect(try sha256sum(store.path(of: stored.digest)) == stored.digest.hex)
    }

    @Test func restoreVerifiesTheHashAndNeverWritesACorruptObject() throws {
        let folder = TemporaryFolder()
        let store = ArtifactStore(directory: folder.path + "/store")
        let source = folder.path + "/model.pt"
        try Data("the real weights".utf8).write(to: URL(fileURLWithPath: source))
        let stored = try store.store(file: source, name: "model.pt")

        let target = folder.path + "/out/model.pt"
        try store.restore(stored.digest, to: "out/model.pt", under: folder.path, name: "model.pt")
        #expect(FileManager.default.contents(atPath: target) == Data("the real weights".utf8))
        #expect(try fileFacts(target).mode & 0o200 != 0)  // a restored file is writable again

        // Damage the object (same size, other bytes).
        let object = store.path(of: stored.digest)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: object)
        try Data("the fake weights".utf8).write(to: URL(fileURLWithPath: object))
        try Data("mine".utf8).write(to: URL(fileURLWithPath: target))
        #expect {
            try store.restore(stored.digest, to: "out/model.pt", under: folder.path, name: "model.pt")
        } throws: { error in
            let message = (error as? ExpError)?.message ?? ""
            return message.contains("model.pt is corrupt") && message.contains(stored.digest.hex)
        }
        #expect(FileManager.default.contents(atPath: target) == Data("mine".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path + "/out") == ["model.pt"])
    }
}

@Suite("Artifact scan and rules")
struct ArtifactScanTests {
    @Test func globsResolveAgainstTheCommandsFolder() throws {
        #expect(try ArtifactRules.resolve(cliPatterns: ["*.pt"], configPatterns: [], cwd: ".").patterns == ["*.pt"])
        let rules = try ArtifactRules.resolve(
            cliPatterns: ["outputs/**/*.pt", "./x.bin"], configPatterns: ["/models/*.pt"], cwd: "sub/dir")
        #expect(rules.patterns == ["sub/dir/outputs/**/*.pt", "sub/dir/x.bin", "models/*.pt"])
        #expect(rules.lightningBase == nil)
        #expect(try ArtifactRules.resolve(cliPatterns: [], configPatterns: [], cwd: "sub").lightningBase == "sub")
        #expect(throws: ExpError.self) {
            try ArtifactRules.resolve(cliPatterns: ["../x"], configPatterns: [], cwd: ".")
        }
        #expect(throws: ExpError.self) {
            try ArtifactRules.resolve(cliPatterns: ["out/"], configPatterns: [], cwd: ".")
        }
    }

    @Test func literalPrefixBoundsTheWalk() {
        #expect(PathGlob("outputs/**/*.pt").literalPrefix == ["outputs"])
        #expect(PathGlob("outputs/**/*.pt").depthBelowPrefix == nil)
        #expect(PathGlob("a/b/c*/d.pt").literalPrefix == ["a", "b"])
        #expect(PathGlob("a/b/c*/d.pt").depthBelowPrefix == 2)
        #expect(PathGlob("*.pt").literalPrefix == [])
        #expect(PathGlob("*.pt").depthBelowPrefix == 1)
        #expect(PathGlob("outputs/**/*.pt").matches("outputs/model.pt"))
        #expect(PathGlob("outputs/**/*.pt").matches("outputs/a/b/model.pt"))
        #expect(!PathGlob("outputs/**/*.pt").matches("data/outputs/model.pt"))
        #expect(!PathGlob("*.pt").matches("a/model.pt"))
    }

    @Test func changedFilesAreNewOrRewritten() throws {
        let repo = try TestRepo()
        try repo.write("outputs/old.pt", "old")
        try repo.write("outputs/kept.pt", "kept")
        try repo.write("outputs/notes.txt", "not a match")
        let rules = try ArtifactRules.resolve(cliPatterns: ["outputs/**/*.pt"], configPatterns: [], cwd: ".")
        let before = ArtifactScan.take(root: repo.root, rules: rules)
        #expect(before.files.keys.sorted() == ["outputs/kept.pt", "outputs/old.pt"])
        try rewriteInPlace(repo.root + "/outputs/old.pt", "rewritten, longer")
        try repo.write("outputs/deep/er/new.pt", "new")
        let after = ArtifactScan.take(root: repo.root, rules: rules)
        #expect(after.changed(since: before) == ["outputs/deep/er/new.pt", "outputs/old.pt"])
    }

    @Test func lightningDefaultFindsCheckpointFolders() throws {
        let repo = try TestRepo()
        try repo.write("data/flat/0.jpg", "")
        let rules = try ArtifactRules.resolve(cliPatterns: [], configPatterns: [], cwd: ".")
        let before = ArtifactScan.take(root: repo.root, rules: rules)
        try repo.write("lightning_logs/version_0/checkpoints/epoch=0-step=10.ckpt", "a")
        try repo.write("lightning_logs/version_0/hparams.yaml", "lr: 1")
        try repo.write("outputs/2026-01-02/03-04-05/checkpoints/last.ckpt", "b")
        try repo.write("checkpoints/sub/best.ckpt", "c")
        try repo.write("other/model.ckpt", "not under a checkpoints folder")
        try repo.write(".venv/checkpoints/x.ckpt", "hidden folders are skipped")
        try repo.write("venv/pyvenv.cfg", "home = /usr/bin")
        try repo.write("venv/lib/checkpoints/x.ckpt", "virtual environments are skipped")
        try repo.write("lib/site-packages/pkg/checkpoints/x.ckpt", "installed packages are skipped")
        try repo.write("checkpoints/notes.txt", "not a checkpoint")
        let after = ArtifactScan.take(root: repo.root, rules: rules)
        #expect(
            after.changed(since: before) == [
                "checkpoints/sub/best.ckpt", "lightning_logs/version_0/checkpoints/epoch=0-step=10.ckpt",
                "outputs/2026-01-02/03-04-05/checkpoints/last.ckpt",
            ])
    }

    @Test func bestCheckpointFromLightningFileNames() {
        let summary = ArtifactSummary([
            Artifact(path: "ck/epoch=1-val_loss=0.50.ckpt", size: 1, sha256: nil, mtime: Date(), stored: true),
            Artifact(path: "ck/epoch=2-val_loss=0.25.ckpt", size: 2, sha256: nil, mtime: Date(), stored: true),
            Artifact(path: "ck/epoch=3-val_loss=0.40.ckpt", size: 3, sha256: nil, mtime: Date(), stored: false),
            Artifact(path: "ck/last.ckpt", size: 4, sha256: nil, mtime: Date(), stored: true),
        ])
        #expect(summary.count == 4)
        #expect(summary.size == 10)
        #expect(summary.stored == 3)
        #expect(summary.best?.path == "ck/epoch=2-val_loss=0.25.ckpt")
        #expect(summary.best?.metric == "val_loss")
        #expect(summary.best?.mode == "min")
        let accuracy = ArtifactSummary([
            Artifact(path: "epoch=1-val_acc=0.8.ckpt", size: 1, sha256: nil, mtime: Date(), stored: true),
            Artifact(path: "epoch=2-val_acc=0.9.ckpt", size: 1, sha256: nil, mtime: Date(), stored: true),
        ])
        #expect(accuracy.best?.path == "epoch=2-val_acc=0.9.ckpt")
        #expect(ArtifactSummary([]).best == nil)
    }
}

@Suite("Artifacts of runs", .serialized)
struct RunArtifactTests {
    func runWriting(_ repo: TestRepo, _ script: String, patterns: [String] = []) throws -> RunRecord {
        let workspace = try Workspace(context: repo.context())
        var request = RunRequest(argv: ["sh", "-c", script], usePseudoTerminal: false)
        request.artifactPatterns = patterns
        request.stdinFD = -1
        return try workspace.run(request) { _ in }.record
    }

    @Test func runLinksWhatItWroteAndRestoresIt() throws {
        let repo = try TestRepo()
        try repo.write("train.py", "x\n")
        try repo.write("models/untouched.pt", "from before")
        try repo.commitAll()
        let record = try runWriting(
            repo, "mkdir -p models && printf w1 > models/a.pt && printf w2 > models/b.pt", patterns: ["models/*.pt"])
        #expect(record.artifacts?.count == 2)
        #expect(record.artifacts?.size == 4)
        let workspace = try Workspace(context: repo.context())
        let store = RunStore(workspace: workspace)
        let run = try store.resolve(.text(record.id.rawValue))
        let listed = try store.artifacts(of: run)
        #expect(listed.artifacts.map(\.path) == ["models/a.pt", "models/b.pt"])
        #expect(listed.artifacts[0].sha256?.hex == (try sha256sum(repo.root + "/models/a.pt")))

        // Identical files: nothing written.
        let unchanged = try workspace.restoreArtifacts(ArtifactRestoreRequest(run: .text(record.id.rawValue)))
        #expect(unchanged.artifacts.map(\.outcome) == [.unchanged, .unchanged])
        // A different file is refused, then backed up with force.
        try repo.write("models/a.pt", "mine")
        #expect(throws: ExpError.self) {
            try workspace.restoreArtifacts(ArtifactRestoreRequest(run: .text(record.id.rawValue)))
        }
        #expect(try repo.read("models/a.pt") == "mine")
        let forced = try workspace.restoreArtifacts(ArtifactRestoreRequest(run: .text(record.id.rawValue), force: true))
        #expect(forced.artifacts[0].outcome == .replaced(backup: forced.folder + "/models/a.pt.exp-backup-1"))
        #expect(try repo.read("models/a.pt") == "w1")
        #expect(try repo.read("models/a.pt.exp-backup-1") == "mine")
        // One path, into another folder.
        let into = try workspace.restoreArtifacts(
            ArtifactRestoreRequest(run: .text(record.id.rawValue), paths: ["models/b.pt"], into: "elsewhere"))
        #expect(into.artifacts.map(\.artifact.path) == ["models/b.pt"])
        #expect(try repo.read("elsewhere/models/b.pt") == "w2")
    }
}
