import ExpGit
import Foundation
import GRDB

#if canImport(Glibc)
    import Glibc
#endif

/// One problem `exp fsck` found, with the way to fix it.
public struct FsckProblem: Sendable, Equatable {
    /// Which of exp's stores the problem is in.
    public enum Area: String, Sendable, Codable {
        case refs, live, index, artifacts
    }

    /// What fixes it; the command line spells each one out.
    public enum Fix: Sendable, Equatable {
        /// Delete the ref (`exp rm REF`).
        case removeReference(String)
        /// Remove the run (`exp rm ID`).
        case removeRun(RunID)
        /// Let exp seal the runs whose exp is gone (any exp command, such as `exp list`).
        case sealLostRuns
        /// Delete a file or folder exp no longer needs.
        case removePath(String)
        /// Rebuild the index from the refs (`exp reindex`).
        case reindex
        /// Nothing exp can do by itself: what the user can do.
        case advice(String)
    }

    public var area: Area
    /// What the problem is about: a ref, a folder, a file.
    public var subject: String
    public var problem: String
    public var fix: Fix
}

extension Workspace {
    /// Checks exp's refs, live folders, index and artifact store, changing nothing; returns
    /// every problem found (none when all is well). Artifact objects are hashed, so this
    /// reads the whole store.
    public func fsck() throws -> [FsckProblem] {
        let store = RunStore(workspace: self)
        var problems: [FsckProblem] = []
        let references = try store.runReferences(includeAutosaves: true)

        // Refs and the records they hold.
        var records: [String: (record: RunRecord, commit: ObjectID)] = [:]
        for (reference, commit) in references {
            switch store.readRecord(reference: reference, commit: commit) {
            case .broken(let reason):
                problems.append(
                    FsckProblem(
                        area: .refs, subject: reference, problem: "not a run: " + reason,
                        fix: .removeReference(reference)))
            case .record(let record, _):
                records[reference] = (record, commit)
                if !repository.contains(record.snapshot.commit) {
                    problems.append(
                        FsckProblem(
                            area: .refs, subject: reference,
                            problem:
                                "the snapshot commit \(record.snapshot.commit.short()) of run \(record.id.rawValue) "
                                + "is not in the repository: its code cannot be restored",
                            fix: .advice(
                                "fetch it again from where the run came from (`git fetch REMOTE "
                                    + "'refs/exp/*:refs/exp/*'`), or remove the run")))
                }
            }
        }

        problems += liveFolderProblems(store, records: records)
        problems += indexProblems(references: references)
        problems += artifactProblems(records: records)
        return problems
    }

