import ExpGit
import ExpTestSupport
import Foundation
import Testing

@Suite("Finding and opening repositories")
struct RepositoryDiscoveryTests {
    @Test func discoversTheRepositoryFromADeepSubfolder() throws {
        let repo = try TestRepo()
        try repo.commitFile("src/model/net.py", "print(1)\n")
        let repository = try repo.openRepository(at: repo.root + "/src/model")
        #expect(
            canonical(repository.workingDirectory) == canonical(try repo.gitLine(["rev-parse", "--show-toplevel"])))
        #expect(canonical(repository.gitDirectory) == canonical(repo.root + "/.git"))
        #expect(repository.commonDirectory == repository.gitDirectory, "a main worktree shares nothing")
        #expect(!repository.workingDirectory.hasSuffix("/"))
        #expect(!repository.gitDirectory.hasSuffix("/"))
    }

    @Test func discoversFromTheRootAndFromInsideDotGit() throws {
        let repo = try TestRepo()
        let fromRoot = try repo.openRepository()
        #expect(canonical(fromRoot.workingDirectory) == canonical(repo.root))
        let fromGitDir = try repo.openRepository(at: repo.root + "/.git/refs")
        #expect(canonical(fromGitDir.workingDirectory) == canonical(repo.root))
    }

    @Test func linkedWorktreeHasItsOwnGitDirectoryAndSharesTheCommonOne() throws {
        let repo = try TestRepo()
        try repo.commitFile("a.txt", "a\n")
        let worktree = repo.folder.path + "/linked"
        try repo.git(["worktree", "add", "-q", "-b", "feature", worktree])
        try FileManager.default.createDirectory(atPath: worktree + "/sub", withIntermediateDirectories: true)

        let repository = try repo.openRepository(at: worktree + "/sub")
        let gitDir = try repo.gitLine(["rev-parse", "--absolute-git-dir"], in: worktree)
        let commonDir = try repo.gitLine(["rev-parse", "--path-format=absolute", "--git-common-dir"], in: worktree)
        #expect(canonical(repository.workingDirectory) == canonical(worktree))
        #expect(canonical(repository.gitDirectory) == canonical(gitDir))
        #expect(canonical(repository.commonDirectory) == canonical(commonDir))
        #expect(canonical(repository.commonDirectory) == canonical(repo.root + "/.git"))
        #expect(canonical(repository.gitDirectory) == canonical(repo.root + "/.git/worktrees/linked"))
        #expect(try repository.headBranch() == "refs/heads/feature")
        #expect(try repository.headCommit()?.hex == repo.gitLine(["rev-parse", "HEAD"]))
    }

    @Test func openAtDoesNotSearchUpward() throws {
        let repo = try TestRepo()
        try repo.commitFile("sub/a.txt", "a\n")
        try useHermeticGitConfig()
        let opened = try Repository.open(at: repo.root)
        #expect(canonical(opened.workingDirectory) == canonical(repo.root))
        let error = #expect(throws: GitError.self) { try Repository.open(at: repo.root + "/sub") }
        #expect(error?.operation == "could not open the repository at \(repo.root)/sub")
    }

    @Test func outsideARepositoryIsANotFoundError() throws {
        let folder = TemporaryFolder()
        try useHermeticGitConfig()
        let error = #expect(throws: GitError.self) { try Repository.discover(from: folder.path) }
        #expect(error?.isNotFound == true)
        #expect(error?.description == "not a git repository (or any parent folder): \(folder.path)")
    }

    @Test func aMissingFolderIsAnError() throws {
        let folder = TemporaryFolder()
        try useHermeticGitConfig()
        #expect(throws: GitError.self) { try Repository.discover(from: folder.path + "/does/not/exist") }
    }

    @Test func aBareRepositoryIsRefusedWithAnExplanation() throws {
        let repo = try TestRepo(bare: true)
        try useHermeticGitConfig()
        let error = #expect(throws: GitError.self) { try Repository.discover(from: repo.root) }
        #expect(error?.operation.hasSuffix("is a bare repository") == true)
        #expect(error?.reason == "exp needs a working tree; run it inside a clone that has one")
        #expect(error?.isNotFound == false)
        #expect(throws: GitError.self) { try Repository.open(at: repo.root) }
        #expect(throws: GitError.self) { try Repository.discover(from: repo.root + "/refs/heads") }
    }
}

@Suite("HEAD")
struct HeadTests {
    @Test func unbornBranchHasNoCommitButANamedBranch() throws {
        let repo = try TestRepo()
        let repository = try repo.openRepository()
        #expect(repository.isHeadUnborn)
        #expect(!repository.isHeadDetached)
        #expect(try repository.headCommit() == nil)
        #expect(try repository.headBranch() == "refs/heads/main")
    }

    @Test func unbornBranchWithAnotherName() throws {
        let repo = try TestRepo()
        try repo.git(["symbolic-ref", "HEAD", "refs/heads/experiments/lr-sweep"])
        let repository = try repo.openRepository()
        #expect(try repository.headBranch() == "refs/heads/experiments/lr-sweep")
        #expect(try repository.headCommit() == nil)
    }

    @Test func branchWithCommits() throws {
        let repo = try TestRepo()
        try repo.commitFile("a.txt", "1\n")
        let head = try repo.commitFile("a.txt", "2\n")
        let repository = try repo.openRepository()
        #expect(!repository.isHeadUnborn)
        #expect(!repository.isHeadDetached)
        #expect(try repository.headCommit() == head)
        #expect(try repository.headBranch() == "refs/heads/main")
    }

    @Test func detachedHeadHasACommitAndNoBranch() throws {
        let repo = try TestRepo()
        let first = try repo.commitFile("a.txt", "1\n")
        try repo.commitFile("a.txt", "2\n")
        try repo.git(["checkout", "-q", "--detach", first.hex])
        let repository = try repo.openRepository()
        #expect(repository.isHeadDetached)
        #expect(!repository.isHeadUnborn)
        #expect(try repository.headCommit() == first)
        #expect(try repository.headBranch() == nil)
    }

    @Test func headSeesCommitsMadeAfterOpening() throws {
        let repo = try TestRepo()
        let repository = try repo.openRepository()
        #expect(try repository.headCommit() == nil)
        let commit = try repo.commitFile("a.txt", "1\n")
        #expect(try repository.headCommit() == commit)
    }
}
