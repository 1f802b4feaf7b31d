import ArgumentParser
import ExpCore
import Foundation

/// `exp list`: the runs, newest first, filtered and sorted through the index.
struct ListCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List runs: newest first, or filtered and sorted by params and metrics.",
        discussion: """
            Shows name, short id, status, start, duration, the base commit (with * when the \
            tree was dirty), the params that differ between the listed runs, the last value \
            of each metric, and the command. On a terminal, long values are cut to fit and \
            params equal in every listed run are folded into one line above the table; in a \
            pipe nothing is cut. Failed runs and autosaves are left out unless --all (or a \
            --where on status) asks for them.

            KEYS name a field (name, id, status, started, ended, duration, host, user, \
            branch, base, snapshot, tree, dirty, command, message, note, exit), a param \
            (lr, model.depth), or a metric: its last value (val_loss) or val_loss.min, \
            .max, .count, .step. A param wins over a metric of the same name; write \
            params.KEY or metrics.KEY to choose.

            --where EXPR: comparisons KEY OP VALUE joined by and, or, not and parentheses. \
            OP is =, !=, <, <=, >, >=, ~ (glob match) or !~. VALUE is a number, a word or a \
            quoted string; durations are 90s, 5m, 2h; commits (base, snapshot, tree) match \
            by prefix. A run without the key never matches.

            Times (started, ended) read as words: started within 7d (in the last 7 days), \
            started before 2026-11-01, started after 12h (less than 12 hours ago). A time \
            is a date (2026-11-01, 2026-11-01T14:30) or an age (7d, 12h, 30m: that long \
            ago). The older form compares the moment: started > 7d is started within 7d, \
            started < 7d is started before 7d.

              exp list --where "lr < 0.01 and status = succeeded and val_loss.min < 0.3"
              exp list --where "name ~ 'sweep-*' and started within 7d" --sort val_loss --limit 10
              exp list --columns name,lr,val_loss.min --csv

            --sort KEY sorts smallest first, -KEY largest first; several keys break ties in \
            order. Runs without the key always sort last.
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Option(name: .customLong("where"), help: ArgumentHelp("Only runs for which EXPR holds.", valueName: "EXPR"))
    var filter: String?

    @Option(
        parsing: .unconditionalSingleValue,
        help: ArgumentHelp("Sort by KEY (-KEY: largest first); repeat or separate with commas.", valueName: "[-]KEY"))
    var sort: [String] = []

    @Option(help: ArgumentHelp("The columns to show, in order, separated by commas.", valueName: "KEYS"))
    var columns: String?

    @Option(help: "Show at most N runs.")
    var limit: Int?

    @Option(help: ArgumentHelp("Add a sparkline of metric KEY's series as a column.", valueName: "KEY"))
    var spark: String?

    @Flag(help: "Include failed runs and autosaves.")
    var all = false

    @Flag(help: "List the autosaves (states saved by `exp checkout --force`) instead of runs.")
    var autosaves = false

    @Flag(help: "Print comma-separated values with a header line (raw values, nothing cut).")
    var csv = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more") }
        if csv && output.json { throw ValidationError("--csv and --json cannot be used together") }
        if spark != nil && (csv || output.json) {
            throw ValidationError("--spark draws in the table; for the values use `exp metrics RUN KEY --csv`")
        }
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        var query = RunQuery(limit: limit, includeFailed: all, includeAutosaves: all)
        query.onlyAutosaves = autosaves
        if let filter {
            do {
                query.filter = try RunFilter(parsing: filter)
            } catch {
                throw error.expError(in: filter, option: "--where")
            }
        }
        query.sort = try sort.flatMap { $0.split(separator: ",") }.map { try SortKey(parsing: String($0)) }
        let runs: [StoredRun]
        do {
            runs = try store.runs(query)
        } catch let error as RunFilterError {
            throw error.expError(in: filter ?? "", option: "--where")
        }
        let hidden = try store.hiddenFailedCount(query)
        // Refs that hold no readable run: listed with --all (not under --where or --autosaves).
        let broken = autosaves || query.filter != nil ? [] : try store.brokenRecords()
        let showBroken = all && !broken.isEmpty
        defer {
            if hidden > 0 && !output.json && !csv {
                terminal.note(
                    terminal.paintNote(
                        "exp: \(hidden) failed run\(hidden == 1 ? "" : "s") not shown; --all shows them", "2"))
            }
            if !broken.isEmpty && !all && !output.json && !csv {
                terminal.note(
                    terminal.paintNote(
                        "exp: \(broken.count) broken record\(broken.count == 1 ? "" : "s") not shown; "
                            + "`exp list --all` shows them, `exp fsck` says how to fix them", "2"))
            }
        }
        if output.json {
            if showBroken {
                try terminal.printJSON(
                    runs.map { ListJSONEntry.run(RunJSONView($0)) } + broken.map { ListJSONEntry.broken($0) })
            } else {
                try terminal.printJSON(runs.map(RunJSONView.init))
            }
            return
        }
        let picked = try columns.map { text in
            try store.resolveKeys(
                text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, option: "--columns")
        }
        let now = context.now()
        if csv {
            let table = RunTable(runs: runs, columns: picked, now: now)
            terminal.write(table.csv())
            return
        }
        let brokenLines = showBroken ? broken.map { "broken  \($0.reference)  \($0.reason)" } : []
        guard !runs.isEmpty else {
            terminal.print(lines: brokenLines)
            if !brokenLines.isEmpty {
                return
            } else if autosaves {
                terminal.note("no autosaves; `exp checkout --force` makes one before changing your files")
            } else if query.filter != nil {
                terminal.note("no run matches --where \(filter ?? "")")
            } else if hidden == 0 {
                terminal.note("no runs yet; record one with `exp run -- COMMAND`")
            }
            return
        }
        var table = RunTable(runs: runs, columns: picked, now: now)
        if let spark {
            let series = try store.workspace.metricSeries(SeriesRequest(runs: runs, keys: [spark], buckets: 8))
            var cells: [RunID: String] = [:]
            for found in series { cells[found.run.record.id] = Sparkline.text(found.points) }
            table.spark = (Format.visible(spark) + " trend", cells)
        }
        terminal.print(lines: table.render(width: Format.terminalWidth(environment: context.environment)) + brokenLines)
    }
}

/// An entry of `exp list --all --json`: a run, or a broken record
/// (`{"status": "broken", "ref": …, "target": …, "reason": …}`).
enum ListJSONEntry: Encodable {
    case run(RunJSONView)
    case broken(BrokenRecord)

    private enum Keys: String, CodingKey { case status, ref, target, reason }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .run(let view): try view.encode(to: encoder)
        case .broken(let record):
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode("broken", forKey: .status)
            try container.encode(record.reference, forKey: .ref)
            try container.encode(record.target.hex, forKey: .target)
            try container.encode(record.reason, forKey: .reason)
        }
    }
}

/// The `exp list` table.
struct RunTable {
    let runs: [StoredRun]
    /// The columns asked for; nil for the default set.
    let picked: [RunKey]?
    let now: Date
    /// A column of sparklines (`--spark KEY`): its header and each run's line, placed before
    /// the last column and never dropped to fit.
    var spark: (header: String, cells: [RunID: String])?

    init(runs: [StoredRun], columns: [RunKey]?, now: Date) {
        self.runs = runs
        self.picked = columns
        self.now = now
    }

    /// Param keys whose values are not the same across all runs (all of them for one run).
    var differingParams: [String] {
        let keys = Set(runs.flatMap { $0.record.params.keys })
        if runs.count == 1 { return keys.sorted() }
        return keys.sorted().filter { key in
            Set(runs.map { $0.record.params[key].map(Format.param) ?? "" }).count > 1
        }
    }

    /// Params every listed run has with the same value (`epochs=20 optimizer=adam`).
    var commonParams: [(String, ParamValue)] {
        guard runs.count > 1, let first = runs.first else { return [] }
        return first.record.params.keys.sorted().compactMap { key in
            let value = first.record.params[key]!
            return runs.allSatisfy({ $0.record.params[key] == value }) ? (key, value) : nil
        }
    }

    var metricKeys: [String] { Set(runs.flatMap { $0.record.metrics.keys }).sorted() }

    /// The default columns: fields, user and host when the runs come from several (runs
    /// pulled from others), differing params, metrics' last values, the command.
    var defaultColumns: [RunKey] {
        var columns: [RunKey] = [
            .field(.name), .field(.id), .field(.status), .field(.started), .field(.duration), .field(.base),
        ]
        if Set(runs.map(\.record.user)).count > 1 { columns.append(.field(.user)) }
        if Set(runs.map(\.record.host)).count > 1 { columns.append(.field(.host)) }
        columns += differingParams.map(RunKey.param)
        columns += metricKeys.map { RunKey.metric($0, .last) }
        return columns + [.field(.command)]
    }

    static func header(_ key: RunKey) -> String {
        if case .field(let field) = key { return field.rawValue.uppercased() }
        return Format.visible(key.description)
    }

    /// A cell as read in a terminal, control characters escaped.
    func cell(_ key: RunKey, _ run: StoredRun) -> String {
        Format.visible(rawText(key, run))
    }

    /// A cell's text as the record has it.
    private func rawText(_ key: RunKey, _ run: StoredRun) -> String {
        let record = run.record
        switch key {
        case .field(.id): return record.id.short
        case .field(.status): return Format.status(record)
        case .field(.base):
            return (record.base.commit?.short() ?? "(none)") + (record.snapshot.clean ? "" : "*")
        case .field(.snapshot): return record.snapshot.commit.short()
        case .field(.tree): return record.snapshot.tree.short()
        case .field(.duration):
            return Format.duration(
                record.durationSeconds
                    ?? (record.status == .running ? now.timeIntervalSince(record.startedAt) : nil))
        default:
            guard let value = key.value(in: record) else { return "-" }
            switch value {
            case .text(let text): return text
            case .number(let number): return Format.number(number)
            case .param(let param): return Format.param(param)
            case .date(let date): return Format.date(date)
            case .seconds(let seconds): return Format.duration(seconds)
            }
        }
    }

    /// A cell for CSV: raw values (full ids, ISO 8601 times, seconds, full precision).
    func rawCell(_ key: RunKey, _ run: StoredRun) -> String {
        guard let value = key.value(in: run.record) else { return "" }
        switch value {
        case .text(let text): return text
        case .number(let number): return Format.raw(number)
        case .param(let param):
            if case .double(let number) = param { return Format.raw(number) }
            return param.description
        case .date(let date): return RunJSON.formatDate(date)
        case .seconds(let seconds): return Format.raw(seconds)
        }
    }

    /// The table as CSV (RFC 4180 quoting), header first.
    func csv() -> String {
        let keys = picked ?? allColumns
        var text = keys.map { CSV.field($0.description) }.joined(separator: ",") + "\n"
        for run in runs { text += keys.map { CSV.field(rawCell($0, run)) }.joined(separator: ",") + "\n" }
        return text
    }

    /// For CSV without --columns: every field a reader needs, every param, every metric.
    var allColumns: [RunKey] {
        let params = Set(runs.flatMap { $0.record.params.keys }).sorted()
        let fields: [RunField] = [.id, .name, .status, .started, .duration, .host, .user, .branch, .base, .dirty]
        return fields.map(RunKey.field) + params.map(RunKey.param) + metricKeys.map { RunKey.metric($0, .last) }
            + [.field(.command)]
    }

    /// Longest a cell may be on a terminal before it is cut (the last column fills the rest).
    static let maxCellWidth = 28

    func render(width: Int?) -> [String] {
        var keys = picked ?? defaultColumns
        var lines: [String] = []
        if picked == nil, width != nil {
            let common = commonParams
            if !common.isEmpty {
                lines.append(
                    "params of all: "
                        + common.map { Format.visible("\($0.0)=\(Format.param($0.1))") }.joined(separator: " "))
            }
        }
        var header = keys.map(Self.header)
        var rows: [[String]] = runs.map { run in keys.map { cell($0, run) } }
        if let width {
            // Long values are cut; then columns are dropped until the table fits: the base
            // commit, start, id and duration first, then params and metrics from the right.
            // The name, the status and the last column stay.
            rows = rows.map { row in
                row.enumerated().map {
                    $0.offset == row.count - 1 ? $0.element : Format.fit($0.element, Self.maxCellWidth)
                }
            }
            let reserved = spark == nil ? 0 : 10 + 2
            while keys.count > 2 && widthOf(header, rows) > width - 10 - reserved,
                let drop = Self.columnToDrop(keys)
            {
                keys.remove(at: drop)
                header.remove(at: drop)
                rows = rows.map { row in
                    var row = row
                    row.remove(at: drop)
                    return row
                }
            }
        }
        if let spark {
            let at = max(0, header.count - 1)
            header.insert(spark.header, at: at)
            rows = zip(runs, rows).map { run, row in
                var row = row
                row.insert(spark.cells[run.record.id] ?? "-", at: at)
                return row
            }
        }
        let widths = header.indices.map { column in
            max(header[column].count, rows.map { $0[column].count }.max() ?? 0)
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (column, cell) in cells.enumerated() {
                if column == cells.count - 1 {
                    text += cell
                } else {
                    text += cell.padding(toLength: widths[column], withPad: " ", startingAt: 0) + "  "
                }
            }
            if let width { return Format.fit(text, width) }
            return text
        }
        return lines + [line(header)] + rows.map(line)
    }

    /// Which column goes first when the table is too wide; nil when only those that stay are left.
    static func columnToDrop(_ keys: [RunKey]) -> Int? {
        let last = keys.count - 1
        for field in [RunField.base, .started, .id, .duration] {
            if let index = keys.firstIndex(of: .field(field)), index != last { return index }
        }
        return keys.indices.last { index in
            index != last && keys[index] != .field(.name) && keys[index] != .field(.status)
        }
    }

    /// Width of every column but the last, with the gaps.
    private func widthOf(_ header: [String], _ rows: [[String]]) -> Int {
        (0..<(header.count - 1)).map { column in
            max(header[column].count, rows.map { $0[column].count }.max() ?? 0) + 2
        }.reduce(0, +)
    }
}
