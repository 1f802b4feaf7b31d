import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

extension Workspace {
    /// Most `Exp-Run:` trailers one commit message gets; more runs are summed up in one line.
    static let maxRunTrailers = 5

    /// prepare-commit-msg: adds an `Exp-Run: <name> <short id> <key metric>` trailer for each
    /// run made with exactly the code being committed (the index tree), before the comment
    /// block. Not for merges (`source` is `merge`, or a merge is in progress), not when the
    /// message already has `Exp-Run:` trailers, not with `exp.trailers=false`.
    ///
    /// The key metric is the `exp.autotag` metric when that is `min:KEY`/`max:KEY` (runs are
    /// then listed best first), else the run's first metric by name. Returns how many runs
    /// were named.
    @discardableResult
    public func addRunTrailers(messageFile: String, source: String?) throws -> Int {
        if source == "merge" || FileManager.default.fileExists(atPath: repository.gitDirectory + "/MERGE_HEAD") {
            return 0
        }
        if try translatingGitErrors({ try config.bool("exp.trailers") }) == false { return 0 }
        let path = messageFile.hasPrefix("/") ? messageFile : context.workingDirectory + "/" + messageFile
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ExpError(.io, "could not read the commit message file \(path)")
        }
        let message = String(decoding: data, as: UTF8.self)
        let commentChar = try commentCharacter()
        if CommitTrailers.contains(token: "Exp-Run", in: message, commentChar: commentChar) { return 0 }
        // While git commits (`commit -a`, `commit PATH`) it names the index it builds in GIT_INDEX_FILE.
        let indexFile = context.environment["GIT_INDEX_FILE"].map {
            $0.hasPrefix("/") ? $0 : context.workingDirectory + "/" + $0
        }
        guard let tree = try translatingGitErrors({ try repository.indexTree(file: indexFile) }) else { return 0 }
        var runs = try RunStore(workspace: self).runs(withSnapshotTree: tree).filter {
            $0.record.status != .autosave
        }
        guard !runs.isEmpty else { return 0 }
        let policy = (try? autoTagPolicy().policy) ?? .all
        var keyMetric: String?
        if case .best(let criterion) = policy {
            keyMetric = criterion.key
            runs = Self.rank(runs, by: criterion)
        }
        var trailers = runs.prefix(Self.maxRunTrailers).map { Self.trailer(for: $0.record, keyMetric: keyMetric) }
        if runs.count > Self.maxRunTrailers {
            trailers.append("Exp-Run: … and \(runs.count - Self.maxRunTrailers) more")
        }
        let updated = CommitTrailers.add(trailers, to: message, commentChar: commentChar)
        try FileReplacement.write(Array(updated.utf8), to: path, what: "the commit message file")
        return runs.count
    }

    /// Runs best first by `criterion`; runs without the metric after, newest first.
    static func rank(_ runs: [StoredRun], by criterion: BestRunCriterion) -> [StoredRun] {
        var remaining = runs
        var ranked: [StoredRun] = []
        while let best = criterion.best(of: remaining) {
            ranked.append(best)
            remaining.removeAll { $0.record.id == best.record.id }
        }
        return ranked + remaining
    }

    /// `Exp-Run: brave-otter 01jf3k2abc loss=0.1235`.
    static func trailer(for record: RunRecord, keyMetric: String?) -> String {
        var text = "Exp-Run: \(record.name) \(record.id.short)"
        if record.status == .running { return text + " (running)" }
        let key = keyMetric.flatMap { record.metrics[$0] != nil ? $0 : nil } ?? record.metrics.keys.sorted().first
        if let key, let summary = record.metrics[key] { text += " \(key)=\(MetricText.number(summary.last))" }
        if record.status != .succeeded { text += " (\(record.status.rawValue))" }
        return text
    }

    /// `core.commentChar` (default `#`; `auto` reads as `#`).
    func commentCharacter() throws -> Character {
        let value = try translatingGitErrors { try config.string("core.commentChar", includeFallback: false) }
        guard let value, value.count == 1, let character = value.first else { return "#" }
        return character
    }
}
