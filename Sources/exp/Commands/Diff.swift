import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `exp diff RUN [RUN2]`: code, params and metrics of a run against the working tree or
/// another run.
struct DiffCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare a run with the working tree, or with another run.",
        discussion: """
            With one RUN, shows how the working tree (as `git add -A` would stage it) differs \
            from the run's code. With RUN2, shows the code difference from RUN to RUN2, then \
            the params that differ (key: RUN's value -> RUN2's) and the metrics of both side \
            by side (last, min, max, and the change of last). The code part is exactly what \
            `git diff` prints for the same two trees (renames detected), with control \
            characters other than tabs and line ends escaped (\\033) as in every exp output; \
            --json keeps the patch as it is. --stat and \
            --name-only print what `git diff --stat` and `git diff --name-only` would. \
            Paths after `--` limit the code part, as git's pathspecs do. Nothing in the \
            repository is changed.

            --json prints one object (keys sorted; parts not shown are left out):
              code.files   [{"path", "old_path", "status", "additions", "deletions"}]
                           status: added, deleted, modified, renamed, typechange
              code.patch   the unified patch, as text
              params       {KEY: {"a": VALUE|null, "b": VALUE|null}}, keys that differ
              metrics      {KEY: {"a": SUMMARY|null, "b": SUMMARY|null}}, every key;
                           SUMMARY is {"last", "min", "max", "count", "last_step"}
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Argument(help: "The run whose code is the old side.")
    var run: String

    @Argument(help: "A second run, the new side (default: the working tree).")
    var run2: String?

    @Flag(help: "Show the code part as a diffstat, like `git diff --stat`.")
    var stat = false

    @Flag(help: "Show only the names of changed files, like `git diff --name-only`.")
    var nameOnly = false

    @Flag(help: "Show only the code part.")
    var code = false

    @Flag(help: "Show only the params that differ (needs two runs).")
    var params = false

    @Flag(help: "Show only the metrics side by side (needs two runs).")
    var metrics = false

    @Argument(
        parsing: .postTerminator, help: ArgumentHelp("Limit the code part to these paths.", valueName: "PATHSPEC"))
    var pathspecs: [String] = []

    func validate() throws {
        if stat && nameOnly { throw ValidationError("--stat and --name-only cannot be used together") }
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        var parts = Set<RunDiffPart>()
        if code { parts.insert(.code) }
        if params { parts.insert(.params) }
        if metrics { parts.insert(.metrics) }
        let request = RunDiffRequest(
            run: try RunRef(parsing: run), other: try run2.map { try RunRef(parsing: $0) }, pathspecs: pathspecs,
            parts: parts)
        let diff = try store.diff(request)
        if output.json {
            try terminal.printJSON(RunDiffJSON(diff))
            return
        }
        var sections: [[UInt8]] = []
        if let code = diff.code {
            if stat {
                sections.append(Array(DiffStat.render(code.files, width: Self.columns(context)).utf8))
            } else if nameOnly {
                sections.append(Array(code.files.map { quotedPath($0.path) + "\n" }.joined().utf8))
            } else {
                sections.append(terminal.useColor ? DiffColor.paint(code.patch, marks: terminal.marks) : code.patch)
            }
        }
        if let params = diff.params, let b = diff.b {
            var lines = [
                terminal.paint("params \(Format.visible(diff.a.record.name)) -> \(Format.visible(b.record.name))", "1")
            ]
            if params.isEmpty { lines.append("  (no differences)") }
            for (key, change) in params.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(Format.visible(key)): \(Self.param(change.a)) -> \(Self.param(change.b))")
            }
            sections.append(Array((lines.joined(separator: "\n") + "\n").utf8))
        }
        if let metrics = diff.metrics, let b = diff.b {
            sections.append(
                Array(
                    Self.metricLines(
                        metrics, a: Format.visible(diff.a.record.name), b: Format.visible(b.record.name), terminal
                    ).utf8))
        }
        let output = sections.filter { !$0.isEmpty }.joined(separator: Array("\n".utf8))
        terminal.write(content: Array(output))
    }

    /// The width git uses for `--stat`: `COLUMNS`, else the terminal's, else 80.
    private static func columns(_ context: ExpContext) -> Int {
        Format.terminalColumns(environment: context.environment) ?? 80
    }

    private static func param(_ value: ParamValue?) -> String {
        value.map { Format.visible(Format.param($0)) } ?? "(none)"
    }

    private static func metricLines(
        _ metrics: [String: MetricComparison], a: String, b: String, _ terminal: Terminal
    ) -> String {
        var rows: [[String]] = [["metrics", "last \(a)", "last \(b)", "change", "min", "max"]]
        func number(_ value: Double?) -> String { value.map(Format.number) ?? "-" }
        for (key, metric) in metrics.sorted(by: { $0.key < $1.key }) {
            var change = "-"
            if let delta = metric.change {
                change = (delta > 0 ? "+" : "") + Format.number(delta)
                if let relative = metric.relativeChange {
                    change += " (" + (relative > 0 ? "+" : "") + String(format: "%.1f", relative) + "%)"
                }
            }
            rows.append([
                "  " + Format.visible(key), number(metric.a?.last), number(metric.b?.last), change,
                number(metric.a?.min) + " / " + number(metric.b?.min),
                number(metric.a?.max) + " / " + number(metric.b?.max),
            ])
        }
        if metrics.isEmpty { rows.append(["  (no metrics)"]) }
        var widths: [Int] = []
        for row in rows {
            for (column, cell) in row.enumerated() {
                if column == widths.count { widths.append(0) }
                widths[column] = max(widths[column], cell.count)
            }
        }
        var text = ""
        for (index, row) in rows.enumerated() {
            var line = ""
            for (column, cell) in row.enumerated() {
                let last = column == row.count - 1
                line += last ? cell : cell.padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0)
            }
            text += (index == 0 ? terminal.paint(line, "1") : line) + "\n"
        }
        return text
    }
}

/// Colours a patch as git does on a terminal: headers bold, hunk ranges cyan, added lines
/// green, removed lines red, with the terminal's colour marks. Bytes stay as they are
/// otherwise (the terminal escapes control characters when it writes them).
enum DiffColor {
    static func paint(_ patch: [UInt8], marks: StyleMarks) -> [UInt8] {
        /// The colour ends before a CRLF line end's carriage return, which stays by its newline.
        func wrap(_ bytes: [UInt8], _ code: String) -> [UInt8] {
            let carriageReturn = bytes.last == 0x0D
            return Array(marks.mark(code).utf8) + bytes.dropLast(carriageReturn ? 1 : 0) + Array(marks.mark("0").utf8)
                + (carriageReturn ? [0x0D] : [])
        }
        var output: [UInt8] = []
        var inHeader = false
        let lines = patch.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() {
            let isLast = index == lines.count - 1
            if isLast && line.isEmpty { break }
            let text = Array(line)
            if text.starts(with: Array("diff --git ".utf8)) { inHeader = true }
            if text.starts(with: Array("@@".utf8)) {
                inHeader = false
                let rest = text.dropFirst(2)
                if let close = rest.firstRange(of: Array("@@".utf8)) {
                    output += wrap(Array(text[..<close.upperBound]), "36") + text[close.upperBound...]
                } else {
                    output += wrap(text, "36")
                }
            } else if inHeader {
                output += wrap(text, "1")
            } else if text.first == UInt8(ascii: "+") {
                output += wrap(text, "32")
            } else if text.first == UInt8(ascii: "-") {
                output += wrap(text, "31")
            } else {
                output += text
            }
            if !isLast { output.append(UInt8(ascii: "\n")) }
        }
        return output
    }
}

/// The `--json` shape of `exp diff`.
struct RunDiffJSON: Encodable {
    struct Code: Encodable {
        var files: [FileEntry]
        var patch: String
    }

    struct FileEntry: Encodable {
        var path: String
        var oldPath: String
        var status: String
        var additions: Int
        var deletions: Int

        enum CodingKeys: String, CodingKey {
            case path, status, additions, deletions
            case oldPath = "old_path"
        }
    }

    struct Pair<Value: Encodable>: Encodable {
        var a: Value?
        var b: Value?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(a, forKey: .a)
            try container.encode(b, forKey: .b)
        }

        enum CodingKeys: String, CodingKey { case a, b }
    }

    /// A metric summary with non-finite numbers written as strings, as in run.json.
    struct Summary: Encodable {
        var summary: MetricSummary

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            for (key, value) in [(CodingKeys.last, summary.last), (.min, summary.min), (.max, summary.max)] {
                try Self.encode(value, key, &container)
            }
            try container.encode(summary.count, forKey: .count)
            if let step = summary.lastStep { try Self.encode(step, .lastStep, &container) }
        }

        private static func encode(
            _ value: Double, _ key: CodingKeys, _ container: inout KeyedEncodingContainer<CodingKeys>
        ) throws {
            if value.isNaN {
                try container.encode("NaN", forKey: key)
            } else if value.isInfinite {
                try container.encode(value > 0 ? "Infinity" : "-Infinity", forKey: key)
            } else {
                try container.encode(value, forKey: key)
            }
        }

        enum CodingKeys: String, CodingKey {
            case last, min, max, count
            case lastStep = "last_step"
        }
    }

    var code: Code?
    var params: [String: Pair<ParamValue>]?
    var metrics: [String: Pair<Summary>]?

    init(_ diff: RunDiff) {
        code = diff.code.map { code in
            Code(
                files: code.files.map {
                    FileEntry(
                        path: $0.path, oldPath: $0.oldPath, status: $0.status.rawValue, additions: $0.additions,
                        deletions: $0.deletions)
                },
                patch: String(decoding: code.patch, as: UTF8.self))
        }
        params = diff.params?.mapValues { Pair(a: $0.a, b: $0.b) }
        metrics = diff.metrics?.mapValues { Pair(a: $0.a.map(Summary.init), b: $0.b.map(Summary.init)) }
    }
}
