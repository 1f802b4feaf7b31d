import ExpTestSupport
import Foundation
import Testing

extension TestRepo {
    /// Writes `content` as a blob (git hash-object -w); returns its id.
    func blob(_ content: String) throws -> String {
        let path = folder.path + "/blob-\(UUID().uuidString)"
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try gitLine(["hash-object", "-w", path])
    }

    /// A tree holding `files` (name → blob id), made through a scratch index.
    func tree(_ files: [String: String]) throws -> String {
        let env = ["GIT_INDEX_FILE": folder.path + "/scratch-index-\(UUID().uuidString)"]
        for (name, blob) in files {
            try git(["update-index", "--add", "--cacheinfo", "100644,\(blob),\(name)"], env: env)
        }
        return try gitLine(["write-tree"], env: env)
    }

    /// A commit of `tree` with no parent.
    func commit(tree: String) throws -> String {
        try gitLine(["commit-tree", "-m", "crafted", tree])
    }
}

@Suite("broken and foreign records")
struct BrokenRecordTests {
    /// Every kind of ref under refs/exp/runs/ that holds no readable run, made with git
    /// plumbing: (ref, what `exp list --all` must say about it, the name `exp rm` is given).
    private func craftBrokenRecords(_ repo: TestRepo, good: String) throws -> [(
        ref: String, reason: String, rm: String
    )] {
        let goodCommit = try repo.gitLine(["rev-parse", good])
        let goodID = String(good.dropFirst("refs/exp/runs/".count))
        let goodJSON = try repo.git(["show", good + ":run.json"])
        let text = try repo.blob("hello\n")
        let emptyTree = try repo.tree([:])
        let noRunJSON = try repo.commit(tree: try repo.tree(["other.txt": text]))
        let notJSON = try repo.commit(tree: try repo.tree(["run.json": try repo.blob("not json {")]))
        let format7 = try repo.commit(
            tree: try repo.tree([
                "run.json": try repo.blob(goodJSON.replacingOccurrences(of: "\"format\" : 1", with: "\"format\" : 7"))
            ]))
        let crafted: [(ref: String, target: String, reason: String, rm: String)] = [
            ("refs/exp/runs/blobref", text, "points at a blob", "blobref"),
            ("refs/exp/runs/treeref", emptyTree, "points at a tree", "refs/exp/runs/treeref"),
            ("refs/exp/runs/nojson", noRunJSON, "has no run.json", "nojson"),
            ("refs/exp/runs/1notjsonaaaaaaaaaaaaaaaaaa", notJSON, "is not JSON", "1notjsonaaaaaaaaaaaaaaaaaa"),
            ("refs/exp/runs/format7", format7, "format 7", "format7"),
            ("refs/exp/runs/sub/dir/" + goodID, goodCommit, "not the id of the record", "sub/dir/" + goodID),
            (
                "refs/exp/runs/1aliasaaaaaaaaaaaaaaaaaaaa", goodCommit, "not the id of the record",
                "refs/exp/runs/1aliasaaaaaaaaaaaaaaaaaaaa"
            ),
        ]
        for entry in crafted { try repo.git(["update-ref", entry.ref, entry.target]) }
        return crafted.map { ($0.ref, $0.reason, $0.rm) }
    }

