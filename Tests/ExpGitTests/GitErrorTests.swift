import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// `GitError` carries libgit2's code and class as values; callers decide by those, not by text.
@Suite("GitError: libgit2's code and class")
struct GitErrorTests {
    @Test func aMissingObjectIsNotFoundFromTheObjectDatabase() throws {
        let repo = try TestRepo()
        try repo.commitFile("a.txt", "a\n")
        let repository = try repo.openRepository()
        let missing = try objectID(String(repeating: "ab", count: 20))
        let error = #expect(throws: GitError.self) { try repository.tree(ofCommit: missing) }
        #expect(error?.code == .notFound)
        #expect(error?.errorClass == .odb)
        #expect(error?.isNotFound == true)
        #expect(error?.isBareRepository == false)
    }

    @Test func aTakenReferenceIsExistsFromReferences() throws {
        let repo = try TestRepo()
        let head = try repo.commitFile("a.txt", "a\n")
        try repo.git(["update-ref", "refs/exp/runs/one", head.hex])
        let repository = try repo.openRepository()
        let name = try #require(ReferenceName("refs/exp/runs/one"))
        let error = #expect(throws: GitError.self) {
            try repository.updateReference(name, to: head, expecting: nil, message: "exp: test")
        }
        #expect(error?.code == .exists)
        #expect(error?.errorClass == .reference)
        #expect(error?.code.rawValue == -4, "GIT_EEXISTS")
    }

    @Test func aReferenceMovedMeanwhileIsModified() throws {
        let repo = try TestRepo()
        let first = try repo.commitFile("a.txt", "a\n")
        let second = try repo.commitFile("b.txt", "b\n")
        try repo.git(["update-ref", "refs/exp/runs/one", second.hex])
        let repository = try repo.openRepository()
        let name = try #require(ReferenceName("refs/exp/runs/one"))
        let error = #expect(throws: GitError.self) { try repository.deleteReference(name, expecting: first) }
        #expect(error?.code == .modified)
        #expect(error?.isModifiedConcurrently == true)
        #expect(try repo.gitLine(["rev-parse", "refs/exp/runs/one"]) == second.hex, "git sees it untouched")
    }

    @Test func aBareRepositoryIsTypedNotWorded() throws {
        let repo = try TestRepo(bare: true)
        try useHermeticGitConfig()
        let error = #expect(throws: GitError.self) { try Repository.discover(from: repo.root) }
        #expect(error?.code == .bareRepository)
        #expect(error?.errorClass == .repository)
        #expect(error?.isBareRepository == true)
        #expect(error?.code.rawValue == -8, "GIT_EBAREREPO")
    }

    @Test func outsideARepositoryIsNotFoundFromTheRepositoryClass() throws {
        let folder = TemporaryFolder()
        try useHermeticGitConfig()
        let error = #expect(throws: GitError.self) { try Repository.discover(from: folder.path) }
        #expect(error?.code == .notFound)
        #expect(error?.errorClass == .repository)
        #expect(error?.isBareRepository == false)
    }

    @Test func aBrokenConfigFileIsAConfigError() throws {
        let repo = try TestRepo()
        try repo.commitFile("a.txt", "a\n")
        try useHermeticGitConfig()
        try Data("[core\n\tbare = false\n".utf8).write(to: URL(fileURLWithPath: repo.root + "/.git/config"))
        #expect(throws: (any Error).self, "git refuses it too") { try repo.git(["status"]) }
        let error = #expect(throws: GitError.self) { try Repository.open(at: repo.root) }
        #expect(error?.errorClass == .config)
    }

    @Test func aBadSizeValueIsAConfigError() throws {
        let repo = try TestRepo()
        try repo.setConfig("exp.maxFileSize", "lots")
        let config = ConfigReader(repository: try repo.openRepository(), fallbackPath: repo.root + "/.expconfig")
        let error = #expect(throws: GitError.self) { try config.size("exp.maxFileSize") }
        #expect(error?.errorClass == .config)
        #expect(error?.code == .generic)
    }
}
