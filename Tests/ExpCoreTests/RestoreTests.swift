import ExpCore
import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// Helpers shared by the restore tests.
enum RestoreHelpers {
    /// Records a run of `true` in-process and returns its id.
    static func recordRun(_ repo: TestRepo, in directory: String? = nil) throws -> RunID {
        let workspace = try Workspace(context: repo.context(in: directory))
        let finished = try workspace.run(RunRequest(argv: ["true"], usePseudoTerminal: false)) { _ in }
        return finished.record.id
    }

    /// `exp checkout RUN` in-process.
    @discardableResult
    static func checkout(
        _ repo: TestRepo, _ run: String, force: Bool = false, paths: [String] = [], into: String? = nil
    )
        throws -> CheckoutResult
    {
        let workspace = try Workspace(context: repo.context())
        return try workspace.checkout(
            CheckoutRequest(run: try RunRef(parsing: run), force: force, into: into, paths: paths))
    }

    /// Files that are not ignored (tracked, or untracked and not ignored), as git lists them.
    static func visibleFiles(_ repo: TestRepo, in directory: String? = nil) throws -> Set<String> {
        let listed = try repo.git(["ls-files", "-z", "-co", "--exclude-standard"], in: directory)
        return Set(listed.split(separator: "\0").map(String.init))
    }

    /// Content, mode and symlink target of each of `paths` ("-" when absent).
    static func contents(_ repo: TestRepo, _ paths: Set<String>, root: String? = nil) throws -> [String: String] {
        let root = root ?? repo.root
        let fingerprint = try RepoFingerprint(root: root, gitDir: root + "/.git-none")
        var result: [String: String] = [:]
        for path in paths {
            result[path] =
                fingerprint.entries["file:" + path] ?? fingerprint.entries["link:" + path].map { "-> " + $0 }
                ?? "-"
        }
        return result
    }

    static func fingerprint(_ repo: TestRepo) throws -> RepoFingerprint {
        try RepoFingerprint(root: repo.root, gitDir: repo.root + "/.git")
    }
}

extension InProcessLaunches {
    @Suite("Restore: exp checkout brings back a run's code")
    struct RestoreTests {
        /// 8 seeds × 26 rounds: 208 recorded states, each changed at random, checked out, and the
        /// changed state brought back from its autosave (416 states compared at most).
        /// `EXP_PROPERTY_SEED` replays one seed.
        static let seeds: [UInt64] = {
            if let text = ProcessInfo.processInfo.environment["EXP_PROPERTY_SEED"], let seed = UInt64(text) {
                return [seed]
            }
            return (1...8).map { UInt64($0) * 104_729 }
        }()

        @Test(arguments: seeds)
        func checkoutRoundTripsRandomStates(seed: UInt64) throws {
            let repo = try TestRepo()
            try repo.write("base.txt", "base\n")
            try repo.commitAll("init")
            var mutator = RepoMutator(repo: repo, random: SeededGenerator(seed: seed))
            var history: [String] = []
            var compared = 0
            for round in 0..<26 {
                for _ in 0..<Int.random(in: 1...4, using: &mutator.random) { history.append(try mutator.step()) }
                // The run's state S: the index as HEAD has it, so `git status` shows what checkout rebuilds.
                try repo.git(["reset", "-q"])
                let filesS = try RestoreHelpers.visibleFiles(repo)
                let statusS = try repo.git(["status", "--porcelain"])
                let treeS = try repo.gitAddAllTree()
                let run = try RestoreHelpers.recordRun(repo)
                history.append("record run \(run.short)")

                for _ in 0..<Int.random(in: 1...4, using: &mutator.random) { history.append(try mutator.step()) }
                let filesChanged = try RestoreHelpers.visibleFiles(repo)
                let changedContents = try RestoreHelpers.contents(repo, filesChanged)
                let treeChanged = try repo.gitAddAllTree()
                let result: CheckoutResult
                do {
                    result = try RestoreHelpers.checkout(repo, run.rawValue, force: true)
                } catch let error as ExpError where error.message.hasPrefix("staged changes differ") {
                    // Staged content found nowhere else is refused even with --force; nothing changes.
                    let before = try RestoreHelpers.fingerprint(repo)
                    #expect(throws: ExpError.self) { try RestoreHelpers.checkout(repo, run.rawValue, force: true) }
                    #expect(try RestoreHelpers.fingerprint(repo).differences(from: before) == [])
                    try repo.git(["reset", "-q"])
                    history.append("refused (staged work); git reset")
                    result = try RestoreHelpers.checkout(repo, run.rawValue, force: true)
                }
                history.append("checkout \(run.short) --force")
                let context = "seed \(seed), round \(round); edits:\n\(history.joined(separator: "\n"))"
                // The autosave, or (when the tree was exactly what the last checkout brought) that
                // run or autosave; nil only when the checkout changed nothing.
                guard let wayBack = result.wayBack else {
                    #expect(result.changed.isEmpty, "no way back printed; \(context)")
                    continue
                }
                let filesAfter = try RestoreHelpers.visibleFiles(repo)
                // Files that were ignored before and are not after stay (exp never touches them):
                // only compare states without such leftovers and without blocked paths.
                if result.notRestored.isEmpty && filesAfter == filesS {
                    compared += 1
                    let treeAfter = try repo.gitAddAllTree()
                    let difference = try repo.git(["diff", "--name-status", treeS, treeAfter])
                    #expect(
                        treeAfter == treeS, "tree after checkout differs:\n\(difference)\n\(result.changed)\n\(context)"
                    )
                    #expect(
                        try repo.git(["status", "--porcelain"]) == statusS, "git status after checkout; \(context)")
                }

