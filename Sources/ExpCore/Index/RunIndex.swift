import ExpGit
import Foundation
import GRDB
import GRDBSQLite

#if canImport(Glibc)
    import Glibc
#endif

/// The query index over all runs: `<git common dir>/exp/index.sqlite`.
///
/// It is a cache and the refs are the truth. Before every query it compares
/// `refs/exp/runs/*` and `refs/exp/autosave/*` (name → record commit) with what it holds and
/// ingests only what changed, so runs fetched from a remote, written by another process or
/// deleted with `git update-ref -d` are seen as they are. When the ref folders and
/// `packed-refs` have not changed since the last look (same stat data, older than the racy
/// window), even reading the refs is skipped.
///
/// A missing, corrupt, truncated or foreign index is rebuilt on the spot; an index locked by
/// a hung process is replaced by an in-memory one for this command. None of that is ever an
/// error the user has to fix.
final class RunIndex {
    /// The index file of a repository.
    static func path(stateDirectory: String) -> String { stateDirectory + "/index.sqlite" }

    let path: String
    private(set) var database: any DatabaseWriter
    /// Whether this command uses a throw-away in-memory index (the file could not be used).
    private(set) var inMemory = false
    private let sources: RefSources

    /// Where the refs live, to tell cheaply whether any changed.
    struct RefSources {
        var commonDirectory: String
        var stamps: [String] {
            [
                commonDirectory + "/refs/exp/runs", commonDirectory + "/refs/exp/autosave",
                commonDirectory + "/packed-refs",
            ]
        }
    }

    /// Opens (or creates, or rebuilds) the index of the repository behind `store`.
    init(store: RunStore) throws {
        let directory = store.workspace.stateDirectory
        path = Self.path(stateDirectory: directory)
        sources = RefSources(commonDirectory: store.workspace.repository.commonDirectory)
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let opened = try? Self.open(path) {
            database = opened
        } else {
            Self.removeFiles(path)
            if let opened = try? Self.open(path) {
                database = opened
            } else {
                database = try Self.openInMemory()
                inMemory = true
            }
        }
    }

    // MARK: Opening

    static let busyTimeout: TimeInterval = 5

