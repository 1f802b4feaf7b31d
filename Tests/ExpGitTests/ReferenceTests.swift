import ExpGit
import ExpTestSupport
import Foundation
import Testing

@Suite("Reference names")
struct ReferenceNameTests {
    static let valid = [
        "refs/exp/runs/01jf3k8q2v7c9d0e1f2g3h4j5k",
        "refs/exp/autosave/01jf3k8q2v7c9d0e1f2g3h4j5k",
        "refs/tags/exp/brave-otter",
        "refs/heads/main",
        "refs/heads/feature/lr_0.01",
        "refs/x",
    ]

    static let invalid = [
        "refs/exp/runs/..bad",  // `..` anywhere
        "refs/x y",  // space
        "exp/runs/abc",  // not under refs/
        "HEAD",
        "main",
        "",
        "refs/",
        "refs/exp/runs/",  // trailing slash
        "refs//double",
        "refs/exp/runs/.hidden",  // component starting with a dot
        "refs/exp/runs/abc.lock",
        "refs/exp/runs/abc.",
        "refs/a~1",
        "refs/a^",
        "refs/a:b",
        "refs/a?",
        "refs/a*",
        "refs/a[0]",
        "refs/a\\b",
        "refs/a@{1}",
        "refs/tab\there",
    ]

    @Test(arguments: valid)
    func validNamesAreAccepted(_ name: String) {
        #expect(ReferenceName(name)?.rawValue == name)
        #expect(ReferenceName(name)?.description == name)
    }

    @Test(arguments: invalid)
    func invalidNamesAreRejected(_ name: String) {
        #expect(ReferenceName(name) == nil)
    }

    /// `git check-ref-format` is the oracle, plus exp's own rule that names start with `refs/`.
    @Test func agreesWithGitCheckRefFormat() throws {
        let folder = TemporaryFolder()
        let env = TestRepo.hermeticEnvironment(home: folder.path)
        for name in Self.valid + Self.invalid where !name.isEmpty {
            let git = try runProcess(["git", "check-ref-format", name], in: folder.path, environment: env)
            let gitAccepts = git.status == 0 && name.hasPrefix("refs/")
            #expect((ReferenceName(name) != nil) == gitAccepts, "\(name): git says \(gitAccepts ? "valid" : "invalid")")
        }
    }
}

@Suite("Creating, moving and deleting references")
struct ReferenceUpdateTests {
    /// A repository with two commits, and ExpGit's handle on it.
    func fixture() throws -> (TestRepo, Repository, first: ObjectID, second: ObjectID) {
        let repo = try TestRepo()
        let first = try repo.commitFile("a.txt", "1\n", message: "first")
        let second = try repo.commitFile("a.txt", "2\n", message: "second")
        return (repo, try repo.openRepository(), first, second)
    }

    func revParse(_ repo: TestRepo, _ name: String) throws -> String? {
        let result = try runProcess(
            ["git", "rev-parse", "-q", "--verify", name], in: repo.root, environment: repo.environment)
        return result.status == 0 ? result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : nil
    }

    @Test func createIfAbsentMakesTheReference() throws {
        let (repo, repository, first, _) = try fixture()
        let name = try #require(ReferenceName("refs/exp/runs/run1"))
        #expect(try repository.resolve(name) == nil)
        try repository.updateReference(name, to: first, expecting: nil, message: "exp: start run1")
        #expect(try revParse(repo, "refs/exp/runs/run1") == first.hex)
        #expect(try repository.resolve(name) == first)
    }

