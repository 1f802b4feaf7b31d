import ArgumentParser
import ExpCore
import Foundation

/// `exp metrics RUN [KEY…]`: a run's metric series.
struct MetricsCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Print a run's metric series (all keys, or the ones named).",
        discussion: """
            Text output is a table with one row per step and one column per key. --csv prints \
            one row per point (key,step,time,value,source); --json an array of points as in \
            the record's metrics.jsonl. While a run goes, its latest metrics are shown (from \
            its metrics file, output, Lightning CSV and TensorBoard files, updated once a \
            second); --follow prints each new point as it arrives (one per line; JSON lines \
            with --json) until the run ends.
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Argument(help: "The run.")
    var run: String

    @Argument(help: "Metric keys to print (default: all).")
    var keys: [String] = []

    @Flag(help: "Print CSV: key,step,time,value,source, numbers at full precision.")
    var csv = false

    @Flag(help: "Print new points as they arrive until the run ends (one line per point).")
    var follow = false

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        let stored = try store.resolve(try RunRef(parsing: run), includeAutosaves: true)
        if follow {
            if csv { terminal.print("key,step,time,value,source") }
            let wanted = Set(keys)
            try store.followMetrics(
                of: stored, onGone: { try store.workspace.recoverLostRuns() },
                write: { points in
                    write(points.lazy.filter { wanted.isEmpty || wanted.contains($0.key) }, to: terminal)
                })
            return
        }
        var points = try store.metricPoints(of: stored)
        if !keys.isEmpty {
            let known = Set(points.map(\.key))
            let missing = keys.filter { !known.contains($0) }
            if !missing.isEmpty {
                throw ExpError(
                    "run \(stored.record.name) has no metric \(missing.joined(separator: ", "))",
                    hint: known.isEmpty ? "it has no metrics" : "it has: " + known.sorted().joined(separator: ", "))
            }
            let wanted = Set(keys)
            points = points.filter { wanted.contains($0.key) }
        }
        if output.json {
            try terminal.printJSON(points)
        } else if csv {
            terminal.print("key,step,time,value,source")
            write(points, to: terminal)
        } else {
            for line in MetricTable.lines(points) { terminal.print(line) }
        }
    }

    /// Writes points a line each, a megabyte at a time (a run may hold millions).
    private func write(_ points: some Sequence<MetricPoint>, to terminal: Terminal) {
        var text = ""
        func flush() {
            if output.json && !csv { terminal.write(jsonLines: text) } else { terminal.write(text) }
            text = ""
        }
        for point in points {
            text += line(point)
            text += "\n"
            if text.utf8.count >= 1 << 20 { flush() }
        }
        if !text.isEmpty { flush() }
    }

    /// One point as a line: a CSV row, a JSON object (`--json`), or `step key value (source)`.
    private func line(_ point: MetricPoint) -> String {
        if csv {
            let step = point.step.map(Format.raw) ?? ""
            let time = point.time.map(Format.raw) ?? ""
            return "\(CSV.field(point.key)),\(step),\(time),\(Format.raw(point.value)),\(point.source.rawValue)"
        }
        let step = point.step.map(Format.number) ?? ""
        if output.json, let data = try? RunJSON.encoder(pretty: false).encode(point) {
            return String(decoding: data, as: UTF8.self)
        }
        return "\(step.isEmpty ? "-" : step)  \(point.key)  \(Format.number(point.value))  (\(point.source.rawValue))"
    }
}

/// Points as a table: a row per step, a column per key.
enum MetricTable {
    static func lines(_ points: [MetricPoint]) -> [String] {
        let keys = Array(Set(points.map(\.key))).sorted()
        guard !keys.isEmpty else { return [] }
        let shown = keys.map(Format.visible)
        var rows: [(step: String, values: [String: String])] = []
        var rowOfStep: [String: Int] = [:]
        for point in points {
            let step = point.step.map(Format.number) ?? "-"
            if point.step == nil || rowOfStep[step] == nil {
                rowOfStep[step] = rows.count
                rows.append((step, [:]))
            }
            let row = point.step == nil ? rows.count - 1 : rowOfStep[step]!
            rows[row].values[point.key] = Format.number(point.value)
        }
        let header = ["step"] + shown
        let table = rows.map { row in [row.step] + keys.map { row.values[$0] ?? "" } }
        let widths = header.indices.map { column in max(header[column].count, table.map { $0[column].count }.max() ?? 0)
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                column == cells.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return [line(header)] + table.map(line)
    }
}
