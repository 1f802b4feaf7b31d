public import ExpGit
import Foundation

/// Which runs get a tag on the commit that holds their code (`exp.autotag`).
public enum AutoTagPolicy: Equatable, Sendable {
    /// Every run made with the commit's exact code (the default).
    case all
    /// No tags.
    case none
    /// Only the best of those runs by a metric (`min:loss`, `max:val_acc`).
    case best(BestRunCriterion)

    /// Parses a value of `exp.autotag`.
    public init(parsing text: String) throws {
        let value = text.trimmingCharacters(in: .whitespaces)
        switch value.lowercased() {
        case "all", "true", "yes", "on", "1", "": self = .all
        case "none", "false", "no", "off", "0": self = .none
        default:
            guard let criterion = BestRunCriterion(parsing: value), criterion.filter == nil else {
                throw ExpError(
                    .config, "bad value for exp.autotag: \(text)",
                    hint: "use all, none, min:KEY or max:KEY (git config exp.autotag min:val_loss)")
            }
            self = .best(criterion)
        }
    }
}

/// A tag exp made or moved on one of the user's commits.
public struct RunTag: Equatable, Sendable {
    /// Short name, `exp/brave-otter`.
    public var name: String
    public var commit: ObjectID
    public var runName: String
    public var runID: RunID
}

/// What a hook did, for the user to read on stderr.
public struct HookReport: Sendable {
    public var tagged: [RunTag] = []
    public var moved: [RunTag] = []
    public var removed: [RunTag] = []
    /// Lines worth telling the user (runs not pushed, …).
    public var notes: [String] = []
    public init() {}
}

extension Workspace {
    /// `exp.autotag`, and whether it is set at all.
    func autoTagPolicy() throws -> (policy: AutoTagPolicy, isSet: Bool) {
        guard let text = try translatingGitErrors({ try config.string("exp.autotag") }) else { return (.all, false) }
        return (try AutoTagPolicy(parsing: text), true)
    }

    /// post-commit: tags the runs made with exactly the code of `commit` (its tree equals
    /// their snapshot tree), as `exp.autotag` says, and records the commit in their
    /// `links.committed`.
    public func tagRuns(committedAt commit: ObjectID) throws -> HookReport {
        let policy = try autoTagPolicy().policy
        if policy == .none { return HookReport() }
        let store = RunStore(workspace: self)
        let tree = try translatingGitErrors { try repository.tree(ofCommit: commit) }
        var candidates = try store.runs(withSnapshotTree: tree).filter(Self.isTaggable)
        // `git commit --amend`: the post-rewrite hook that follows moves the tags of the amended
        // commit; tagging those runs again here would give them a second tag.
        if let move = repository.lastHeadMove(), move.new == commit, move.message.hasPrefix("commit (amend)") {
            candidates.removeAll { $0.record.links.committed.contains(move.old) }
        }
        let chosen: [StoredRun]
        switch policy {
        case .all: chosen = candidates
        case .none: chosen = []
        case .best(let criterion): chosen = criterion.best(of: candidates).map { [$0] } ?? []
        }
        return try applyTags(at: commit, chosen: chosen, candidates: candidates, exclusive: policy != .all)
    }

    /// After a run is sealed: a run whose code is HEAD's tree (a clean tree, whose snapshot is
    /// HEAD itself, or code committed while it ran) is tagged at HEAD right away, since no
    /// commit will come for it, when the hooks are installed or `exp.autotag` is set. Never
    /// fails the run: returns what it did, nil when nothing applied or it could not.
    @discardableResult
    public func tagSealedRun(_ run: StoredRun) -> HookReport? {
        do {
            let (policy, isSet) = try autoTagPolicy()
            guard policy != .none, isSet || hooksInstalled(), Self.isTaggable(run),
                let head = try translatingGitErrors({ try repository.headCommit() }),
                try translatingGitErrors({ try repository.tree(ofCommit: head) }) == run.record.snapshot.tree
            else { return nil }
            guard case .best(let criterion) = policy else {
                return try applyTags(at: head, chosen: [run], candidates: [run], exclusive: false)
            }
            let store = RunStore(workspace: self)
            let candidates = try store.runs(withSnapshotTree: run.record.snapshot.tree).filter(Self.isTaggable)
            guard let best = criterion.best(of: candidates), best.record.id == run.record.id else { return nil }
            return try applyTags(at: head, chosen: [best], candidates: candidates, exclusive: true)
        } catch {
            return nil
        }
    }

