public import ExpGit
import Foundation
import GRDB

/// The index a `RunStore` opened, kept for the life of the store.
final class RunIndexCache: @unchecked Sendable {
    var index: RunIndex?
}

extension RunStore {
    /// Runs through the index (brought up to date with the refs first). A damaged index
    /// found while querying is rebuilt and the query asked again.
    func withIndex<T>(_ body: (Database) throws -> T) throws -> T {
        let index: RunIndex
        if let cached = indexCache.index {
            index = cached
        } else {
            index = try RunIndex(store: self)
            indexCache.index = index
        }
        try index.synchronize(with: self)
        do {
            return try index.database.read(body)
        } catch let error as DatabaseError where !RunIndex.isDamage(error) {
            // The question was wrong (a filter SQLite refuses), not the file: no rebuild.
            throw ExpError(.io, "could not query the run index: \(error.message ?? "\(error)")")
        } catch is DatabaseError {
            do {
                try index.rebuildFromScratch()
                try index.synchronize(with: self)
                return try index.database.read(body)
            } catch {
                throw ExpError(
                    .corrupt,
                    "could not read the run index \(index.path): \((error as? DatabaseError)?.message ?? "\(error)")",
                    hint: "rebuild it from the refs", reason: .indexDamaged)
            }
        }
    }

    /// The run a record holds, fresher from the live folder (under `liveRoot`) while it runs.
    static func storedRun(json: Data, oid: String, liveRoot: String) -> StoredRun? {
        let decoder = RunJSON.decoder()
        guard let commit = ObjectID(hex: oid), let record = try? decoder.decode(RunRecord.self, from: json) else {
            return nil
        }
        if record.status == .running,
            let data = FileManager.default.contents(atPath: liveRoot + "/" + record.id.rawValue + "/run.json"),
            let live = try? decoder.decode(RunRecord.self, from: data)
        {
            return StoredRun(record: live, commit: commit, isLive: true)
        }
        return StoredRun(record: record, commit: commit, isLive: false)
    }