    private static func configuration() -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "exp.index"
        configuration.prepareDatabase { db in
            // The index is a cache: durability beyond the OS is not worth an fsync per run.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // Keep the -wal and -shm files between processes: every exp command would
            // otherwise delete them on exit and create them again on start.
            var persist: Int32 = 1
            _ = sqlite3_file_control(db.sqliteConnection, nil, SQLITE_FCNTL_PERSIST_WAL, &persist)
        }
        return configuration
    }

    private static func open(_ path: String) throws -> any DatabaseWriter {
        let pool = try DatabasePool(path: path, configuration: configuration())
        try migrate(pool)
        return pool
    }

    private static func openInMemory() throws -> any DatabaseWriter {
        let queue = try DatabaseQueue(configuration: configuration())
        try migrate(queue)
        return queue
    }

    /// Creates the tables, or brings an older schema up to date. An index written by a newer
    /// exp (unknown migrations) or by anything else fails here, and is rebuilt by the caller.
    private static func migrate(_ writer: any DatabaseWriter) throws {
        let migrator = Self.migrator
        try writer.read { db in
            if try migrator.hasBeenSuperseded(db) { throw IndexUnusable() }
            // A file that is not an index of ours (or was truncated) fails on this read.
            _ = try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master")
        }
        try migrator.migrate(writer)
        // One row, not a count: this runs at every start, and damage found later by a query
        // rebuilds the index too (`RunStore.withIndex`).
        try writer.read { db in _ = try Int.fetchOne(db, sql: "SELECT 1 FROM runs LIMIT 1") }
    }

    struct IndexUnusable: Error {}

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE runs (
                        run INTEGER PRIMARY KEY,
                        ref TEXT NOT NULL UNIQUE,
                        oid TEXT NOT NULL,
                        id TEXT NOT NULL,
                        name TEXT NOT NULL,
                        status TEXT NOT NULL,
                        autosave INTEGER NOT NULL,
                        started REAL NOT NULL,
                        ended REAL,
                        duration REAL,
                        exit_code INTEGER,
                        host TEXT NOT NULL,
                        user TEXT NOT NULL,
                        base TEXT,
                        branch TEXT,
                        snapshot TEXT NOT NULL,
                        tree TEXT NOT NULL,
                        dirty INTEGER NOT NULL,
                        command TEXT NOT NULL,
                        message TEXT,
                        note TEXT,
                        reproduces TEXT,
                        committed TEXT
                    );
                    CREATE INDEX runs_started ON runs(started, id);
                    CREATE INDEX runs_tree ON runs(tree);
                    CREATE INDEX runs_name ON runs(name);
                    CREATE INDEX runs_id ON runs(id);
                    CREATE INDEX runs_status ON runs(status, autosave);
                    CREATE TABLE records (
                        run INTEGER PRIMARY KEY REFERENCES runs(run) ON DELETE CASCADE,
                        json BLOB NOT NULL
                    );
                    CREATE TABLE params (
                        run INTEGER NOT NULL REFERENCES runs(run) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        num REAL,
                        text TEXT NOT NULL,
                        PRIMARY KEY (run, key)
                    ) WITHOUT ROWID;
                    CREATE INDEX params_key ON params(key);
                    CREATE TABLE metrics (
                        run INTEGER NOT NULL REFERENCES runs(run) ON DELETE CASCADE,
                        key TEXT NOT NULL,
                        last REAL,
                        min REAL,
                        max REAL,
                        count INTEGER NOT NULL,
                        step REAL,
                        PRIMARY KEY (run, key)
                    ) WITHOUT ROWID;
                    CREATE INDEX metrics_key ON metrics(key);
                    CREATE TABLE state (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                    """)
        }
        migrator.registerMigration("v2: broken records") { db in
            // Refs that hold no readable run, so that they are read once, not at every command.
            try db.execute(
                sql: """
                    CREATE TABLE broken (ref TEXT PRIMARY KEY NOT NULL, oid TEXT NOT NULL, reason TEXT NOT NULL);
                    DELETE FROM runs;  -- read every ref again: some rows may be broken records
                    DELETE FROM state WHERE key = 'refs';
                    """)
        }
        migrator.registerMigration("v3: sweep") { db in
            // The sweep a run belongs to; every ref is read again to fill it.
            try db.execute(
                sql: """
                    ALTER TABLE runs ADD COLUMN sweep TEXT;
                    DELETE FROM runs;
                    DELETE FROM state WHERE key = 'refs';
                    """)
        }
        return migrator
    }

    /// The broken records the index holds, by ref name.
    static func brokenRecords(_ db: Database) throws -> [BrokenRecord] {
        try Row.fetchAll(db, sql: "SELECT ref, oid, reason FROM broken ORDER BY ref").compactMap { row in
            guard let target = ObjectID(hex: row["oid"]) else { return nil }
            return BrokenRecord(reference: row["ref"], target: target, reason: row["reason"])
        }
    }

    private static func removeFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    /// Throws the index away and starts again from an empty one (`exp reindex`, or after an
    /// error that says the file is damaged).
    func rebuildFromScratch() throws {
        if inMemory {
            database = try Self.openInMemory()
            return
        }
        // Other processes may hold the old file open; they keep their inode, we take a new one.
        let temporary = path + ".new-\(getpid())"
        Self.removeFiles(temporary)
        do {
            let fresh = try Self.open(temporary)
            try fresh.close()
            Self.removeFiles(path)
            guard rename(temporary, path) == 0 else { throw IndexUnusable() }
            database = try Self.open(path)
        } catch {
            Self.removeFiles(temporary)
            database = try Self.openInMemory()
            inMemory = true
        }
    }

    // MARK: Bringing it up to date

    /// How many records were read from git by the last `synchronize`.
    private(set) var ingestedCount = 0

    /// Brings the index up to date with the refs. Damage found on the way rebuilds it.
    func synchronize(with store: RunStore) throws {
        do {
            try synchronizeOnce(with: store)
        } catch let error as DatabaseError where Self.isBusy(error) {
            // Held by a hung writer: answer this command from memory, leave the file alone.
            database = try Self.openInMemory()
            inMemory = true
            try synchronizeOnce(with: store)
        } catch is DatabaseError {
            try rebuildFromScratch()
            try synchronizeOnce(with: store)
        }
    }

    /// Whether an error says the index file itself is damaged, unreadable or of another
    /// shape (then it is rebuilt), rather than that a statement was refused.
    static func isDamage(_ error: DatabaseError) -> Bool {
        switch error.resultCode.primaryResultCode {
        case .SQLITE_CORRUPT, .SQLITE_NOTADB, .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_FORMAT, .SQLITE_SCHEMA:
            return true
        case .SQLITE_ERROR:
            let message = error.message ?? ""
            return message.hasPrefix("no such table") || message.hasPrefix("no such column")
        default:
            return false
        }
    }

    private static func isBusy(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    private func synchronizeOnce(with store: RunStore) throws {
        ingestedCount = 0
        let stamp = refStamp()
        let known = try database.read { db in try String.fetchOne(db, sql: "SELECT value FROM state WHERE key = 'refs'")
        }
        if let stamp, known == stamp { return }

        let references = try store.runReferences(includeAutosaves: true)
        let indexed = try database.read { db in
            try Row.fetchAll(db, sql: "SELECT ref, oid FROM runs UNION ALL SELECT ref, oid FROM broken")
                .reduce(into: [String: String]()) { $0[$1["ref"]] = $1["oid"] }
        }
        var wanted: [String: ObjectID] = [:]
        for reference in references { wanted[reference.name] = reference.commit }
        let removed = indexed.keys.filter { wanted[$0] == nil }
        let changed = wanted.filter { indexed[$0.key] != $0.value.hex }
        // Read the records from git outside the write lock; decode them on all cores.
        let pending = changed.map { $0 }
        let blobs = pending.map { try? store.recordBytes(at: $0.value) }
        let decoded = parallelMap(blobs, perWorker: 64) { bytes in
            bytes.flatMap { try? RunJSON.decoder().decode(RunRecord.self, from: Data($0)) }
        }
        var rows: [IndexedRun] = []
        var broken: [BrokenRecord] = []
        rows.reserveCapacity(pending.count)
        for (index, (reference, commit)) in pending.enumerated() {
            guard let record = decoded[index], let bytes = blobs[index] else {
                broken.append(
                    BrokenRecord(reference: reference, target: commit, reason: store.brokenReason(commit: commit)))
                continue
            }
            if let reason = store.mismatch(reference: reference, record: record) {
                broken.append(BrokenRecord(reference: reference, target: commit, reason: reason))
                continue
            }
            rows.append(IndexedRun(reference: reference, commit: commit, record: record, json: bytes))
        }
        ingestedCount = rows.count
        try database.writeWithoutTransaction { db in
            try db.inTransaction(.immediate) {
                for reference in removed + broken.map(\.reference) {
                    try db.execute(sql: "DELETE FROM runs WHERE ref = ?", arguments: [reference])
                }
                for reference in removed + rows.map(\.reference) {
                    try db.execute(sql: "DELETE FROM broken WHERE ref = ?", arguments: [reference])
                }
                for row in rows { try row.insert(db) }
                for record in broken {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO broken (ref, oid, reason) VALUES (?, ?, ?)",
                        arguments: [record.reference, record.target.hex, record.reason])
                }
                if let stamp {
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO state(key, value) VALUES ('refs', ?)", arguments: [stamp])
                } else {
                    try db.execute(sql: "DELETE FROM state WHERE key = 'refs'")
                }
                return .commit
            }
        }
    }

    /// Stat data of the ref folders and `packed-refs`: equal stamps mean no run ref changed.
    /// nil when one of them changed too recently to trust its timestamp (a change in the same
    /// clock tick would not show), so the refs are read next time. "Too recently" is 2 s where
    /// the file system keeps whole seconds (a zero nanosecond part; FAT keeps even seconds), and
    /// 100 ms where it keeps nanoseconds: the kernel stamps files from a clock that moves every
    /// few milliseconds, so a change made after this look gets a later time.
    private func refStamp() -> String? { Self.refStamp(sources) }

    /// The stamp of the refs of the repository whose common dir is given (see `refStamp()`).
    static func refStamp(commonDirectory: String) -> String? {
        refStamp(RefSources(commonDirectory: commonDirectory))
    }

    private static func refStamp(_ sources: RefSources) -> String? {
        var parts: [String] = []
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        for path in sources.stamps {
            var info = stat()
            guard stat(path, &info) == 0 else {
                parts.append("-")
                continue
            }
            let mtime = info.st_mtim
            let age = Double(now.tv_sec - mtime.tv_sec) + Double(now.tv_nsec - mtime.tv_nsec) * 1e-9
            if age < (mtime.tv_nsec == 0 ? 2 : 0.1) { return nil }
            parts.append("\(info.st_ino):\(info.st_size):\(mtime.tv_sec).\(mtime.tv_nsec)")
        }
        return parts.joined(separator: " ")
    }
}

/// One run as the index stores it.
struct IndexedRun {
    var reference: String
    var commit: ObjectID
    var record: RunRecord
    var json: [UInt8]

    func insert(_ db: Database) throws {
        try db.cachedStatement(sql: "DELETE FROM runs WHERE ref = ?").execute(arguments: [reference])
        let values: [(any DatabaseValueConvertible)?] = [
            reference, commit.hex, record.id.rawValue, record.name, record.status.rawValue,
            record.status == .autosave, record.startedAt.timeIntervalSince1970,
            record.endedAt?.timeIntervalSince1970, record.durationSeconds, record.exitCode.map { Int($0) },
            record.host, record.user, record.base.commit?.hex, record.base.branch, record.snapshot.commit.hex,
            record.snapshot.tree.hex, !record.snapshot.clean, record.commandLine, record.message, record.note,
            record.reproduces?.rawValue, record.links.committed.map(\.hex).joined(separator: " "), record.sweep,
        ]
        try db.cachedStatement(
            sql: """
                INSERT INTO runs (ref, oid, id, name, status, autosave, started, ended, duration, exit_code, host,
                    user, base, branch, snapshot, tree, dirty, command, message, note, reproduces, committed, sweep)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: StatementArguments(values))
        let run = db.lastInsertedRowID
        try db.cachedStatement(sql: "INSERT INTO records (run, json) VALUES (?, ?)").execute(arguments: [
            run, Data(json),
        ])
        let params = try db.cachedStatement(sql: "INSERT INTO params (run, key, num, text) VALUES (?, ?, ?, ?)")
        for (key, value) in record.params {
            try params.execute(arguments: [run, key, value.numericValue, value.description])
        }
        let metrics = try db.cachedStatement(
            sql: "INSERT INTO metrics (run, key, last, min, max, count, step) VALUES (?, ?, ?, ?, ?, ?, ?)")
        for (key, summary) in record.metrics {
            func finite(_ value: Double) -> Double? { value.isNaN ? nil : value }
            try metrics.execute(
                arguments: [
                    run, key, finite(summary.last), finite(summary.min), finite(summary.max), summary.count,
                    summary.lastStep,
                ])
        }
    }
}

extension ParamValue {
    /// The value as a number for comparisons and sorting (`true` is 1), nil for text.
    var numericValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value.isNaN ? nil : value
        case .bool(let value): value ? 1 : 0
        case .string: nil
        }
    }
}