    /// Sealed runs only: a live run's record belongs to its own exp process until it ends.
    static func isTaggable(_ run: StoredRun) -> Bool {
        !run.isLive && run.record.status != .running && run.record.status != .autosave
    }

    /// Tags each of `chosen` at `commit` (unless it already links it) and records the link;
    /// with `exclusive`, exp's tags at `commit` of other `candidates` (a best run beaten since)
    /// are removed with their links.
    func applyTags(at commit: ObjectID, chosen: [StoredRun], candidates: [StoredRun], exclusive: Bool) throws
        -> HookReport
    {
        var report = HookReport()
        let store = RunStore(workspace: self)
        let tagger = try committer()
        for run in chosen where !run.record.links.committed.contains(commit) {
            let name = try createRunTag(for: run, at: commit, tagger: tagger)
            report.tagged.append(RunTag(name: name, commit: commit, runName: run.record.name, runID: run.record.id))
            try store.updateRecord(of: run, reason: "exp: link \(run.record.name) to commit \(commit.short())") {
                $0.links.committed.append(commit)
            }
        }
        guard exclusive else { return report }
        let keep = Set(chosen.map(\.record.id))
        let losers = Dictionary(
            candidates.filter { !keep.contains($0.record.id) }.map { ($0.record.id, $0) },
            uniquingKeysWith: { a, _ in a })
        guard !losers.isEmpty else { return report }
        for tag in try expTags() where tag.tag.target == commit {
            guard let loser = losers[tag.runID] else { continue }
            try translatingGitErrors {
                try repository.deleteReference(ReferenceName(tag.tag.reference)!, expecting: tag.tag.tag)
            }
            report.removed.append(
                RunTag(name: tag.shortName, commit: commit, runName: loser.record.name, runID: loser.record.id))
            try store.updateRecord(of: loser, reason: "exp: unlink \(loser.record.name) from \(commit.short())") {
                $0.links.committed.removeAll { $0 == commit }
            }
        }
        return report
    }

    /// Creates `exp/<run-name>` at `commit`, or `exp/<run-name>-2`, `-3`… when taken; never
    /// moves an existing tag. Returns the short tag name.
    func createRunTag(for run: StoredRun, at commit: ObjectID, tagger: Signature) throws -> String {
        let message = Self.tagMessage(for: run.record)
        for attempt in 1...1000 {
            let name = "exp/" + run.record.name + (attempt == 1 ? "" : "-\(attempt)")
            do {
                try repository.createTag(named: name, at: commit, tagger: tagger, message: message)
                return name
            } catch let error where error.isExists {
                continue
            } catch {
                throw ExpError(error)
            }
        }
        throw ExpError(
            .conflict, "could not tag run \(run.record.name): exp/\(run.record.name) and 999 numbered names are taken",
            hint: "remove old tags with `git tag -d`")
    }

    /// The message of a run's tag: what ran and what it gave; the `Exp-Run-Id:` line at the end
    /// is how exp recognises its own tags.
    static func tagMessage(for record: RunRecord) -> String {
        var lines = ["exp run \(record.name): \(record.status.rawValue)", ""]
        lines.append("command: \(record.commandLine)")
        if !record.params.isEmpty {
            lines.append(
                "params: "
                    + record.params.keys.sorted().map { "\($0)=\(record.params[$0].map(MetricText.param) ?? "")" }
                    .joined(separator: " "))
        }
        if !record.metrics.isEmpty {
            lines.append("metrics:")
            for key in record.metrics.keys.sorted() {
                guard let summary = record.metrics[key] else { continue }
                lines.append(
                    "  \(key) \(MetricText.number(summary.last)) (min \(MetricText.number(summary.min)), "
                        + "max \(MetricText.number(summary.max)), \(summary.count) values)")
            }
        }
        if let message = record.message { lines += ["", message] }
        lines += ["", "\(expRunIDToken): \(record.id.rawValue)"]
        return lines.joined(separator: "\n") + "\n"
    }

    static let expRunIDToken = "Exp-Run-Id"

    /// An exp tag and the run it names.
    struct ExpTag {
        var tag: AnnotatedTag
        var runID: RunID
        var shortName: String { String(tag.reference.dropFirst("refs/tags/".count)) }
    }

