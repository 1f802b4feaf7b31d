public import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A run as stored: its record and the commit that holds it.
public struct StoredRun: Sendable, Equatable {
    public var record: RunRecord
    /// The record commit `refs/exp/runs/<id>` points at.
    public var commit: ObjectID
    /// Whether the record came from the live folder of a run still going (fresher than git).
    public var isLive: Bool
}

/// Runs in git: `refs/exp/runs/<id>` → record commit (tree: run.json, metrics.jsonl,
/// output.log; first parent: the snapshot commit), plus live files under
/// `<git common dir>/exp/runs/<id>/` while a run goes.
public struct RunStore {
    public let workspace: Workspace
    var repository: Repository { workspace.repository }

    /// The query index, opened on first use.
    let indexCache = RunIndexCache()

    public init(workspace: Workspace) { self.workspace = workspace }

    public static let refPrefix = "refs/exp/runs/"

    /// `refs/exp/runs/<id>`.
    public func referenceName(_ id: RunID) -> ReferenceName {
        // Run ids are base32 and always valid in a ref name.
        ReferenceName(Self.refPrefix + id.rawValue)!
    }

    /// The folder of a live run's files.
    public func liveDirectory(_ id: RunID) -> String { liveFolder(id).path }

    /// `<git common dir>/exp/runs/`: the live folders of running runs.
    var liveFoldersPath: String { workspace.stateDirectory + "/runs" }

    /// The live folder of a run.
    public func liveFolder(_ id: RunID) -> LiveFolder { LiveFolder(path: liveFoldersPath + "/" + id.rawValue) }

    // MARK: Reading

    /// The record held by a record commit.
    public func record(at commit: ObjectID) throws -> RunRecord {
        let bytes = try recordBytes(at: commit)
        do {
            return try RunJSON.decoder().decode(RunRecord.self, from: Data(bytes))
        } catch {
            throw ExpError(
                "could not read run.json of record \(commit.short()): \(error)",
                hint: "the record may come from a newer exp; update exp")
        }
    }

    /// The live record of a running run, when its folder is there.
    func liveRecord(_ id: RunID) -> RunRecord? { liveFolder(id).readRecord() }

    /// Bytes of a file in the run's record (`output.log`, `metrics.jsonl`, …), or from its live
    /// folder while it runs.
    public func file(_ name: String, of run: StoredRun) throws -> [UInt8] {
        if run.isLive, let bytes = liveFolder(run.record.id).contents(name) { return bytes }
        return try translatingGitErrors { try repository.fileContents(atPath: name, inCommit: run.commit) } ?? []
    }

    // MARK: Writing

    /// Writes a record commit (run.json plus `files`) on top of the snapshot commit; with
    /// `previous` (the record it replaces) as second parent, so every later record is a
    /// fast-forward of the earlier one and `git push`/`git fetch` take it without force.
    func writeRecordCommit(_ record: RunRecord, files: [String: BlobSource], previous: ObjectID? = nil) throws
        -> ObjectID
    {
        var record = record
        // The supervisor block is for live files only (pids, boot id): never in git, so a
        // record commit is the same wherever and whenever the same run is recorded.
        record.supervisor = nil
        let json = try RunJSON.encoder().encode(record) + Data("\n".utf8)
        return try translatingGitErrors {
            var entries = [TreeFile(name: LiveFolder.recordFile, blob: try repository.writeBlob([UInt8](json)))]
            for (name, source) in files.sorted(by: { $0.key < $1.key }) {
                let blob: ObjectID
                switch source {
                case .bytes(let bytes): blob = try repository.writeBlob(bytes)
                case .stored(let id): blob = id
                case .file(let path):
                    blob =
                        FileManager.default.fileExists(atPath: path)
                        ? try repository.writeBlob(fromFile: path) : try repository.writeBlob([])
                }
                entries.append(TreeFile(name: name, blob: blob))
            }
            let tree = try repository.writeTree(files: entries)
            let signature = try workspace.committer()
            let subject = "exp run \(record.name): \(record.status.rawValue)"
            return try repository.createCommit(
                tree: tree, parents: [record.snapshot.commit] + (previous.map { [$0] } ?? []), author: signature,
                committer: signature,
                message: subject + "\n\n" + record.commandLine + "\n")
        }
    }

    /// Default for `exp.maxLogSize`: the most of a run's output kept in its record.
    public static let defaultMaxLogSize: Int64 = 16 << 20

    /// The output log as it goes into the record: whole when it fits `exp.maxLogSize`, else
    /// its first MiB and its end, with a line saying how much was left out in between (a
    /// gigabyte of progress output must not land in `.git`).
    func outputLog(at path: String) -> BlobSource {
        let limit = (try? workspace.config.size("exp.maxLogSize")) ?? nil
        let maxSize = Int(limit ?? Self.defaultMaxLogSize)
        var info = stat()
        // The launcher already keeps the live log near the limit (head, marker line, tail).
        guard stat(path, &info) == 0, Int(info.st_size) > maxSize + 4096, maxSize > 0,
            let handle = FileHandle(forReadingAtPath: path)
        else { return .file(path) }
        defer { try? handle.close() }
        let size = Int(info.st_size)
        let headSize = min(1 << 20, maxSize / 4)
        var head = [UInt8]((try? handle.read(upToCount: headSize)) ?? Data())
        if let newline = head.lastIndex(of: UInt8(ascii: "\n")) { head.removeSubrange((newline + 1)...) }
        let tailSize = maxSize - headSize
        try? handle.seek(toOffset: UInt64(size - tailSize))
        var tail = [UInt8]((try? handle.readToEnd()) ?? Data())
        if let newline = tail.firstIndex(of: UInt8(ascii: "\n")), newline < tail.count - 1 {
            tail.removeSubrange(...newline)
        }
        let omitted = size - head.count - tail.count
        let marker =
            "\n[exp: \(omitted) bytes of output left out here; the log was \(size) bytes, over exp.maxLogSize]\n"
        return .bytes(head + Array(marker.utf8) + tail)
    }