    /// Live folders left behind, without a record, or of runs whose exp is gone; and runs
    /// recorded as running here that have no live folder (nothing would ever seal them).
    private func liveFolderProblems(_ store: RunStore, records: [String: (record: RunRecord, commit: ObjectID)])
        -> [FsckProblem]
    {
        var problems: [FsckProblem] = []
        let folder = stateDirectory + "/runs"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).sorted()
        for name in names {
            let path = folder + "/" + name
            guard let id = RunID(name) else {
                problems.append(
                    FsckProblem(
                        area: .live, subject: path, problem: "not a live folder of exp's (its name is not a run id)",
                        fix: .removePath(path)))
                continue
            }
            let sealed = records[RunStore.refPrefix + name]?.record
            guard let live = store.liveRecord(id) else {
                // A run is written into its folder before its ref exists: without a ref this may be one starting.
                if sealed != nil && sealed?.status != .running {
                    problems.append(
                        FsckProblem(
                            area: .live, subject: path,
                            problem: "left behind by run \(name), which has ended (no readable run.json)",
                            fix: .removePath(path)))
                } else if sealed?.status == .running {
                    problems.append(
                        FsckProblem(
                            area: .live, subject: path,
                            problem: "the live folder of running run \(name) has no readable run.json",
                            fix: .advice(
                                "if no exp process runs it any more, remove the folder, then remove run \(name)")))
                }
                continue
            }
            let gone =
                live.ranOnThisMachine(context)
                && (live.supervisor.map {
                    ProcessFacts.isGone($0, liveDirectory: path, now: context.now())
                } ?? true)
            switch sealed?.status {
            case nil:
                if gone {
                    problems.append(
                        FsckProblem(
                            area: .live, subject: path,
                            problem: "left behind by run \(name), whose ref is gone and whose exp has ended",
                            fix: .removePath(path)))
                }
            case .running?:
                if gone {
                    problems.append(
                        FsckProblem(
                            area: .live, subject: path,
                            problem: "run \(name) is recorded as running, but its exp process is gone",
                            fix: .sealLostRuns))
                }
            default:
                if gone {
                    problems.append(
                        FsckProblem(
                            area: .live, subject: path, problem: "left behind by run \(name), which has ended",
                            fix: .removePath(path)))
                }
            }
        }
        for (reference, entry) in records.sorted(by: { $0.key < $1.key })
        where entry.record.status == .running && entry.record.ranOnThisMachine(context)
            && !names.contains(entry.record.id.rawValue)
        {
            problems.append(
                FsckProblem(
                    area: .live, subject: reference,
                    problem:
                        "run \(entry.record.id.rawValue) is recorded as running on this machine, but has no live "
                        + "folder: nothing can seal it",
                    fix: .removeRun(entry.record.id)))
        }
        return problems
    }

    /// A damaged index, or one that does not list the refs as they are.
    private func indexProblems(references: [(name: String, commit: ObjectID)]) -> [FsckProblem] {
        let path = RunIndex.path(stateDirectory: stateDirectory)
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        do {
            let queue = try DatabaseQueue(path: path)
            defer { try? queue.close() }
            return try queue.read { db in
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                guard check == ["ok"] else {
                    return [
                        FsckProblem(
                            area: .index, subject: path,
                            problem: "the index is damaged: " + check.prefix(3).joined(separator: "; "),
                            fix: .reindex)
                    ]
                }
                var sql = "SELECT ref, oid FROM runs"
                if try db.tableExists("broken") { sql += " UNION ALL SELECT ref, oid FROM broken" }
                var indexed: [String: String] = [:]
                for row in try Row.fetchAll(db, sql: sql) { indexed[row["ref"]] = row["oid"] }
                let differing =
                    references.filter { indexed[$0.name] != $0.commit.hex }.count
                    + Set(indexed.keys).subtracting(references.map(\.name)).count
                // Behind the refs is normal (the next read catches up); behind while the refs'
                // stamp says it is up to date means no command would ever catch up.
                let known = try String.fetchOne(db, sql: "SELECT value FROM state WHERE key = 'refs'")
                let current = RunIndex.refStamp(commonDirectory: repository.commonDirectory)
                guard differing > 0, let known, known == current else { return [] }
                return [
                    FsckProblem(
                        area: .index, subject: path,
                        problem: "the index does not match the refs (\(differing) ref\(differing == 1 ? "" : "s") "
                            + "differ) and would not notice",
                        fix: .reindex)
                ]
            }
        } catch {
            return [
                FsckProblem(
                    area: .index, subject: path,
                    problem: "the index cannot be read: \((error as? DatabaseError)?.message ?? "\(error)")",
                    fix: .reindex)
            ]
        }
    }

    /// Store objects whose content does not match their name, and stored artifacts of runs
    /// that are missing from the store.
    private func artifactProblems(records: [String: (record: RunRecord, commit: ObjectID)]) -> [FsckProblem] {
        var problems: [FsckProblem] = []
        let objects = ArtifactStore(workspace: self)
        var present: Set<SHA256Digest> = []
        for object in objects.allObjects() {
            present.insert(object.digest)
            let path = objects.path(of: object.digest)
            guard let actual = try? ArtifactStore.hash(file: path) else {
                problems.append(
                    FsckProblem(
                        area: .artifacts, subject: path, problem: "the stored object cannot be read",
                        fix: .removePath(path)))
                continue
            }
            if actual.digest != object.digest {
                problems.append(
                    FsckProblem(
                        area: .artifacts, subject: path,
                        problem: "the stored object is damaged: its content hashes to \(actual.digest.short)",
                        fix: .removePath(path)))
            }
        }
        for (reference, entry) in records.sorted(by: { $0.key < $1.key }) {
            guard
                let bytes = try? repository.fileContents(atPath: LiveFolder.artifactsFile, inCommit: entry.commit)
            else { continue }
            guard let file = try? ArtifactsFile.decode(bytes) else {
                problems.append(
                    FsckProblem(
                        area: .artifacts, subject: reference,
                        problem: "the artifacts.json of run \(entry.record.id.rawValue) cannot be read",
                        fix: .advice("the record may come from a newer exp; update exp")))
                continue
            }
            for artifact in file.artifacts where artifact.stored {
                guard let digest = artifact.sha256, !present.contains(digest) else { continue }
                problems.append(
                    FsckProblem(
                        area: .artifacts, subject: reference,
                        problem:
                            "run \(entry.record.id.rawValue) links \(artifact.path) "
                            + "(\(digest.short)), which is not in the artifact store",
                        fix: .advice(
                            "copy it back from exp.artifactRemote or another clone, or remove the run if the "
                                + "file is lost")))
            }
        }
        return problems
    }
}