    @Test func createIfAbsentFailsWhenTheReferenceExists() throws {
        let (repo, repository, first, second) = try fixture()
        try repo.git(["update-ref", "refs/exp/runs/run1", first.hex])
        let name = try #require(ReferenceName("refs/exp/runs/run1"))
        let error = #expect(throws: GitError.self) {
            try repository.updateReference(name, to: second, expecting: nil, message: "exp: start run1")
        }
        #expect(error?.isExists == true)
        #expect(error?.isModifiedConcurrently == false)
        #expect(error?.operation == "could not create refs/exp/runs/run1 at \(second.short())")
        #expect(try revParse(repo, "refs/exp/runs/run1") == first.hex, "the existing reference is untouched")
    }

    @Test func moveWithTheCurrentValueSucceeds() throws {
        let (repo, repository, first, second) = try fixture()
        try repo.git(["update-ref", "refs/exp/runs/run1", first.hex])
        let name = try #require(ReferenceName("refs/exp/runs/run1"))
        try repository.updateReference(name, to: second, expecting: first, message: "exp: seal run1")
        #expect(try revParse(repo, "refs/exp/runs/run1") == second.hex)
    }

    @Test func moveWithAStaleExpectedValueFails() throws {
        let (repo, repository, first, second) = try fixture()
        // Someone else moved the reference to `second` after we read `first`.
        try repo.git(["update-ref", "refs/exp/runs/run1", second.hex])
        let name = try #require(ReferenceName("refs/exp/runs/run1"))
        let error = #expect(throws: GitError.self) {
            try repository.updateReference(name, to: first, expecting: first, message: "exp: seal run1")
        }
        #expect(error?.isModifiedConcurrently == true)
        #expect(
            error?.operation == "could not move refs/exp/runs/run1 from \(first.short()) to \(first.short())")
        #expect(try revParse(repo, "refs/exp/runs/run1") == second.hex, "the other writer's value stays")
    }

    @Test func moveOfAReferenceThatVanishedFails() throws {
        let (repo, repository, first, second) = try fixture()
        let name = try #require(ReferenceName("refs/exp/runs/gone"))
        #expect(throws: GitError.self) {
            try repository.updateReference(name, to: second, expecting: first, message: "exp: seal")
        }
        #expect(try revParse(repo, "refs/exp/runs/gone") == nil)
    }

    @Test func movesAPackedReference() throws {
        let (repo, repository, first, second) = try fixture()
        try repo.git(["update-ref", "refs/exp/runs/packed", first.hex])
        try repo.git(["pack-refs", "--all"])
        let name = try #require(ReferenceName("refs/exp/runs/packed"))
        try repository.updateReference(name, to: second, expecting: first, message: "exp: seal")
        #expect(try revParse(repo, "refs/exp/runs/packed") == second.hex)
    }

    @Test func deleteWithTheCurrentValueRemovesIt() throws {
        let (repo, repository, first, _) = try fixture()
        try repo.git(["update-ref", "refs/exp/runs/run1", first.hex])
        let name = try #require(ReferenceName("refs/exp/runs/run1"))
        try repository.deleteReference(name, expecting: first)
        #expect(try revParse(repo, "refs/exp/runs/run1") == nil)
        #expect(try repository.resolve(name) == nil)
        #expect(try repo.git(["for-each-ref", "refs/exp/"]).isEmpty)
    }

    @Test func deleteOfAPackedReference() throws {
        let (repo, repository, first, _) = try fixture()
        try repo.git(["update-ref", "refs/exp/runs/packed", first.hex])
        try repo.git(["pack-refs", "--all"])
        let name = try #require(ReferenceName("refs/exp/runs/packed"))
        try repository.deleteReference(name, expecting: first)
        #expect(try revParse(repo, "refs/exp/runs/packed") == nil)
        #expect(try revParse(repo, "refs/heads/main") != nil, "other packed references survive")
    }

    @Test func deleteWithAStaleValueFailsAndKeepsIt() throws {
        let (repo, repository, first, second) = try fixture()
        try repo.git(["update-ref", "refs/exp/runs/run1", second.hex])
        let name = try #require(ReferenceName("refs/exp/runs/run1"))
        let error = #expect(throws: GitError.self) { try repository.deleteReference(name, expecting: first) }
        #expect(error?.isModifiedConcurrently == true)
        #expect(try revParse(repo, "refs/exp/runs/run1") == second.hex)
    }

    @Test func deleteOfAMissingReferenceIsNotFound() throws {
        let (_, repository, first, _) = try fixture()
        let name = try #require(ReferenceName("refs/exp/runs/missing"))
        let error = #expect(throws: GitError.self) { try repository.deleteReference(name, expecting: first) }
        #expect(error?.isNotFound == true)
    }

    @Test func resolvePeelsSymbolicReferences() throws {
        let (repo, repository, _, second) = try fixture()
        try repo.git(["symbolic-ref", "refs/exp/current", "refs/heads/main"])
        #expect(try repository.resolve(try #require(ReferenceName("refs/exp/current"))) == second)
    }
}

@Suite("Listing references")
struct ReferenceListingTests {
    @Test func matchesGitForEachRef() throws {
        let repo = try TestRepo()
        let first = try repo.commitFile("a.txt", "1\n")
        let second = try repo.commitFile("a.txt", "2\n")
        for (index, id) in ["01b", "01a", "02c"].enumerated() {
            try repo.git(["update-ref", "refs/exp/runs/\(id)", index.isMultiple(of: 2) ? first.hex : second.hex])
        }
        try repo.git(["pack-refs", "--all"])  // some packed, some loose
        try repo.git(["update-ref", "refs/exp/runs/03d", second.hex])
        try repo.git(["update-ref", "refs/exp/runs/01a", first.hex])  // loose copy overrides the packed one
        try repo.git(["update-ref", "refs/exp/autosave/x", first.hex])  // not a run
        try repo.git(["update-ref", "refs/exp/runsuffix", first.hex])  // shares the prefix, not the folder

        let repository = try repo.openRepository()
        let listed = try repository.references(matching: "refs/exp/runs/*")
        let git = try repo.git(["for-each-ref", "--format=%(refname) %(objectname)", "refs/exp/runs/"])
        let expected = git.split(separator: "\n").map(String.init)
        #expect(listed.map { "\($0.name) \($0.target.hex)" } == expected)
        #expect(
            listed.map(\.name) == ["refs/exp/runs/01a", "refs/exp/runs/01b", "refs/exp/runs/02c", "refs/exp/runs/03d"])
    }

    @Test func emptyWhenNothingMatches() throws {
        let repo = try TestRepo()
        try repo.commitFile("a.txt", "1\n")
        let repository = try repo.openRepository()
        #expect(try repository.references(matching: "refs/exp/runs/*").isEmpty)
    }

    @Test func followsCommitsMadeAfterOpening() throws {
        let repo = try TestRepo()
        let commit = try repo.commitFile("a.txt", "1\n")
        let repository = try repo.openRepository()
        try repo.git(["update-ref", "refs/exp/runs/late", commit.hex])
        #expect(try repository.references(matching: "refs/exp/runs/*").map(\.name) == ["refs/exp/runs/late"])
    }
}
