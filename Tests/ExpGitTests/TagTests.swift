import ExpGit
import ExpTestSupport
import Foundation
import Testing

@Suite("Tags, ancestry and the git CLI")
struct TagTests {
    let tagger = Signature(name: "Tess Tagger", email: "tess@example.com", time: 1_767_323_045, offsetMinutes: 0)

    @Test func annotatedTagsAreWhatGitReadsAndNeverMoved() throws {
        let repo = try TestRepo()
        let first = try repo.commitFile("a.txt", "a\n")
        let second = try repo.commitFile("a.txt", "b\n")
        let repository = try repo.openRepository()
        let tag = try repository.createTag(named: "exp/brave-otter", at: first, tagger: tagger, message: "run\n")
        #expect(try repo.gitLine(["cat-file", "-t", "exp/brave-otter"]) == "tag")
        #expect(try repo.gitLine(["rev-parse", "exp/brave-otter"]) == tag.hex)
        #expect(try repo.gitLine(["rev-parse", "exp/brave-otter^{commit}"]) == first.hex)
        #expect(
            try repo.gitLine(["tag", "-l", "--format=%(taggername) %(contents)", "exp/brave-otter"])
                == "Tess Tagger run")
        do {
            try repository.createTag(named: "exp/brave-otter", at: second, tagger: tagger, message: "again\n")
            Issue.record("a taken tag name must fail")
        } catch {
            #expect(error.isExists)
        }
        #expect(try repo.gitLine(["rev-parse", "exp/brave-otter^{commit}"]) == first.hex)

        try repo.git(["tag", "exp/lightweight", second.hex])
        let tags = try repository.annotatedTags(matching: "refs/tags/exp/*")
        #expect(tags.map(\.reference) == ["refs/tags/exp/brave-otter"])
        #expect(tags.first?.target == first)
        #expect(tags.first?.message == "run\n")

        // A tag object without a reference, then the reference moved with compare-and-swap.
        let moved = try repository.writeTagObject(named: "exp/brave-otter", at: second, tagger: tagger, message: "m\n")
        let name = try #require(ReferenceName("refs/tags/exp/brave-otter"))
        try repository.updateReference(name, to: moved, expecting: tag, message: "move")
        #expect(try repo.gitLine(["rev-parse", "exp/brave-otter^{commit}"]) == second.hex)
        try repo.git(["fsck", "--strict", "--no-dangling"])
    }

    @Test func ancestry() throws {
        let repo = try TestRepo()
        let base = try repo.commitFile("a.txt", "a\n")
        let next = try repo.commitFile("a.txt", "b\n")
        try repo.git(["checkout", "-q", "-b", "side", base.hex])
        let side = try repo.commitFile("s.txt", "s\n")
        let repository = try repo.openRepository()
        #expect(try repository.isAncestor(base, ofAny: [next]))
        #expect(try repository.isAncestor(next, ofAny: [next]))
        #expect(try !repository.isAncestor(side, ofAny: [next]))
        #expect(try repository.isAncestor(side, ofAny: [next, side]))
        #expect(try !repository.isAncestor(try objectID(String(repeating: "1", count: 40)), ofAny: [next]))
    }

    @Test func gitCLIRunsTheUsersGit() throws {
        let repo = try TestRepo()
        try repo.commitFile("a.txt", "a\n")
        let git = GitCLI(workingDirectory: repo.root, environment: repo.environment)
        let head = try git.run(["rev-parse", "HEAD"])
        #expect(head.status == 0)
        #expect(head.stdout == (try repo.git(["rev-parse", "HEAD"])))
        let bad = try git.run(["rev-parse", "no-such-ref"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("no-such-ref"))
    }

    @Test func indexTreeReadsAnotherIndexFile() throws {
        let repo = try TestRepo()
        try repo.commitFile("a.txt", "a\n")
        try repo.write("b.txt", "b\n")
        let scratch = repo.folder.path + "/other-index"
        try repo.git(["add", "-A"], env: ["GIT_INDEX_FILE": scratch])
        let expected = try repo.gitLine(["write-tree"], env: ["GIT_INDEX_FILE": scratch])
        let repository = try repo.openRepository()
        #expect(try repository.indexTree(file: scratch)?.hex == expected)
        #expect(try repository.indexTree()?.hex == (try repo.gitLine(["write-tree"])))
        #expect(try repository.indexTree()?.hex != expected)
    }
}