    /// exp's own tags: annotated tags under `refs/tags/exp/` whose message ends with an
    /// `Exp-Run-Id:` line (tags the user made there by hand are not exp's).
    func expTags() throws -> [ExpTag] {
        try translatingGitErrors { try repository.annotatedTags(matching: "refs/tags/exp/*") }.compactMap { tag in
            let prefix = Self.expRunIDToken + ": "
            guard
                let line = tag.message.split(separator: "\n").last(where: { $0.hasPrefix(prefix) }),
                let id = RunID(String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces))
            else { return nil }
            return ExpTag(tag: tag, runID: id)
        }
    }

    /// post-rewrite: moves exp's tags from rewritten commits to their new versions (amend,
    /// rebase) and updates the runs' links. `rewrites` are git's `<old> <new>` lines. When the
    /// new commit's code differs from the run's, the tag message says so.
    public func moveTags(rewrittenBy rewrites: String, operation: String) throws -> HookReport {
        var mapping: [ObjectID: ObjectID] = [:]
        for line in rewrites.split(separator: "\n") {
            let words = line.split(separator: " ")
            guard words.count >= 2, let old = ObjectID(hex: String(words[0])), let new = ObjectID(hex: String(words[1]))
            else { continue }
            mapping[old] = new
        }
        var report = HookReport()
        guard !mapping.isEmpty else { return report }
        let tags = try expTags()
        let store = RunStore(workspace: self)
        let tagger = try committer()
        var runsByID: [RunID: StoredRun] = [:]
        func run(_ id: RunID) throws -> StoredRun? {
            if let known = runsByID[id] { return known }
            guard let commit = try translatingGitErrors({ try repository.resolve(store.referenceName(id)) }) else {
                return nil
            }
            let found = StoredRun(record: try store.record(at: commit), commit: commit, isLive: false)
            runsByID[id] = found
            return found
        }
        for tag in tags {
            guard let new = mapping[tag.tag.target], let reference = ReferenceName(tag.tag.reference) else { continue }
            let old = tag.tag.target
            // The post-commit hook of an amend may already have tagged the run at the new commit.
            for duplicate in tags where duplicate.runID == tag.runID && duplicate.tag.target == new {
                try translatingGitErrors {
                    try repository.deleteReference(
                        ReferenceName(duplicate.tag.reference)!, expecting: duplicate.tag.tag)
                }
            }
            var message = tag.tag.message
            if let stored = try run(tag.runID) {
                message = Self.tagMessage(for: stored.record)
                let newTree = try translatingGitErrors { try repository.tree(ofCommit: new) }
                if newTree != stored.record.snapshot.tree {
                    message = message.replacingOccurrences(
                        of: "\n\n\(Self.expRunIDToken):",
                        with:
                            "\n\nmoved from \(old.short()) by \(operation); this commit's code differs from the run's "
                            + "(its snapshot is \(stored.record.snapshot.commit.short()))\n\n\(Self.expRunIDToken):")
                }
            }
            let object = try translatingGitErrors {
                try repository.writeTagObject(named: tag.shortName, at: new, tagger: tagger, message: message)
            }
            try translatingGitErrors {
                try repository.updateReference(
                    reference, to: object, expecting: tag.tag.tag, message: "exp: \(operation) moved \(tag.shortName)")
            }
            if let stored = try run(tag.runID) {
                let updated = try store.updateRecord(of: stored, reason: "exp: \(operation) moved \(tag.shortName)") {
                    var links: [ObjectID] = []
                    for commit in $0.links.committed.map({ $0 == old ? new : $0 }) where !links.contains(commit) {
                        links.append(commit)
                    }
                    if !links.contains(new) { links.append(new) }
                    $0.links.committed = links
                }
                if let updated { runsByID[tag.runID] = updated }
            }
            report.moved.append(
                RunTag(
                    name: tag.shortName, commit: new, runName: (try? run(tag.runID))??.record.name ?? tag.shortName,
                    runID: tag.runID))
        }
        return report
    }
}

/// Numbers and params as people read them: in `exp list`, tag messages and trailers.
public enum MetricText {
    /// 4 significant digits (`0.1235`, `1234`, `1.2e-05`, `NaN`), as `exp list` shows them.
    public static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "inf" : "-inf" }
        if value == value.rounded() && abs(value) < 1e9 { return String(Int64(value)) }
        let magnitude = abs(value)
        if magnitude >= 1e-3 && magnitude < 1e6 {
            var text = String(format: "%.4g", value)
            if text.contains("e") { text = String(format: "%.4f", value) }
            return text
        }
        return String(format: "%.3g", value)
    }

    /// A param as typed: `32`, `0.01`, `true`, `adam`.
    public static func param(_ value: ParamValue) -> String {
        switch value {
        case .int(let number): String(number)
        case .double(let value): Self.number(value)
        case .bool(let flag): flag ? "true" : "false"
        case .string(let text): text
        }
    }
}