    /// The runs whose row numbers `sql` selects (`SELECT runs.run FROM runs …`), in its
    /// order. Records are read only for those rows, after sorting and limiting.
    func fetchRuns(_ db: Database, _ sql: String, _ arguments: StatementArguments = []) throws -> [StoredRun] {
        let numbers = try Int64.fetchAll(db, sql: sql, arguments: arguments)
        var position: [Int64: Int] = [:]
        for (index, number) in numbers.enumerated() { position[number] = index }
        var ordered = [(json: Data, oid: String)?](repeating: nil, count: numbers.count)
        // SQLite takes at most 32,766 parameters per statement.
        for start in stride(from: 0, to: numbers.count, by: 10_000) {
            let batch = numbers[start..<min(numbers.count, start + 10_000)]
            let placeholders = Array(repeating: "?", count: batch.count).joined(separator: ",")
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT runs.run, runs.ref, runs.oid, records.json AS record
                    FROM runs JOIN records USING (run) WHERE runs.run IN (\(placeholders))
                    """, arguments: StatementArguments(Array(batch)))
            for row in rows {
                if let index = position[row["run"]] { ordered[index] = (row["record"], row["oid"]) }
            }
        }
        // Decoding is most of the cost of a long list: spread it over the cores.
        let liveRoot = workspace.stateDirectory + "/runs"
        return parallelMap(ordered, perWorker: 256) { input in
            input.flatMap { Self.storedRun(json: $0.json, oid: $0.oid, liveRoot: liveRoot) }
        }.compactMap { $0 }
    }

    /// The runs a query selects, in its order.
    public func runs(_ query: RunQuery) throws -> [StoredRun] {
        let now = workspace.context.now()
        return try withIndex { db in
            let compiler = RunQueryCompiler(db: db, now: now)
            let (condition, arguments) = try whereClause(query, compiler)
            let order = try compiler.orderBy(query.sort)
            var sql = "SELECT runs.run FROM runs WHERE \(condition) ORDER BY \(order.sql)"
            var all = arguments + order.arguments
            if let limit = query.limit {
                sql += " LIMIT ? OFFSET ?"
                all += [limit, query.offset]
            }
            return try fetchRuns(db, sql, StatementArguments(all))
        }
    }

    /// How many failed runs a query leaves out because it hides failed runs (0 when it does
    /// not).
    public func hiddenFailedCount(_ query: RunQuery) throws -> Int {
        guard query.hidesFailed else { return 0 }
        var shown = query
        shown.includeFailed = true
        let now = workspace.context.now()
        return try withIndex { db in
            let (condition, arguments) = try whereClause(shown, RunQueryCompiler(db: db, now: now))
            return try Int.fetchOne(
                db, sql: "SELECT count(*) FROM runs WHERE \(condition) AND runs.status = 'failed'",
                arguments: StatementArguments(arguments)) ?? 0
        }
    }

    private func whereClause(_ query: RunQuery, _ compiler: RunQueryCompiler) throws -> (
        String, [(any DatabaseValueConvertible)?]
    ) {
        var conditions: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if query.onlyAutosaves {
            conditions.append("runs.autosave = 1")
        } else if !query.includeAutosaves {
            conditions.append("runs.autosave = 0")
        }
        if query.hidesFailed { conditions.append("runs.status != 'failed'") }
        if let filter = query.filter {
            let compiled = try compiler.condition(filter)
            conditions.append(compiled.sql)
            arguments += compiled.arguments
        }
        return (conditions.isEmpty ? "1" : conditions.joined(separator: " AND "), arguments)
    }

    /// What each key names (`--columns`, `--sort`): a field, a param or a metric of some run.
    public func resolveKeys(_ texts: [String], option: String) throws -> [RunKey] {
        let now = workspace.context.now()
        return try withIndex { db in
            let compiler = RunQueryCompiler(db: db, now: now)
            return try texts.map { text in
                do { return try compiler.resolve(text) } catch let error as RunKeyError {
                    throw ExpError(.notFound, "\(option): \(error.message)", hint: error.hint)
                }
            }
        }
    }

    /// All runs (no autosaves), newest first (by start time, then id).
    public func allRuns() throws -> [StoredRun] {
        try runs(RunQuery(includeFailed: true))
    }

    /// Every autosave (`refs/exp/autosave/<id>`: the state saved before a forced `exp
    /// checkout`), newest first.
    public func allAutosaves() throws -> [StoredRun] {
        var query = RunQuery()
        query.onlyAutosaves = true
        return try runs(query)
    }

    /// The names of all runs.
    public func runNames() throws -> Set<String> {
        try withIndex { db in Set(try String.fetchAll(db, sql: "SELECT name FROM runs WHERE autosave = 0")) }
    }

    /// The runs whose snapshot tree is `tree` (the code they ran is exactly that tree),
    /// newest first.
    public func runs(withSnapshotTree tree: ObjectID) throws -> [StoredRun] {
        try withIndex { db in
            try fetchRuns(
                db, "SELECT run FROM runs WHERE tree = ? AND autosave = 0 ORDER BY started DESC, id DESC", [tree.hex])
        }
    }

    /// For every sealed run: the commits that hold or led to its code (its base commit, then
    /// the commits the hooks linked), from the index alone (no record is read).
    public func sealedRunCommits() throws -> [(id: RunID, commits: [ObjectID])] {
        try withIndex { db in
            try Row.fetchAll(
                db, sql: "SELECT id, base, committed FROM runs WHERE autosave = 0 AND status != 'running'"
            ).compactMap { row in
                guard let id = RunID(row["id"]) else { return nil }
                let base: String? = row["base"]
                let committed: String = row["committed"] ?? ""
                let commits = ([base].compactMap { $0 } + committed.split(separator: " ").map(String.init))
                    .compactMap { ObjectID(hex: $0) }
                return (id, commits)
            }
        }
    }

    /// The runs with these ids (no autosaves), newest first.
    public func runs(ids: [RunID]) throws -> [StoredRun] {
        guard !ids.isEmpty else { return [] }
        return try withIndex { db in
            var found: [StoredRun] = []
            // SQLite takes at most 32,766 parameters per statement.
            for start in stride(from: 0, to: ids.count, by: 10_000) {
                let batch = ids[start..<min(ids.count, start + 10_000)]
                let marks = Array(repeating: "?", count: batch.count).joined(separator: ",")
                found += try fetchRuns(
                    db, "SELECT run FROM runs WHERE autosave = 0 AND id IN (\(marks)) ORDER BY started DESC, id DESC",
                    StatementArguments(batch.map(\.rawValue)))
            }
            return found
        }
    }

    /// Rebuilds the index from the refs (`exp reindex`); returns how many runs it holds.
    @discardableResult
    public func reindex() throws -> Int {
        let index = try indexCache.index ?? RunIndex(store: self)
        indexCache.index = index
        try index.rebuildFromScratch()
        return try withIndex { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") ?? 0 }
    }

    /// Where the index is, and whether this command had to use a throw-away one.
    public func indexLocation() throws -> (path: String, inMemory: Bool) {
        _ = try withIndex { _ in 0 }
        return (indexCache.index?.path ?? "", indexCache.index?.inMemory ?? false)
    }

    // MARK: Refs and records, for the index

    /// Every run (and, when asked, autosave) ref with its record commit, from loose and
    /// packed refs.
    func runReferences(includeAutosaves: Bool) throws -> [(name: String, commit: ObjectID)] {
        try translatingGitErrors {
            var references = try repository.references(matching: Self.refPrefix + "*")
            if includeAutosaves { references += try repository.references(matching: Self.autosavePrefix + "*") }
            return references.map { ($0.name, $0.target) }
        }
    }

    /// The bytes of `run.json` in a record commit.
    func recordBytes(at commit: ObjectID) throws -> [UInt8] {
        guard
            let bytes = try translatingGitErrors({
                try repository.fileContents(atPath: LiveFolder.recordFile, inCommit: commit)
            })
        else { throw ExpError(.corrupt, "record commit \(commit.short()) has no run.json") }
        return bytes
    }
}