                // The way back brings the changed state back.
                let back = try RestoreHelpers.checkout(repo, wayBack.record.id.rawValue, force: true)
                history.append("checkout \(wayBack.record.name) --force")
                let filesBack = try RestoreHelpers.visibleFiles(repo)
                if back.notRestored.isEmpty && filesBack == filesChanged {
                    compared += 1
                    #expect(try repo.gitAddAllTree() == treeChanged, "tree after autosave checkout; \(context)")
                    #expect(
                        try RestoreHelpers.contents(repo, filesChanged) == changedContents,
                        "files after autosave checkout; \(context)")
                }
            }
            #expect(compared >= 26, "too few states compared (\(compared)) for seed \(seed)")
        }

        @Test func checkoutRestoresFilesByteForByte() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.write("b.txt", "b\n")
            try repo.write("run.sh", "echo hi\n")
            try repo.commitAll("init")
            try repo.write("a.txt", "a changed\n")
            try repo.remove("b.txt")
            try repo.chmod("run.sh", 0o755)
            try repo.write("new/file.py", "print(1)\n")
            try repo.symlink("link", to: "a.txt")
            let files = try RestoreHelpers.visibleFiles(repo).union(["b.txt"])
            let before = try RestoreHelpers.contents(repo, files)
            let status = try repo.git(["status", "--porcelain"])
            let run = try RestoreHelpers.recordRun(repo)

            try repo.git(["checkout", "-q", "--", "."])
            try repo.git(["clean", "-qfd"])
            try repo.write("a.txt", "something else\n")
            let result = try RestoreHelpers.checkout(repo, run.rawValue, force: true)
            #expect(result.notRestored.isEmpty)
            #expect(try RestoreHelpers.contents(repo, files) == before)
            #expect(try repo.git(["status", "--porcelain"]) == status)
            #expect(try repo.gitLine(["symbolic-ref", "HEAD"]) == "refs/heads/main")
        }

        @Test func aBranchThatMovedOnLeavesHEADDetachedAndSaysWhichBranch() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.commitAll("init")
            let base = try repo.gitLine(["rev-parse", "HEAD"])
            let run = try RestoreHelpers.recordRun(repo)
            try repo.write("a.txt", "later\n")
            try repo.commitAll("later")
            let result = try RestoreHelpers.checkout(repo, run.rawValue)
            #expect(result.branchMovedOn == "main")
            #expect(result.head == .detached(try #require(ObjectID(hex: base))))
            #expect(try repo.gitLine(["rev-parse", "HEAD"]) == base, "git agrees HEAD is the run's base")
            #expect(try repo.gitLine(["rev-parse", "main"]) != base, "the branch is left where it was")
            // A run whose branch still points at its base: HEAD goes back onto the branch.
            try repo.git(["checkout", "-q", "main"])
            let current = try RestoreHelpers.recordRun(repo)
            try repo.git(["checkout", "-q", "--detach"])
            let onBranch = try RestoreHelpers.checkout(repo, current.rawValue)
            #expect(onBranch.branchMovedOn == nil)
            #expect(onBranch.head == .branch("main"))
            #expect(try repo.gitLine(["symbolic-ref", "HEAD"]) == "refs/heads/main")
        }

        @Test func refusesOverUncommittedWorkAndChangesNothing() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.commitAll("init")
            try repo.write("a.txt", "run state\n")
            let run = try RestoreHelpers.recordRun(repo)
            try repo.write("a.txt", "my precious edit\n")
            try repo.write("untracked.txt", "new\n")
            let before = try RestoreHelpers.fingerprint(repo)
            #expect {
                try RestoreHelpers.checkout(repo, run.rawValue)
            } throws: { error in
                guard let error = error as? ExpError, case .checkoutBlocked(_, let paths) = error.reason else {
                    return false
                }
                return error.kind == .conflict && paths == ["a.txt", "untracked.txt"]
            }
            #expect(try RestoreHelpers.fingerprint(repo).differences(from: before) == [])
        }

        @Test func refusesToDropStagedContentEvenWithForce() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.commitAll("init")
            try repo.write("a.txt", "run\n")
            let run = try RestoreHelpers.recordRun(repo)
            try repo.write("a.txt", "staged\n")
            try repo.git(["add", "a.txt"])
            try repo.write("a.txt", "edited after staging\n")
            let before = try RestoreHelpers.fingerprint(repo)
            #expect {
                try RestoreHelpers.checkout(repo, run.rawValue, force: true)
            } throws: { error in
                (error as? ExpError)?.message.contains("a.txt") == true
            }
            #expect(try RestoreHelpers.fingerprint(repo).differences(from: before) == [])
        }

        @Test func refusesToLeaveACommitOnNoBranchWithoutForce() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.commitAll("init")
            let run = try RestoreHelpers.recordRun(repo)
            try repo.git(["checkout", "-q", "--detach"])
            try repo.write("a.txt", "on no branch\n")
            let lonely = try repo.commitAll("lonely")
            #expect {
                try RestoreHelpers.checkout(repo, run.rawValue)
            } throws: { error in
                guard case .checkoutBlocked(_, let paths)? = (error as? ExpError)?.reason else { return false }
                return paths == ["HEAD (commit \(lonely.prefix(7)) is on no branch)"]
            }
            #expect(try repo.gitLine(["rev-parse", "HEAD"]) == lonely)
            // A run recorded there keeps the commit reachable: then nothing is lost.
            _ = try RestoreHelpers.recordRun(repo)
            let result = try RestoreHelpers.checkout(repo, run.rawValue)
            #expect(result.head == .branch("main"))
            #expect(try repo.read("a.txt") == "a\n")
        }

        @Test func refusesDuringAMergeEvenWithForce() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.commitAll("init")
            let run = try RestoreHelpers.recordRun(repo)
            try repo.git(["checkout", "-q", "-b", "other"])
            try repo.write("a.txt", "other\n")
            try repo.commitAll("other")
            try repo.git(["checkout", "-q", "main"])
            try repo.write("a.txt", "main\n")
            try repo.commitAll("main")
            _ = try? repo.git(["merge", "-q", "other"])
            let before = try RestoreHelpers.fingerprint(repo)
            #expect(throws: ExpError.self) { try RestoreHelpers.checkout(repo, run.rawValue, force: true) }
            #expect(try RestoreHelpers.fingerprint(repo).differences(from: before) == [])
            #expect(try repo.git(["for-each-ref", "refs/exp/autosave"]) == "")
        }

        @Test func neverTouchesSecretsLargeOrIgnoredFiles() throws {
            let repo = try TestRepo()
            try repo.write(".gitignore", "*.log\n")
            try repo.write(".expignore", "scratch/\n")
            try repo.write("a.txt", "a\n")
            try repo.commitAll("init")
            try repo.git(["config", "exp.maxFileSize", "10"])
            try repo.write(".env", "TOKEN=1\n")
            try repo.write("big.bin", String(repeating: "x", count: 100))
            try repo.write("scratch/notes.txt", "mine\n")
            try repo.write("out.log", "log\n")
            let run = try RestoreHelpers.recordRun(repo)
            try repo.write(".env", "TOKEN=2\n")
            try repo.write("big.bin", String(repeating: "y", count: 100))
            try repo.write("scratch/notes.txt", "mine, later\n")
            try repo.write("out.log", "log, later\n")
            try repo.write("a.txt", "changed\n")
            try RestoreHelpers.checkout(repo, run.rawValue, force: true)
            #expect(try repo.read(".env") == "TOKEN=2\n")
            #expect(try repo.read("big.bin") == String(repeating: "y", count: 100))
            #expect(try repo.read("scratch/notes.txt") == "mine, later\n")
            #expect(try repo.read("out.log") == "log, later\n")
            #expect(try repo.read("a.txt") == "a\n")
        }

        @Test func reportsPathsBlockedByIgnoredFilesAndLeavesThem() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.commitAll("init")
            try repo.write("cache.txt", "run's cache\n")
            let run = try RestoreHelpers.recordRun(repo)
            try repo.write(".git/info/exclude", "cache.txt\n")
            try repo.write("cache.txt", "ignored now, and mine\n")
            let result = try RestoreHelpers.checkout(repo, run.rawValue, force: true)
            #expect(result.notRestored.map(\.path) == ["cache.txt"])
            #expect(try repo.read("cache.txt") == "ignored now, and mine\n")
        }

        @Test func checkoutIntoLeavesTheMainWorktreeAlone() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.commitAll("init")
            try repo.write("a.txt", "run state\n")
            try repo.write("new.txt", "new\n")
            let tree = try repo.gitAddAllTree()
            let run = try RestoreHelpers.recordRun(repo)
            try repo.write("a.txt", "later\n")
            let before = try RestoreHelpers.fingerprint(repo)
            let folder = repo.folder.path + "/other"
            let result = try RestoreHelpers.checkout(repo, run.rawValue, into: folder)
            #expect(result.notRestored.isEmpty)
            #expect(
                try RestoreHelpers.fingerprint(repo).differences(from: before).filter { !$0.contains("worktrees") }
                    == [])
            #expect(try repo.gitAddAllTree(in: folder) == tree)
            #expect(try repo.gitLine(["rev-parse", "HEAD"], in: folder) == (try repo.gitLine(["rev-parse", "main"])))
            #expect(try repo.git(["branch", "--list"]) == "* main\n")
        }

        @Test func checkoutOfPathsRestoresOnlyThosePaths() throws {
            let repo = try TestRepo()
            try repo.write("a.txt", "a\n")
            try repo.write("b.txt", "b\n")
            try repo.commitAll("init")
            try repo.write("a.txt", "a run\n")
            try repo.write("b.txt", "b run\n")
            let run = try RestoreHelpers.recordRun(repo)
            try repo.git(["checkout", "-q", "--", "."])
            let index = try repo.git(["ls-files", "-s"])
            let result = try RestoreHelpers.checkout(repo, run.rawValue, paths: ["a.txt"])
            #expect(result.head == .unchanged)
            #expect(try repo.read("a.txt") == "a run\n")
            #expect(try repo.read("b.txt") == "b\n")
            #expect(try repo.git(["ls-files", "-s"]) == index)
        }

        @Test func rerunRecordsAReproductionAndRemovesItsWorktree() throws {
            let repo = try TestRepo()
            try repo.write("sub/a.txt", "a\n")
            try repo.commitAll("init")
            try repo.write("sub/a.txt", "run\n")
            let run = try RestoreHelpers.recordRun(repo, in: repo.root + "/sub")
            try repo.write("sub/a.txt", "later\n")
            let workspace = try Workspace(context: repo.context())
            let result = try workspace.rerun(try RunRef(parsing: run.rawValue)) { _ in }
            #expect(result.finished.record.reproduces == run)
            #expect(result.finished.record.cwd == "sub")
            #expect(result.finished.exitStatus == 0)
            let original = try RunStore(workspace: workspace).resolve(.text(run.rawValue))
            #expect(result.finished.record.snapshot.tree == original.record.snapshot.tree)
            #expect(try repo.git(["worktree", "list"]).split(separator: "\n").count == 1)
            #expect(try repo.read("sub/a.txt") == "later\n")
        }
    }
}
