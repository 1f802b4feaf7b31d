public import ExpGit
import Foundation

/// A ref under `refs/exp/runs/` or `refs/exp/autosave/` that does not hold a record this exp
/// can read as the run its name says: it points at a missing object, a blob or a tree; its
/// commit has no run.json, or one that is not JSON or of an unknown format; or its name is
/// not `<prefix><id>` of the record it holds (a foreign ref such as `refs/exp/runs/sub/dir/ID`,
/// or a second ref to another run's record). Listed by `exp list --all`, removable with
/// `exp rm`, skipped by `exp gc`, reported by `exp fsck`.
public struct BrokenRecord: Sendable, Equatable, Codable {
    /// The full ref name.
    public var reference: String
    /// What the ref points at.
    public var target: ObjectID
    /// Why it is not a run, in a few words.
    public var reason: String

    /// The ref name without `refs/exp/runs/` or `refs/exp/autosave/`: what `exp rm` also takes.
    public var shortName: String {
        for prefix in [RunStore.refPrefix, RunStore.autosavePrefix] where reference.hasPrefix(prefix) {
            return String(reference.dropFirst(prefix.count))
        }
        return reference
    }
}

extension RunStore {
    /// What a run ref holds, read for the index: the record and its bytes, or why it is broken.
    enum RecordReading {
        case record(RunRecord, bytes: [UInt8])
        case broken(String)
    }

    /// Reads the record a run or autosave ref points at and checks that it is what the ref's
    /// name says. Cheap on the usual path (one run.json read and decode); the object database
    /// is asked what went wrong only when that fails.
    func readRecord(reference: String, commit: ObjectID) -> RecordReading {
        guard let bytes = try? recordBytes(at: commit),
            let record = try? RunJSON.decoder().decode(RunRecord.self, from: Data(bytes))
        else { return .broken(brokenReason(commit: commit)) }
        if let reason = mismatch(reference: reference, record: record) { return .broken(reason) }
        return .record(record, bytes: bytes)
    }

    /// Why a decoded record is not the run its ref's name says (nil when it is).
    func mismatch(reference: String, record: RunRecord) -> String? {
        if record.format != 1 {
            return "its run.json has format \(record.format); this exp reads format 1 (update exp)"
        }
        let isAutosaveRef = reference.hasPrefix(Self.autosavePrefix)
        if isAutosaveRef != (record.status == .autosave) {
            return isAutosaveRef
                ? "it holds run \(record.id.rawValue), not an autosave"
                : "it holds autosave \(record.id.rawValue), not a run"
        }
        let prefix = isAutosaveRef ? Self.autosavePrefix : Self.refPrefix
        guard reference.hasPrefix(prefix), reference.dropFirst(prefix.count) == record.id.rawValue else {
            return "its name is not the id of the record it holds (\(record.id.rawValue)), "
                + "whose own ref is \(prefix)\(record.id.rawValue)"
        }
        return nil
    }

    /// Why a record commit could not be read as a run.
    func brokenReason(commit: ObjectID) -> String {
        guard let kind = repository.kind(of: commit) else {
            return "it points at \(commit.short()), which is not in the repository (pruned by `git gc`?)"
        }
        guard kind == .commit else { return "it points at a \(kind.rawValue), not a record commit" }
        let bytes: [UInt8]?
        do {
            bytes = try repository.fileContents(atPath: LiveFolder.recordFile, inCommit: commit)
        } catch {
            return "its commit \(commit.short()) cannot be read: \(error.reason)"
        }
        guard let bytes else { return "its commit \(commit.short()) has no run.json" }
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) else {
            return "its run.json is not JSON"
        }
        guard let fields = object as? [String: Any] else { return "its run.json is not a JSON object" }
        if let format = fields["format"] as? Int, format != 1 {
            return "its run.json has format \(format); this exp reads format 1 (update exp)"
        }
        do {
            _ = try RunJSON.decoder().decode(RunRecord.self, from: Data(bytes))
            return "its run.json cannot be read"
        } catch let DecodingError.keyNotFound(key, _) {
            return "its run.json has no \"\(key.stringValue)\""
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context)
        {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return "its run.json has a bad \"\(path)\": \(context.debugDescription)"
        } catch {
            return "its run.json cannot be read: \(error)"
        }
    }

    /// Every broken run or autosave ref, by ref name (from the index, brought up to date).
    public func brokenRecords() throws -> [BrokenRecord] {
        try withIndex { db in try RunIndex.brokenRecords(db) }
    }

    /// The broken record `text` names: its full ref name, or the name after `refs/exp/runs/`
    /// (`refs/exp/autosave/`) or after `refs/exp/`; nil when none does.
    public func brokenRecord(named text: String) throws -> BrokenRecord? {
        let records = try brokenRecords()
        return records.first { $0.reference == text }
            ?? records.first { $0.shortName == text || $0.reference == "refs/exp/" + text }
    }

    /// Deletes a broken record's ref (only if it still points where it did). Its objects stay
    /// until `git gc`.
    public func remove(_ broken: BrokenRecord) throws {
        guard let name = ReferenceName(broken.reference) else {
            throw ExpError(.corrupt, "cannot remove \(broken.reference): not a valid ref name")
        }
        do {
            try repository.deleteReference(name, expecting: broken.target)
        } catch let error where error.isModifiedConcurrently || error.isNotFound {
            throw ExpError(
                .conflict, "\(broken.reference) was changed by another process; nothing removed",
                hint: "look at the records again", reason: .changedConcurrently(run: nil))
        } catch {
            throw ExpError(error)
        }
    }
}
