import ExpGit
import ExpTestSupport
import Foundation
import Testing

@Suite("Writing and reading objects")
struct ObjectTests {
    let author = Signature(name: "Ada Author", email: "ada@example.com", time: 1_767_323_045, offsetMinutes: 60)
    let committer = Signature(name: "Cy Committer", email: "cy@example.com", time: 1_767_326_645, offsetMinutes: -330)

    @Test func createCommitWritesExactlyWhatGitWould() throws {
        let repo = try TestRepo()
        let head = try repo.commitFile("a.txt", "a\n")
        try repo.write("b.txt", "b\n")
        let tree = try objectID(repo.gitAddAllTree())
        let repository = try repo.openRepository()

        let commit = try repository.createCommit(
            tree: tree, parents: [head], author: author, committer: committer, message: "exp snapshot\n\nbody\n")
        #expect(
            try repo.git(["cat-file", "-p", commit.hex]) == """
                tree \(tree.hex)
                parent \(head.hex)
                author Ada Author <ada@example.com> 1767323045 +0100
                committer Cy Committer <cy@example.com> 1767326645 -0530

                exp snapshot

                body

                """)
        #expect(try repo.gitLine(["cat-file", "-t", commit.hex]) == "commit")
        try repo.git(["fsck", "--strict", "--no-dangling"])
        #expect(try repository.tree(ofCommit: commit) == tree)
        #expect(try repository.parents(ofCommit: commit) == [head])
        #expect(try repository.message(ofCommit: commit) == "exp snapshot\n\nbody\n")
        #expect(repository.contains(commit))
    }

    @Test(
        "a large file is stored as the blob git makes of it, compressed in pieces on all cores",
        arguments: [
            8 << 20,  // the smallest written in pieces: two whole ones
            (12 << 20) + 1,  // a last piece of one byte
            (20 << 20) - 7,
        ])
    func largeBlobIsTheBlobGitMakes(size: Int) throws {
        let repo = try TestRepo()
        // Text that compresses (numbered lines) with stretches of bytes that do not.
        var bytes = [UInt8]()
        bytes.reserveCapacity(size)
        var generator = SystemRandomNumberGenerator()
        var line = 0
        while bytes.count < size {
            if line % 1000 == 999 {
                bytes += (0..<50_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
            } else {
                bytes += Array("{\"step\":\(line),\"value\":\(Double(line) / 7)}\n".utf8)
            }
            line += 1
        }
        bytes.removeSubrange(size...)
        let path = repo.root + "/big.jsonl"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let repository = try repo.openRepository()
        let blob = try repository.writeBlob(fromFile: path)
        #expect(blob.hex == (try repo.gitLine(["hash-object", path])))
        #expect(try repository.blobContents(blob) == bytes)
        try repo.git(["fsck", "--strict", "--no-dangling"])
        #expect(try repo.gitLine(["cat-file", "-s", blob.hex]) == "\(size)")
        // Written again: the object is there already, and nothing else is left behind.
        #expect(try repository.writeBlob(fromFile: path) == blob)
        let objects = try FileManager.default.subpathsOfDirectory(atPath: repo.root + "/.git/objects")
        #expect(!objects.contains { $0.contains("tmp_obj_exp_") })
        // A shared repository leaves it to libgit2: the same object.
        let shared = try TestRepo()
        try shared.git(["config", "core.sharedRepository", "group"])
        #expect(try shared.openRepository().writeBlob(fromFile: path) == blob)
        try shared.git(["fsck", "--strict", "--no-dangling"])
    }

    @Test func createCommitMovesNoReference() throws {
        let repo = try TestRepo()
        let head = try repo.commitFile("a.txt", "a\n")
        let refsBefore = try repo.git(["for-each-ref"])
        let repository = try repo.openRepository()
        let tree = try repository.tree(ofCommit: head)
        _ = try repository.createCommit(
            tree: tree, parents: [head], author: author, committer: committer, message: "snapshot\n")
        #expect(try repo.git(["for-each-ref"]) == refsBefore)
        #expect(try repo.gitLine(["rev-parse", "HEAD"]) == head.hex)
        #expect(try repo.git(["reflog", "show", "--format=%H", "HEAD"]).split(separator: "\n").count == 1)
    }

    @Test func rootCommitHasNoParentLine() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        let tree = try objectID(repo.gitAddAllTree())
        let repository = try repo.openRepository()
        let commit = try repository.createCommit(
            tree: tree, parents: [], author: author, committer: author, message: "first\n")
        let text = try repo.git(["cat-file", "-p", commit.hex])
        #expect(text.hasPrefix("tree \(tree.hex)\nauthor Ada Author"))
        #expect(!text.contains("\nparent "))
        #expect(try repository.parents(ofCommit: commit).isEmpty)
        try repo.git(["fsck", "--strict", "--no-dangling"])
    }

    @Test func mergeCommitKeepsParentOrder() throws {
        let repo = try TestRepo()
        let base = try repo.commitFile("a.txt", "a\n")
        try repo.git(["checkout", "-q", "-b", "side"])
        let side = try repo.commitFile("b.txt", "b\n")
        let repository = try repo.openRepository()
        let commit = try repository.createCommit(
            tree: try repository.tree(ofCommit: side), parents: [side, base], author: author, committer: committer,
            message: "merge\n")
        #expect(try repo.gitLine(["rev-parse", "\(commit.hex)^1", "\(commit.hex)^2"]) == "\(side.hex)\n\(base.hex)")
        #expect(try repository.parents(ofCommit: commit) == [side, base])
        try repo.git(["fsck", "--strict", "--no-dangling"])
    }

    @Test func createCommitWithAMissingTreeOrParentFails() throws {
        let repo = try TestRepo()
        let head = try repo.commitFile("a.txt", "a\n")
        let repository = try repo.openRepository()
        let missing = try objectID(String(repeating: "ab", count: 20))
        let badTree = #expect(throws: GitError.self) {
            try repository.createCommit(
                tree: missing, parents: [], author: author, committer: committer, message: "x\n")
        }
        #expect(badTree?.isNotFound == true)
        #expect(badTree?.operation == "could not read tree \(missing.hex)")
        let badParent = #expect(throws: GitError.self) {
            try repository.createCommit(
                tree: try repository.tree(ofCommit: head), parents: [missing], author: author, committer: committer,
                message: "x\n")
        }
        #expect(badParent?.operation == "could not read commit \(missing.hex)")
    }

    @Test func createCommitWithAnEmptyNameFails() throws {
        let repo = try TestRepo()
        let head = try repo.commitFile("a.txt", "a\n")
        let repository = try repo.openRepository()
        let nobody = Signature(name: "", email: "", time: 0)
        #expect(throws: GitError.self) {
            try repository.createCommit(
                tree: try repository.tree(ofCommit: head), parents: [head], author: nobody, committer: nobody,
                message: "x\n")
        }
    }

    @Test func writeBlobMatchesGitHashObject() throws {
        let repo = try TestRepo()
        let repository = try repo.openRepository()
        let bytes: [UInt8] = Array("hello\u{0}world\n".utf8) + [0xff, 0xfe]
        try repo.write("blob.bin", Data(bytes))
        let blob = try repository.writeBlob(bytes)
        #expect(blob.hex == (try repo.gitLine(["hash-object", "blob.bin"])))
        #expect(try repo.gitLine(["cat-file", "-t", blob.hex]) == "blob")
        #expect(repository.contains(blob))
        #expect(try repository.writeBlob([]).hex == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")
    }

    @Test func containsIsFalseForAnUnknownObject() throws {
        let repo = try TestRepo()
        let repository = try repo.openRepository()
        #expect(!repository.contains(try objectID(String(repeating: "0", count: 40))))
    }

    @Test func diffCountsAgreeWithGitDiff() throws {
        let repo = try TestRepo()
        try repo.write("keep.txt", "k\n")
        try repo.write("edit.txt", "1\n")
        try repo.write("gone/a.txt", "a\n")
        try repo.write("gone/b.txt", "b\n")
        try repo.write("mode.sh", "echo\n")
        let old = try repo.commitFile("x.txt", "x\n")
        try repo.write("edit.txt", "2\n")
        try repo.remove("gone")
        try repo.write("new/c.txt", "c\n")
        try repo.chmod("mode.sh", 0o755)
        let new = try repo.commitFile("x.txt", "x\n")
        let repository = try repo.openRepository()
        let oldTree = try repository.tree(ofCommit: old)
        let newTree = try repository.tree(ofCommit: new)

        let counts = try repository.diffCounts(from: oldTree, to: newTree)
        let status = try repo.git(["diff", "--no-renames", "--name-status", old.hex, new.hex])
            .split(separator: "\n").map { $0.prefix(1) }
        #expect(counts.added == status.filter { $0 == "A" }.count)
        #expect(counts.deleted == status.filter { $0 == "D" }.count)
        #expect(counts.modified == status.filter { $0 == "M" || $0 == "T" }.count)
        #expect(counts == (modified: 2, added: 1, deleted: 2))

        let fromEmpty = try repository.diffCounts(from: nil, to: newTree)
        #expect(fromEmpty == (modified: 0, added: 5, deleted: 0))
        #expect(try repository.diffCounts(from: newTree, to: newTree) == (modified: 0, added: 0, deleted: 0))
    }
}

@Suite("Object ids")
struct ObjectIDTests {
    @Test func parsesFullHexAndLowercasesIt() throws {
        let id = try #require(ObjectID(hex: "0123456789ABCDEF0123456789abcdef01234567"))
        #expect(id.hex == "0123456789abcdef0123456789abcdef01234567")
        #expect(id.description == id.hex)
        #expect(id.short() == "0123456")
        #expect(id.short(12) == "0123456789ab")
    }

    @Test(arguments: [
        "", "abc", String(repeating: "a", count: 39), String(repeating: "a", count: 41),
        String(repeating: "g", count: 40), " " + String(repeating: "a", count: 39),
    ])
    func rejectsAnythingElse(_ text: String) {
        #expect(ObjectID(hex: text) == nil)
    }

    @Test func codableAsAPlainString() throws {
        let id = try #require(ObjectID(hex: String(repeating: "ab", count: 20)))
        let data = try JSONEncoder().encode([id])
        #expect(String(decoding: data, as: UTF8.self) == "[\"\(id.hex)\"]")
        #expect(try JSONDecoder().decode([ObjectID].self, from: data) == [id])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ObjectID].self, from: Data("[\"xyz\"]".utf8)) }
    }
}
