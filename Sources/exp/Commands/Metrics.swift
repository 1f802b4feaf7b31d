import ArgumentParser
import ExpCore
import Foundation

/// `exp metrics RUN [RUN…] [KEY…]`: runs' metric series, as a table that reads.
struct MetricsCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print runs' metric series: a row per step, a column per key (or per run).",
        discussion: """
            The table has the step first, then a column per key (sorted); a key with no value \
            at a step shows blank, and points logged without a step follow in a short section \
            of their own. Several runs are compared side by side: one table per key, a column \
            per run.

            Arguments: the first is a run. Those after it are runs while they name one (a \
            name, an id or prefix, latest, latest~N, min:KEY, max:KEY) and are not a metric \
            key of a run already named; from the first that is not a run, they are metric \
            keys. --key (-k) names a key in any case (for a key that is also a run's name).

            --csv prints one row per point (key,step,time,value,source; with several runs a \
            run column first); --json an array of points as in the record's metrics.jsonl \
            (with several runs, an array of {run, id, points}). While a run goes, its latest \
            metrics are shown (from its metrics file, output, Lightning CSV and TensorBoard \
            files, updated once a second); --follow prints the table as the run logs (the \
            header once, a row as each step completes; CSV rows or JSON lines with --csv or \
            --json) until the run ends.

              exp metrics latest
              exp metrics latest loss acc
              exp metrics alpha beta --key val_loss
              exp metrics latest --follow
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Argument(help: "The run.")
    var run: String

    @Argument(help: ArgumentHelp("More runs to compare, then metric keys (default: all).", valueName: "RUN-OR-KEY"))
    var names: [String] = []

    @Option(name: [.customShort("k"), .customLong("key")], help: "A metric key to print (repeatable).")
    var keyOptions: [String] = []

    @Flag(help: "Print CSV: key,step,time,value,source, numbers at full precision.")
    var csv = false

    @Flag(help: "Print the table as the run logs (a row per completed step) until the run ends.")
    var follow = false

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        var runs = [try store.resolve(try RunRef(parsing: run), includeAutosaves: true)]
        var pointsOfRun = follow ? [] : [try store.metricPoints(of: runs[0])]
        var knownKeys = Set(pointsOfRun.first?.map(\.key) ?? [])
        var keys: [String] = []
        for name in names {
            if keys.isEmpty, !knownKeys.contains(name), let reference = try? RunRef(parsing: name),
                let found = try? store.resolve(reference, includeAutosaves: true)
            {
                guard !runs.contains(where: { $0.record.id == found.record.id }) else { continue }
                runs.append(found)
                if !follow {
                    let points = try store.metricPoints(of: found)
                    pointsOfRun.append(points)
                    knownKeys.formUnion(points.map(\.key))
                }
            } else if !keys.contains(name) {
                keys.append(name)
            }
        }
        for key in keyOptions where !keys.contains(key) { keys.append(key) }

        if follow {
            guard runs.count == 1 else {
                throw ExpError(
                    "--follow follows one run, not \(runs.count)",
                    hint: "follow one: exp metrics \(runs[0].record.name) --follow")
            }
            try followTable(runs[0], keys: keys, store: store, terminal: terminal)
            return
        }
        if !keys.isEmpty {
            let missing = keys.filter { !knownKeys.contains($0) }
            if !missing.isEmpty {
                let whose =
                    runs.count == 1
                    ? "run \(runs[0].record.name) has"
                    : "runs " + runs.map(\.record.name).joined(separator: ", ") + " have"
                throw ExpError(
                    "\(whose) no metric \(missing.joined(separator: ", "))",
                    hint: knownKeys.isEmpty
                        ? "\(runs.count == 1 ? "it has" : "they have") no metrics"
                        : "\(runs.count == 1 ? "it has" : "they have"): " + knownKeys.sorted().joined(separator: ", "))
            }
            let wanted = Set(keys)
            pointsOfRun = pointsOfRun.map { $0.filter { wanted.contains($0.key) } }
        }
        if runs.count == 1 {
            let points = pointsOfRun[0]
            if output.json {
                try terminal.printJSON(points)
            } else if csv {
                terminal.print("key,step,time,value,source")
                write(points, to: terminal)
            } else {
                terminal.print(lines: MetricTableText.lines(points, keys: keys))
            }
            return
        }
        if output.json {
            try terminal.printJSON(
                zip(runs, pointsOfRun).map { RunPoints(run: $0.record.name, id: $0.record.id.rawValue, points: $1) })
        } else if csv {
            terminal.print("run,key,step,time,value,source")
            for (run, points) in zip(runs, pointsOfRun) { write(points, to: terminal, run: run.record.name) }
        } else {
            terminal.print(lines: MetricTableText.lines(runs: runs.map(\.record.name), points: pointsOfRun, keys: keys))
        }
    }

    /// One run's points, for `--json` with several runs.
    struct RunPoints: Encodable {
        var run: String
        var id: String
        var points: [MetricPoint]
    }

    /// `--follow`: points as they arrive, as CSV rows, JSON lines, or table rows.
    private func followTable(_ run: StoredRun, keys: [String], store: RunStore, terminal: Terminal) throws {
        if output.json || csv {
            if csv { terminal.print("key,step,time,value,source") }
            let wanted = Set(keys)
            try store.followMetrics(
                of: run, onGone: { try store.workspace.recoverLostRuns() },
                write: { points in
                    write(points.lazy.filter { wanted.isEmpty || wanted.contains($0.key) }, to: terminal)
                })
            return
        }
        var feed = MetricRowFeed(keys: keys)
        var table = MetricTableText.Live()
        try store.followMetrics(
            of: run, onGone: { try store.workspace.recoverLostRuns() },
            write: { points in
                let rows = feed.add(points)
                terminal.print(lines: table.lines(rows, keys: feed.keys))
            })
        var lines = table.lines(feed.finish(), keys: feed.keys)
        lines += MetricTableText.withoutStep(
            feed.withoutStep.map { [Format.visible($0.key), Format.number($0.value)] }, header: ["key", "value"],
            afterTable: table.printed || !lines.isEmpty)
        terminal.print(lines: lines)
    }

    /// Writes points a line each, a megabyte at a time (a run may hold millions).
    private func write(_ points: some Sequence<MetricPoint>, to terminal: Terminal, run: String? = nil) {
        var text = ""
        let prefix = run.map { CSV.field($0) + "," } ?? ""
        func flush() {
            if output.json && !csv { terminal.write(jsonLines: text) } else { terminal.write(text) }
            text = ""
        }
        for point in points {
            text += prefix
            text += line(point)
            text += "\n"
            if text.utf8.count >= 1 << 20 { flush() }
        }
        if !text.isEmpty { flush() }
    }

    /// One point as a line: a CSV row, or a JSON object (`--json`).
    private func line(_ point: MetricPoint) -> String {
        if csv {
            let step = point.step.map(Format.raw) ?? ""
            let time = point.time.map(Format.raw) ?? ""
            return "\(CSV.field(point.key)),\(step),\(time),\(Format.raw(point.value)),\(point.source.rawValue)"
        }
        if let data = try? RunJSON.encoder(pretty: false).encode(point) {
            return String(decoding: data, as: UTF8.self)
        }
        return ""
    }
}

/// Metric tables as text: the step first, a column per series, columns two spaces apart;
/// keys and run names escaped (`Format.visible`) before they are measured.
enum MetricTableText {
    /// One run's table: a column per key, then its step-less points.
    static func lines(_ points: [MetricPoint], keys: [String]) -> [String] {
        let (shown, columns) = MetricTable.columns(of: points, keys: keys)
        let table = MetricTable(columns: columns)
        // A column per key logged at some step; keys logged only without one are below.
        let stepped = table.steppedColumns
        var lines = self.table(table, header: shown.map(Format.visible), columns: stepped)
        lines += withoutStep(
            table.withoutStep.map { [Format.visible(shown[$0.column]), Format.number($0.value)] },
            header: ["key", "value"], afterTable: !lines.isEmpty)
        return lines
    }

    /// Several runs side by side: a table per key (titled when there are several), a column
    /// per run (blank where a run lacks the key), then the step-less points of all.
    static func lines(runs: [String], points: [[MetricPoint]], keys: [String]) -> [String] {
        let shownKeys = keys.isEmpty ? Array(Set(points.joined().map(\.key))).sorted() : keys.sorted()
        let header = runs.map(Format.visible)
        var lines: [String] = []
        var unstepped: [[String]] = []
        for key in shownKeys {
            let table = MetricTable(columns: points.map { $0.filter { $0.key == key } })
            unstepped += table.withoutStep.map { [header[$0.column], Format.visible(key), Format.number($0.value)] }
            guard !table.rows.isEmpty else { continue }
            if !lines.isEmpty { lines.append("") }
            if shownKeys.count > 1 { lines.append(Format.visible(key)) }
            lines += self.table(table, header: header)
        }
        lines += withoutStep(unstepped, header: ["run", "key", "value"], afterTable: !lines.isEmpty)
        return lines
    }

    /// The rows of `table` under `header` (after `step`); no lines when it has no rows.
    static func table(_ table: MetricTable, header: [String], columns: [Int]? = nil) -> [String] {
        guard !table.rows.isEmpty else { return [] }
        let columns = columns ?? Array(header.indices)
        let cells = table.rows.map { row in
            [Format.number(row.step)] + columns.map { row.values[$0].map(Format.number) ?? "" }
        }
        return aligned([["step"] + columns.map { header[$0] }] + cells)
    }

    /// The section of points without a step: a heading and their rows.
    static func withoutStep(_ rows: [[String]], header: [String], afterTable: Bool) -> [String] {
        guard !rows.isEmpty else { return [] }
        return (afterTable ? [""] : []) + ["without a step:"] + aligned([header] + rows)
    }

    /// Rows as lines, each column as wide as its widest cell, no trailing spaces.
    static func aligned(_ rows: [[String]]) -> [String] {
        let count = rows.map(\.count).max() ?? 0
        let widths = (0..<count).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { line($0, widths: widths) }
    }

    static func line(_ cells: [String], widths: [Int]) -> String {
        var text = ""
        for (column, cell) in cells.enumerated() {
            if column > 0 { text += "  " }
            text += cell
            if column < widths.count, cell.count < widths[column] {
                text += String(repeating: " ", count: widths[column] - cell.count)
            }
        }
        while text.last == " " { text.removeLast() }
        return text
    }

    /// A table printed as rows come (`--follow`): the header when the first rows come (and
    /// again when new keys appear), columns at least 10 wide (a wider value pushes its row's
    /// later cells right, never the rows above).
    struct Live {
        private var header: [String] = []
        private var widths: [Int] = []
        private(set) var printed = false

        mutating func lines(_ rows: [MetricTable.Row], keys: [String]) -> [String] {
            guard !rows.isEmpty else { return [] }
            var lines: [String] = []
            let shown = ["step"] + keys.map(Format.visible)
            if shown != header {
                if printed { lines.append("") }
                header = shown
                widths = shown.map { max(10, $0.count) }
                lines.append(MetricTableText.line(header, widths: widths))
            }
            for row in rows {
                let cells = [Format.number(row.step)] + row.values.map { $0.map(Format.number) ?? "" }
                lines.append(MetricTableText.line(cells, widths: widths))
            }
            printed = true
            return lines
        }
    }
}
