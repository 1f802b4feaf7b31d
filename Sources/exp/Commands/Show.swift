import ArgumentParser
import ExpCore
import Foundation

/// `exp show RUN`: everything in a run's record.
struct ShowCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show a run: command, status, code, params, metrics, machine.",
        discussion: """
            RUN is a name, an id or a unique id prefix, latest, latest~N, min:KEY or max:KEY \
            (the best run by a metric, e.g. min:val_loss or min:val_loss@lr<0.01), or \
            tree:OID (the run that ran exactly that tree).
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Argument(help: "The run to show.")
    var run: String

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        let stored = try store.resolve(try RunRef(parsing: run), includeAutosaves: true)
        if output.json {
            try terminal.printJSON(RunJSONView(stored))
            return
        }
        let series = try store.workspace.metricSeries(SeriesRequest(runs: [stored], keys: [], buckets: 8))
        let sparklines = Dictionary(series.map { ($0.key, Sparkline.text($0.points)) }) { first, _ in first }
        for line in RunDescription.lines(stored, sparklines: sparklines) { terminal.print(line) }
    }
}

/// The human-readable form of a run record.
enum RunDescription {
    /// The lines of `run`'s description; `sparklines` (by metric key) follow each metric's
    /// numbers.
    static func lines(_ run: StoredRun, sparklines: [String: String] = [:]) -> [String] {
        let record = run.record
        var lines: [String] = []
        func field(_ name: String, _ value: String) {
            lines.append(name.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + value)
        }
        /// Free text of several lines (a message, a note): each line escaped on its own line,
        /// under the first.
        func text(_ name: String, _ value: String) {
            for (index, line) in value.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                field(index == 0 ? name : "", Format.visible(String(line)))
            }
        }
        field("run", "\(record.name) \(record.id.rawValue)")
        field("status", Format.status(record) + (record.error.map { ": \($0)" } ?? ""))
        field("command", record.commandLine)
        if record.cwd != "." { field("in", record.cwd) }
        if let message = record.message { text("message", message) }
        if let note = record.note { text("note", note) }
        field("started", Format.date(record.startedAt) + " on \(record.host) by \(record.user)")
        field("duration", Format.duration(record.durationSeconds))
        let base =
            record.base.commit.map { $0.short() + (record.base.branch.map { " (\($0))" } ?? "") } ?? "(no commit)"
        field("base", base)
        field(
            "code",
            "snapshot \(record.snapshot.commit.short())"
                + (record.snapshot.clean ? " (= base)" : " · " + Format.counts(record.snapshot.counts)))
        for file in record.snapshot.skipped {
            lines.append("           skipped \(file.path) (\(file.reason.rawValue))")
        }
        field("record", run.commit.hex + (run.isLive ? " (live)" : ""))
        if let reproduces = record.reproduces { field("reproduces", reproduces.rawValue) }
        for commit in record.links.committed { field("committed", commit.hex) }
        if !record.params.isEmpty {
            lines.append("params")
            for key in record.params.keys.sorted() {
                lines.append("  " + Format.visible(key) + " = " + Format.param(record.params[key]!))
            }
        }
        if !record.metrics.isEmpty {
            lines.append(
                "metrics" + "".padding(toLength: 20, withPad: " ", startingAt: 0)
                    + "last        min         max         count")
            for key in record.metrics.keys.sorted() {
                let summary = record.metrics[key]!
                let cells = [summary.last, summary.min, summary.max].map {
                    Format.number($0).padding(toLength: 11, withPad: " ", startingAt: 0)
                }
                lines.append(
                    "  " + Format.visible(key).padding(toLength: 25, withPad: " ", startingAt: 0)
                        + cells.joined(separator: " ")
                        + " \(summary.count)"
                        + (sparklines[key].map {
                            "".padding(toLength: max(1, 8 - "\(summary.count)".count), withPad: " ", startingAt: 0) + $0
                        } ?? ""))
            }
        }
        if let artifacts = record.artifacts {
            field("artifacts", Format.artifacts(artifacts) + " (exp artifacts \(record.name))")
            if let best = artifacts.best { field("best", "\(best.path) (\(best.metric) \(Format.number(best.value)))") }
        }
        if record.skippedMetricLines > 0 {
            field("skipped", "\(record.skippedMetricLines) malformed metric lines")
        }
        if let machine = record.environment {
            var text = "\(machine.os), \(machine.cpus) CPUs, \(ByteCountText.format(machine.memoryBytes)) memory"
            if let python = machine.python { text += ", Python \(python)" }
            field("machine", text)
            for gpu in machine.gpus { field("gpu", gpu.name + (gpu.memoryMiB.map { " \($0) MiB" } ?? "")) }
        }
        for (name, value) in record.variables.sorted(by: { $0.key < $1.key }) { field("env", "\(name)=\(value)") }
        return lines
    }
}
