import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What the last `exp checkout` of a worktree checked out, and the way back it printed; kept
/// in `<git common dir>/exp/checkouts/<worktree key>.json` (local, never pushed).
struct LastCheckout: Codable, Equatable {
    /// The worktree root.
    var worktree: String
    /// Id of the run or autosave checked out.
    var target: String
    /// Id of the run or autosave printed as the way back.
    var wayBack: String?
    /// When that way back was printed.
    var printedAt: Date?
    /// Files that checkout left as they were (left out of snapshots, standing where the target
    /// has a file): the next checkout treats them as left out too, even once git tracks them.
    var kept: [String]?
}

extension Workspace {
    private var checkoutsFolder: String { stateDirectory + "/checkouts" }

    /// This worktree's record file: named by a hash of its git folder, so linked worktrees
    /// keep their own.
    private var lastCheckoutPath: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in repository.gitDirectory.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return checkoutsFolder + "/" + String(hash, radix: 16) + ".json"
    }

    /// The last checkout of this worktree, when one was recorded (and is readable).
    func lastCheckout() -> LastCheckout? {
        guard let data = FileManager.default.contents(atPath: lastCheckoutPath) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(LastCheckout.self, from: data)
    }

    /// Replaces this worktree's record of its last checkout (temp file, then rename).
    func recordLastCheckout(_ checkout: LastCheckout) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        try FileManager.default.createDirectory(atPath: checkoutsFolder, withIntermediateDirectories: true)
        try FileReplacement.write(
            try encoder.encode(checkout) + Data("\n".utf8), to: lastCheckoutPath, what: "the last checkout's record")
    }

    /// The last checkout of every worktree.
    private func allLastCheckouts() -> [LastCheckout] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkoutsFolder)) ?? []
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return names.filter { $0.hasSuffix(".json") }.compactMap { name in
            FileManager.default.contents(atPath: checkoutsFolder + "/" + name).flatMap {
                try? decoder.decode(LastCheckout.self, from: $0)
            }
        }
    }
}

/// What `exp gc --autosaves` removed (or, with `--dry-run`, would remove).
public struct AutosavePruning: Sendable {
    public var dryRun: Bool
    /// Autosaves older than this many seconds are removed.
    public var olderThan: TimeInterval
    /// The autosaves removed, with their out-of-git copies.
    public var removed: [StoredRun]
    /// Autosaves older than the limit that a checkout printed as its way back more recently
    /// than that: kept until that checkout is older than the limit.
    public var keptAsWayBack: [StoredRun]
    /// Autosaves kept.
    public var kept: Int
    /// Folders of out-of-git copies whose autosave no longer exists (after `exp rm`), removed.
    public var orphanCopies: Int
}

extension Workspace {
    /// How old an autosave must be for `exp gc --autosaves` to remove it, unless told: 30 days.
    public static let defaultAutosaveAge: TimeInterval = 30 * 86_400

    /// Removes the autosaves older than `limit` (by when they were made) and their copies
    /// outside git. The way back the last checkout of a worktree printed counts from when it was
    /// printed. Copies left by autosaves removed otherwise go too.
    public func pruneAutosaves(olderThan limit: TimeInterval, dryRun: Bool) throws -> AutosavePruning {
        let store = try RunStore.forReadingWorkspace(self)
        let files = AutosaveFiles(workspace: self)
        let now = context.now()
        var printed: [String: Date] = [:]
        for checkout in allLastCheckouts() {
            if let wayBack = checkout.wayBack, let at = checkout.printedAt {
                printed[wayBack] = max(printed[wayBack] ?? at, at)
            }
        }
        var result = AutosavePruning(
            dryRun: dryRun, olderThan: limit, removed: [], keptAsWayBack: [], kept: 0, orphanCopies: 0)
        let saves = try store.allAutosaves()
        for save in saves {
            let made = save.record.startedAt
            guard now.timeIntervalSince(made) > limit else {
                result.kept += 1
                continue
            }
            if let at = printed[save.record.id.rawValue], now.timeIntervalSince(at) <= limit {
                result.keptAsWayBack.append(save)
                result.kept += 1
                continue
            }
            if !dryRun {
                try store.remove(save)
                try files.remove(save.record.id)
            }
            result.removed.append(save)
        }
        // Copies whose autosave is gone; a folder younger than a day may belong to a checkout
        // still making its autosave.
        // Every ref under refs/exp/autosave/ counts, a broken one too (of a newer exp, say):
        // its copies may be the only ones of a user's file.
        var existing = Set(saves.map(\.record.id.rawValue))
        guard let refs = try? repository.references(matching: RunStore.autosavePrefix + "*") else { return result }
        for ref in refs { existing.insert(String(ref.name.dropFirst(RunStore.autosavePrefix.count))) }
        let dayAgo = now.addingTimeInterval(-86_400).timeIntervalSince1970
        for name in (try? FileManager.default.contentsOfDirectory(atPath: files.folder)) ?? [] {
            guard !existing.contains(name), RunID(name) != nil || name.hasPrefix(".tmp-") else { continue }
            var info = stat()
            let path = files.folder + "/" + name
            guard lstat(path, &info) == 0, Double(info.st_mtim.tv_sec) < dayAgo else { continue }
            if !dryRun { try? FileManager.default.removeItem(atPath: path) }
            result.orphanCopies += 1
        }
        return result
    }
}