    @Test func everyMalformedRecordIsListedSkippedReportedAndRemovable() throws {
        let repo = try makeRepo()
        #expect(try repo.exp(["run", "--name", "good", "--", "sh", "-c", "echo hi"]).status == 0)
        let good = try #require(try runRefs(repo).first)
        let broken = try craftBrokenRecords(repo, good: good)

        // Plain list: the good run once, a note about the rest.
        let list = try repo.exp(["list"])
        #expect(list.status == 0)
        #expect(list.stdout.components(separatedBy: "\n").filter { $0.hasPrefix("good ") }.count == 1)
        #expect(!list.stdout.contains("broken"))
        #expect(list.stderr.contains("\(broken.count) broken records not shown"))

        // --all: each one as broken, with its reason.
        let all = try repo.exp(["list", "--all"])
        #expect(all.status == 0)
        #expect(all.stdout.components(separatedBy: "\n").filter { $0.hasPrefix("good ") }.count == 1)
        for entry in broken {
            let line = all.stdout.components(separatedBy: "\n").first { $0.hasPrefix("broken  \(entry.ref)  ") }
            #expect(line?.contains(entry.reason) == true, "\(entry.ref): \(line ?? "not listed")")
        }
        let json = try repo.exp(["list", "--all", "--json"])
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(entries.filter { $0["status"] as? String == "broken" }.count == broken.count)
        #expect(entries.filter { $0["status"] as? String == "succeeded" }.count == 1)

        // gc goes on, with a warning per broken record.
        let gc = try repo.exp(["gc"])
        #expect(gc.status == 0, "\(gc.stderr)")
        for entry in broken { #expect(gc.stderr.contains("skipped broken record \(entry.ref)")) }

        // fsck names each with its fix.
        let fsck = try repo.exp(["fsck"])
        #expect(fsck.status == 1)
        for entry in broken {
            #expect(fsck.stdout.contains("refs: \(entry.ref): not a run: "))
            #expect(fsck.stdout.contains("fix: exp rm \(entry.ref)"))
        }
        let fsckJSON = try repo.exp(["fsck", "--json"])
        #expect(fsckJSON.status == 1)
        let problems = try #require(
            try JSONSerialization.jsonObject(with: Data(fsckJSON.stdout.utf8)) as? [[String: Any]])
        #expect(Set(problems.compactMap { $0["subject"] as? String }) == Set(broken.map(\.ref)))

        // rm takes the ref or the name after refs/exp/runs/.
        let removed = try repo.exp(["rm"] + broken.map(\.rm))
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try repo.git(["for-each-ref", "--format=%(refname)", "refs/exp/"]) == good + "\n")
        #expect(try repo.exp(["fsck"]).status == 0)
        #expect(try repo.exp(["list", "--all"]).stdout.components(separatedBy: "\n").count == 3)
        try repo.git(["fsck", "--strict", "--no-progress"])
    }

    /// `git gc --prune=now` while runs go can leave a ref to an object that is gone; then every
    /// `git gc` fails. exp shows the ref, and `exp rm` removes it by its id.
    @Test func refToAPrunedObjectIsShownAndRemovable() throws {
        let repo = try makeRepo()
        #expect(try repo.exp(["run", "--name", "good", "--", "true"]).status == 0)
        let good = try #require(try runRefs(repo).first)
        let json = try repo.git(["show", good + ":run.json"])
        let orphan = try repo.commit(tree: try repo.tree(["run.json": try repo.blob(json)]))
        let id = "1prunedaaaaaaaaaaaaaaaaaaa"
        try repo.git(["update-ref", "refs/exp/runs/" + id, orphan])
        // The object goes, as an unsafe prune would take it.
        try FileManager.default.removeItem(
            atPath: repo.root + "/.git/objects/" + orphan.prefix(2) + "/" + orphan.dropFirst(2))
        let gitGC = try runProcess(["git", "gc", "--quiet"], in: repo.root, environment: repo.environment)
        #expect(gitGC.status != 0)

        let all = try repo.exp(["list", "--all"])
        #expect(all.status == 0)
        #expect(
            all.stdout.contains(
                "broken  refs/exp/runs/\(id)  it points at \(orphan.prefix(7)), which is not in the repository"))
        #expect(try repo.exp(["gc"]).status == 0)
        let fsck = try repo.exp(["fsck"])
        #expect(fsck.status == 1)
        #expect(fsck.stdout.contains("fix: exp rm refs/exp/runs/\(id)"))

        let removed = try repo.exp(["rm", id])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout == "removed broken record refs/exp/runs/\(id)\n")
        try repo.git(["gc", "--quiet", "--prune=now"])
        try repo.git(["fsck", "--strict", "--no-progress"])
        #expect(try runRefs(repo) == [good])
    }

    /// fsck finds problems outside the refs too: a stray or left-behind live folder, a run
    /// recorded as running that nothing can seal, a damaged artifact object, a damaged index.
    @Test func fsckFindsLiveFolderArtifactAndIndexProblems() throws {
        let repo = try makeRepo()
        #expect(try repo.exp(["run", "--name", "good", "--", "true"]).status == 0)
        #expect(try repo.exp(["fsck"]).status == 0)
        let good = try #require(try runRefs(repo).first)
        let goodID = String(good.dropFirst("refs/exp/runs/".count))
        let live = repo.root + "/.git/exp/runs"
        try FileManager.default.createDirectory(atPath: live + "/stray", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: live + "/" + goodID, withIntermediateDirectories: true)
        try repo.git(["show", good + ":run.json"]).write(
            toFile: live + "/" + goodID + "/run.json", atomically: true, encoding: .utf8)
        // A record left `running` on this machine with no live folder.
        let json = try repo.git(["show", good + ":run.json"])
        let stuckID = "1stckaaaaaaaaaaaaaaaaaaaaa"
        var stuck = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        stuck["id"] = stuckID
        stuck["name"] = "stuck"
        stuck["status"] = "running"
        let stuckJSON = String(decoding: try JSONSerialization.data(withJSONObject: stuck), as: UTF8.self)
        let snapshot = try repo.gitLine(["rev-parse", good + "^1"])
        let stuckCommit = try repo.gitLine([
            "commit-tree", "-p", snapshot, "-m", "stuck", try repo.tree(["run.json": try repo.blob(stuckJSON)]),
        ])
        try repo.git(["update-ref", "refs/exp/runs/" + stuckID, stuckCommit])
        // A stored object whose content is not what its name says.
        let digest = String(repeating: "ab", count: 32)
        let objects = repo.root + "/.git/exp/objects/sha256/ab"
        try FileManager.default.createDirectory(atPath: objects, withIntermediateDirectories: true)
        try "not the content".write(toFile: objects + "/" + digest.dropFirst(2), atomically: true, encoding: .utf8)
        // And an index that is not SQLite.
        try "garbage".write(toFile: repo.root + "/.git/exp/index.sqlite", atomically: false, encoding: .utf8)

        let fsck = try repo.exp(["fsck", "--json"])
        #expect(fsck.status == 1)
        let problems = try #require(try JSONSerialization.jsonObject(with: Data(fsck.stdout.utf8)) as? [[String: Any]])
        func problem(_ subject: String) -> [String: Any]? {
            problems.first { ($0["subject"] as? String)?.hasSuffix(subject) == true }
        }
        let strayFix = try #require(problem("/.git/exp/runs/stray")?["fix"] as? String)
        #expect(strayFix.hasPrefix("rm -r /") && strayFix.hasSuffix("/.git/exp/runs/stray"))
        #expect((problem("/.git/exp/runs/" + goodID)?["problem"] as? String)?.contains("left behind") == true)
        #expect(problem("refs/exp/runs/" + stuckID)?["fix"] as? String == "exp rm \(stuckID)")
        #expect((problem("/ab/" + digest.dropFirst(2))?["problem"] as? String)?.contains("damaged") == true)
        #expect(problem("/.git/exp/index.sqlite")?["fix"] as? String == "exp reindex")
        #expect(problems.count == 5, "\(problems)")

        // Each fix works.
        try FileManager.default.removeItem(atPath: live + "/stray")
        try FileManager.default.removeItem(atPath: live + "/" + goodID)
        try FileManager.default.removeItem(atPath: objects + "/" + digest.dropFirst(2))
        #expect(try repo.exp(["reindex"]).status == 0)
        let rm = try repo.exp(["rm", stuckID])
        #expect(rm.status == 0, "\(rm.stderr)")
        let clean = try repo.exp(["fsck"])
        #expect(clean.status == 0, "\(clean.stdout)")
    }
}
