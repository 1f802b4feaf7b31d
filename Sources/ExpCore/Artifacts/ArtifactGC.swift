import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `exp gc` removed (or, with `--dry-run`, would remove).
public struct ArtifactGC: Sendable {
    public var dryRun: Bool
    /// Objects no run references.
    public var removed: [(digest: SHA256Digest, size: Int64)]
    /// Bytes freed by removing them (and leftover temporary files).
    public var freedBytes: Int64
    /// Objects kept: referenced by a run, or maybe about to be by a run still going.
    public var kept: Int
    public var keptBytes: Int64
    /// Unreferenced objects kept because a run still going may link them when it ends.
    public var keptForLiveRuns: Int
    /// Temporary files of copies that never finished, removed.
    public var temporaries: Int
    /// Broken records skipped: whatever artifacts they linked are not protected.
    public var skippedBroken: [BrokenRecord] = []
}

extension Workspace {
    /// Removes the store objects that no run's `artifacts.json` references (after `exp rm`).
    ///
    /// Refuses, removing nothing, when some run's `artifacts.json` cannot be read. While runs
    /// are still going, objects written or reused since the earliest of them started are kept.
    public func collectArtifactGarbage(dryRun: Bool) throws -> ArtifactGC {
        let store = try RunStore.forReadingWorkspace(self)
        var referenced: Set<SHA256Digest> = []
        var skipped: [BrokenRecord] = []
        // Broken records (a ref to a blob or a missing object, an unreadable run.json) are
        // skipped, with a warning; what artifacts.json they hold still protects its objects.
        let broken = Dictionary(
            try store.brokenRecords().map { ($0.reference, $0) }, uniquingKeysWith: { first, _ in first })
        for (reference, commit) in try store.runReferences(includeAutosaves: true) {
            let bytes: [UInt8]?
            if let record = broken[reference] {
                guard let read = try? repository.fileContents(atPath: LiveFolder.artifactsFile, inCommit: commit),
                    let file = try? ArtifactsFile.decode(read)
                else {
                    skipped.append(record)
                    continue
                }
                for artifact in file.artifacts {
                    if let digest = artifact.sha256 { referenced.insert(digest) }
                }
                continue
            }
            bytes = try translatingGitErrors {
                try repository.fileContents(atPath: LiveFolder.artifactsFile, inCommit: commit)
            }
            guard let bytes else { continue }
            do {
                for artifact in try ArtifactsFile.decode(bytes).artifacts {
                    if let digest = artifact.sha256 { referenced.insert(digest) }
                }
            } catch {
                throw ExpError(
                    .corrupt,
                    "could not read artifacts.json of record \(commit.short()): \(error); nothing was removed",
                    hint: "the record may come from a newer exp; update exp")
            }
        }
        // Runs still going (their live folder remains after sealing the dead ones) link what
        // they stored or reused only when they end.
        let liveFolder = stateDirectory + "/runs"
        let liveStarts = ((try? FileManager.default.contentsOfDirectory(atPath: liveFolder)) ?? []).compactMap {
            name -> Date? in
            // A live folder without a readable record protects every object.
            RunID(name).map { store.liveRecord($0)?.startedAt ?? .distantPast }
        }
        let protectedSince = liveStarts.min().map { $0.addingTimeInterval(-60) }

        let objects = ArtifactStore(workspace: self)
        var result = ArtifactGC(
            dryRun: dryRun, removed: [], freedBytes: 0, kept: 0, keptBytes: 0, keptForLiveRuns: 0, temporaries: 0)
        result.skippedBroken = skipped
        for object in objects.allObjects() {
            if referenced.contains(object.digest) {
                result.kept += 1
                result.keptBytes += object.size
                continue
            }
            if let protectedSince, object.modified >= protectedSince {
                result.kept += 1
                result.keptBytes += object.size
                result.keptForLiveRuns += 1
                continue
            }
            if !dryRun { try objects.remove(object.digest) }
            result.removed.append((object.digest, object.size))
            result.freedBytes += object.size
        }
        // Half-written copies of an exp that died; a day old means no exp is still writing them.
        let dayAgo = context.now().addingTimeInterval(-86_400)
        for leftover in objects.leftoverTemporaries() where leftover.modified < dayAgo {
            if !dryRun { unlink(leftover.path) }
            result.temporaries += 1
            result.freedBytes += leftover.size
        }
        return result
    }
}
