import ArgumentParser
import ExpCore
import Foundation

/// `exp list`: the runs, newest first.
struct ListCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List runs, newest first.",
        discussion: """
            Shows name, short id, status, start, duration, the base commit (with * when the \
            tree was dirty), the command, the params that differ between the listed runs, and \
            the last value of each metric. Without a terminal, lines are never cut.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Option(help: "Show at most N runs.")
    var limit: Int?

    @Flag(help: "List the autosaves (states saved by `exp checkout --force`) instead of runs.")
    var autosaves = false

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more") }
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try RunStore.forReading(context)
        var runs = try autosaves ? store.allAutosaves() : store.allRuns().filter { $0.record.status != .autosave }
        if let limit { runs = Array(runs.prefix(limit)) }
        if global.json {
            try terminal.printJSON(runs.map(RunJSONView.init))
            return
        }
        guard !runs.isEmpty else {
            if autosaves {
                terminal.note("no autosaves; `exp checkout --force` makes one before changing your files")
                return
            }
            terminal.note("no runs yet; record one with `exp run -- COMMAND`")
            return
        }
        let table = RunTable(runs: runs)
        for line in table.render(width: Format.terminalWidth(environment: context.environment)) {
            terminal.print(line)
        }
    }
}

/// A run as `--json` prints it: the record plus the commit that holds it.
struct RunJSONView: Encodable {
    var run: StoredRun

    init(_ run: StoredRun) { self.run = run }

    func encode(to encoder: any Encoder) throws {
        try run.record.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(run.commit.hex, forKey: .recordCommit)
    }

    enum Keys: String, CodingKey { case recordCommit = "record_commit" }
}

/// The `exp list` table.
struct RunTable {
    let runs: [StoredRun]

    /// Param keys whose values are not the same across all runs.
    var differingParams: [String] {
        let keys = Set(runs.flatMap { $0.record.params.keys })
        return keys.sorted().filter { key in
            Set(runs.map { $0.record.params[key].map(Format.param) ?? "" }).count > 1
        }
    }

    var metricKeys: [String] { Set(runs.flatMap { $0.record.metrics.keys }).sorted() }

    func render(width: Int?) -> [String] {
        let params = differingParams
        let metrics = metricKeys
        // Runs pulled from others: say whose they are when they are not all from one user@host.
        let showOrigin = Set(runs.map { $0.record.user + "@" + $0.record.host }).count > 1
        var header =
            ["NAME", "ID", "STATUS", "STARTED", "DURATION", "BASE"] + (showOrigin ? ["BY"] : []) + params + metrics
            + ["COMMAND"]
        var rows: [[String]] = runs.map { run in
            let record = run.record
            let base = (record.base.commit?.short() ?? "(none)") + (record.snapshot.clean ? "" : "*")
            var row = [
                record.name, record.id.short, Format.status(record), Format.date(record.startedAt),
                Format.duration(
                    record.durationSeconds
                        ?? (record.status == .running ? Date().timeIntervalSince(record.startedAt) : nil)),
                base,
            ]
            if showOrigin { row.append(record.user + "@" + record.host) }
            row += params.map { record.params[$0].map(Format.param) ?? "-" }
            row += metrics.map { record.metrics[$0].map { Format.number($0.last) } ?? "-" }
            row.append(record.commandLine)
            return row
        }
        // Cut the command (last column) to the terminal width; drop metric/param columns
        // from the right when even that does not fit.
        if let width {
            while header.count > 7 && widthOf(header, rows, dropCommand: true) > width - 10 {
                let drop = header.count - 2
                header.remove(at: drop)
                rows = rows.map { row in
                    var row = row
                    row.remove(at: drop)
                    return row
                }
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
        return [line(header)] + rows.map(line)
    }

    private func widthOf(_ header: [String], _ rows: [[String]], dropCommand: Bool) -> Int {
        let columns = dropCommand ? header.count - 1 : header.count
        return (0..<columns).map { column in
            max(header[column].count, rows.map { $0[column].count }.max() ?? 0) + 2
        }.reduce(0, +)
    }
}
