import ExpGit

extension RunStore {
    /// Replaces a sealed run's record with `change` applied, keeping every other file of the
    /// record (output, metrics, requirements) as it is. The ref moves only from the commit
    /// that was read; when another process moved it first, the record is read again and the
    /// change applied again (up to three times).
    ///
    /// Returns the run as now stored, or nil when the change left the record as it was or the
    /// run is still live (its own exp process owns the record until it seals it).
    @discardableResult
    func updateRecord(of run: StoredRun, reason: String, _ change: (inout RunRecord) -> Void) throws -> StoredRun? {
        var current = run
        for _ in 0..<3 {
            if current.isLive || current.record.status == .running { return nil }
            var record = current.record
            change(&record)
            if record == current.record { return nil }
            let kept = try translatingGitErrors {
                try repository.treeFiles(try repository.tree(ofCommit: current.commit))
            }
            var files: [String: BlobSource] = [:]
            for (name, entry) in kept where name != LiveFolder.recordFile { files[name] = .stored(entry.id) }
            let commit = try writeRecordCommit(record, files: files, previous: current.commit)
            do {
                try repository.updateReference(
                    referenceName(record.id), to: commit, expecting: current.commit, message: reason)
                return StoredRun(record: record, commit: commit, isLive: false)
            } catch let error where error.isModifiedConcurrently {
                guard let moved = try translatingGitErrors({ try repository.resolve(referenceName(record.id)) })
                else { return nil }
                current = StoredRun(record: try self.record(at: moved), commit: moved, isLive: false)
            } catch let error where error.isNotFound {
                return nil  // removed meanwhile
            } catch {
                throw ExpError(error)
            }
        }
        throw ExpError(
            "could not update the record of run \(run.record.name): other exp processes keep changing it",
            hint: "try again")
    }
}