    /// Content for a file in a record tree.
    enum BlobSource {
        case bytes([UInt8])
        case file(String)
        /// A blob already in the object database (a file kept from an earlier record).
        case stored(ObjectID)
    }

    /// Creates `refs/exp/runs/<id>` for a new run; fails when the id is taken.
    func create(_ record: RunRecord, files: [String: BlobSource]) throws -> ObjectID {
        let commit = try writeRecordCommit(record, files: files)
        try translatingGitErrors {
            try repository.updateReference(
                referenceName(record.id), to: commit, expecting: nil, message: "exp run: start \(record.name)")
        }
        return commit
    }

    /// Replaces the record of a run with a new one, only if the ref still points at
    /// `expected` (so two processes never both seal one run).
    func replace(_ record: RunRecord, files: [String: BlobSource], expected: ObjectID, reason: String) throws
        -> ObjectID
    {
        let commit = try writeRecordCommit(record, files: files, previous: expected)
        do {
            try repository.updateReference(referenceName(record.id), to: commit, expecting: expected, message: reason)
        } catch let error where error.isModifiedConcurrently || error.isNotFound {
            throw ExpError(
                .conflict, "run \(record.name) was changed by another exp process while sealing it",
                hint: "look at the run again", reason: .changedConcurrently(run: record.id))
        } catch {
            throw ExpError(error)
        }
        return commit
    }

    // MARK: Live files

    /// Writes the live run.json atomically (temp file, then rename).
    func writeLive(_ record: RunRecord) throws { try liveFolder(record.id).writeRecord(record) }
}

extension RunStore {
    /// Streams a live run's output to `write` as it grows, until the run is sealed; then
    /// writes whatever the sealed record adds. Returns when the run has ended.
    ///
    /// When the run's exp process is found gone, `onGone` is called (the caller recovers lost
    /// runs, `Workspace.recoverLostRuns`: reading never writes by itself) and what the record
    /// then holds is written.
    public func followOutput(of run: StoredRun, onGone: () throws -> Void, write: ([UInt8]) -> Void) throws {
        let folder = liveFolder(run.record.id)
        let path = folder.outputPath
        var offset = 0
        func drain() {
            guard let handle = FileHandle(forReadingAtPath: path) else { return }
            defer { try? handle.close() }
            try? handle.seek(toOffset: UInt64(offset))
            while let data = try? handle.read(upToCount: 1 << 16), !data.isEmpty {
                offset += data.count
                write([UInt8](data))
            }
        }
        while folder.exists {
            drain()
            if let live = folder.readRecord(), let supervisor = live.supervisor,
                ProcessFacts.isGone(supervisor, liveDirectory: folder.path, now: workspace.context.now())
            {
                try onGone()
                break
            }
            usleep(100_000)
        }
        drain()
        // The sealed record holds the whole log: print what the live file had not shown yet.
        guard let commit = try translatingGitErrors({ try repository.resolve(referenceName(run.record.id)) }) else {
            return
        }
        let sealed =
            try translatingGitErrors { try repository.fileContents(atPath: LiveFolder.outputFile, inCommit: commit) }
            ?? []
        if sealed.count > offset { write(Array(sealed[offset...])) }
    }
}

extension RunStore {
    /// A run's metric points: from its record, or, while it runs, from its live folder (the
    /// JSON lines its command has written so far, and what exp read from other sources).
    public func metricPoints(of run: StoredRun) throws -> [MetricPoint] {
        if run.isLive { return liveFolder(run.record.id).savedPoints().points }
        return MetricsFile.decode(try file(LiveFolder.metricsFile, of: run))
    }
}

extension RunStore {
    /// Streams a run's metric points as they arrive, until the run is sealed; then gives the
    /// points of the sealed record not given yet. Each point is given once (a point whose
    /// value changed at the same key, step and source is given again). For a sealed run, gives
    /// its points and returns. When the run's exp process is found gone, `onGone` is called
    /// (the caller recovers lost runs) and the points the record then holds are given.
    public func followMetrics(of run: StoredRun, onGone: () throws -> Void, write: ([MetricPoint]) -> Void) throws {
        // Points given, by a hash of all they hold: a run may have millions, so no text
        // key per point (a 64-bit hash of two different points agreeing is vanishingly rare).
        var given = Set<Int>()
        func identity(_ point: MetricPoint) -> Int {
            var hasher = Hasher()
            hasher.combine(point.source)
            hasher.combine(point.key)
            hasher.combine(point.step?.bitPattern)
            hasher.combine(point.time?.bitPattern)
            hasher.combine(point.value.bitPattern)
            return hasher.finalize()
        }
        func emit(_ points: [MetricPoint]) {
            let fresh = points.filter { given.insert(identity($0)).inserted }
            if !fresh.isEmpty { write(fresh) }
        }
        let folder = liveFolder(run.record.id)
        if run.isLive {
            while folder.exists {
                emit(folder.savedPoints().points)
                if let live = folder.readRecord(), let supervisor = live.supervisor,
                    ProcessFacts.isGone(supervisor, liveDirectory: folder.path, now: workspace.context.now())
                {
                    try onGone()
                    break
                }
                usleep(500_000)
            }
        }
        guard let commit = try translatingGitErrors({ try repository.resolve(referenceName(run.record.id)) }) else {
            return
        }
        let sealed = try translatingGitErrors {
            try repository.fileContents(atPath: LiveFolder.metricsFile, inCommit: commit)
        }
        emit(MetricsFile.decode(sealed ?? []))
    }
}
