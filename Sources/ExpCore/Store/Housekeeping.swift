public import ExpGit
import Foundation

extension RunStore {
    /// The ref that holds a stored run (`refs/exp/runs/<id>`, or `refs/exp/autosave/<id>`).
    public func referenceName(of run: StoredRun) -> ReferenceName {
        let prefix = run.record.status == .autosave ? Self.autosavePrefix : Self.refPrefix
        // Run ids are base32 and always valid in a ref name.
        return ReferenceName(prefix + run.record.id.rawValue)!
    }

    /// Refuses to change a run that is still going: its exp process writes the record when
    /// the command ends, and would find the ref moved.
    private func requireEnded(_ run: StoredRun, _ action: String) throws {
        guard run.record.status == .running else { return }
        // Recorded as running on this machine (its real name, or the one EXP_HOST gives it
        // here) with no live folder: its exp is long gone (the folder is made before the ref
        // and removed after the seal), and nothing can seal it.
        if run.record.ranOnThisMachine(workspace.context)
            && !FileManager.default.fileExists(atPath: liveDirectory(run.record.id))
        {
            return
        }
        throw ExpError(
            .conflict, "cannot \(action) run \(run.record.name): it is still running",
            hint: "wait for it to end; a run whose exp died is sealed `lost` by the next exp command",
            reason: .runStillRunning(run.record.name))
    }

    /// Removes a run: its ref goes (objects stay until `git gc`; artifacts until `exp gc`).
    public func remove(_ run: StoredRun) throws {
        try requireEnded(run, "remove")
        do {
            try repository.deleteReference(referenceName(of: run), expecting: run.commit)
        } catch let error where error.isModifiedConcurrently || error.isNotFound {
            throw ExpError(
                .conflict, "run \(run.record.name) was changed by another exp process; nothing removed",
                hint: "look at it again", reason: .changedConcurrently(run: run.record.id))
        } catch {
            throw ExpError(error)
        }
    }

    /// Writes a new record commit for a run with `change` applied to its run.json, keeping
    /// every other file of the record (see `updateRecord`, which retries when another process
    /// moved the ref meanwhile). A run still going is refused.
    @discardableResult
    public func rewriteRecord(_ run: StoredRun, reason: String, _ change: (inout RunRecord) -> Void) throws
        -> StoredRun
    {
        try requireEnded(run, "change")
        return try updateRecord(of: run, reason: reason, change) ?? run
    }

    /// Renames a run; the new name must be valid and not taken by another run.
    @discardableResult
    public func renameRun(_ run: StoredRun, to name: String) throws -> StoredRun {
        try RunName.validate(name)
        if name == run.record.name { return run }
        if try runNames().contains(name) {
            throw ExpError(
                .conflict, "a run named '\(name)' already exists",
                hint: "choose another name, or rename that run first",
                reason: .runNameTaken(name))
        }
        return try rewriteRecord(run, reason: "exp rename: \(run.record.name) -> \(name)") { $0.name = name }
    }

    /// Sets a run's note (free text kept in its record); empty text removes it.
    @discardableResult
    public func setNote(_ run: StoredRun, _ text: String) throws -> StoredRun {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return try rewriteRecord(run, reason: "exp note: \(run.record.name)") {
            $0.note = trimmed.isEmpty ? nil : trimmed
        }
    }
}

extension RunStore {
    /// Stores a finished run made elsewhere (imported from another tracker, or a test or
    /// benchmark fixture) on `refs/exp/runs/<id>`, with its metric points; the summary is
    /// computed from them. Its snapshot commit must be in the repository; the ref must not
    /// exist yet.
    @discardableResult
    public func storeFinished(_ record: RunRecord, points: [MetricPoint], output: [UInt8] = []) throws -> StoredRun {
        guard record.status != .running else {
            throw ExpError(.conflict, "a run given to store must have ended; \(record.name) is still running")
        }
        var record = record
        record.supervisor = nil
        if !points.isEmpty { record.metrics = MetricSummary.summarize(points) }
        let commit = try create(
            record,
            files: [
                LiveFolder.metricsFile: .bytes(try MetricsFile.encode(points)), LiveFolder.outputFile: .bytes(output),
            ])
        return StoredRun(record: record, commit: commit, isLive: false)
    }
}
