import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `exp plot [RUN…] [KEY…]`: metric curves of runs, drawn in the terminal.
struct PlotCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw runs' metric curves in the terminal (or as an SVG picture).",
        discussion: """
            One chart per key, the runs overlaid in distinct colours, laid out side by side \
            to the terminal's width (COLUMNS, else the terminal's size). Arguments that name \
            a run (a name, an id or prefix, latest, latest~N, min:KEY, max:KEY) are runs; the \
            others are metric keys. With no run: the latest run and every live one; with no \
            key: the loss- and accuracy-like keys (*loss*, *acc*), else every key.

            In a pipe or with NO_COLOR the charts have no colours; each run's line ends in its \
            legend marker instead. NaN and infinite values are not drawn.

              exp plot
              exp plot alpha beta val_loss --smooth 0.6
              exp plot --where "lr < 0.01" --limit 5 --x time --log
              exp plot --follow
              exp plot latest --svg curves.svg
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Runs, then metric keys.", valueName: "RUN-OR-KEY"))
    var names: [String] = []

    @Option(
        name: .customLong("where"), help: ArgumentHelp("Runs for which EXPR holds (as in exp list).", valueName: "EXPR")
    )
    var filter: String?

    @Option(help: "With --where (or alone): at most N runs, newest first.")
    var limit: Int?

    @Option(name: .customLong("x"), help: ArgumentHelp("The x axis: step, epoch or time.", valueName: "AXIS"))
    var axis: String = "step"

    @Option(help: ArgumentHelp("Smooth with an exponential moving average of weight W (0 to 0.999).", valueName: "W"))
    var smooth: Double = 0

    @Flag(help: "Log scale on y (values ≤ 0 are not drawn, and counted in a note).")
    var log = false

    @Option(help: ArgumentHelp("Limits of the y axis.", valueName: "LO,HI"))
    var ylim: String?

    @Option(help: "Width of the whole picture in columns (default: the terminal's).")
    var width: Int?

    @Option(help: "Height of each chart in rows (default: 10).")
    var height: Int?

    @Option(help: ArgumentHelp("Write the charts as an SVG picture to FILE instead.", valueName: "FILE"))
    var svg: String?

    @Flag(help: "Redraw in place while a shown run is live; ends when they end, on q or Ctrl-C.")
    var follow = false

    func validate() throws {
        if follow && svg != nil { throw ValidationError("--follow and --svg cannot be used together") }
        if let limit, limit < 1 { throw ValidationError("--limit must be 1 or more") }
        if SeriesAxis(rawValue: axis) == nil { throw ValidationError("--x must be step, epoch or time") }
        if !(0..<1).contains(smooth) { throw ValidationError("--smooth must be at least 0 and below 1") }
        if let width, width < 20 { throw ValidationError("--width must be 20 or more") }
        if let height, height < 2 || height > 200 { throw ValidationError("--height must be 2 to 200") }
        if let ylim, Self.limits(ylim) == nil {
            throw ValidationError("--ylim must be two numbers LO,HI with LO < HI (e.g. --ylim 0,1)")
        }
        if log, let ylim, let limits = Self.limits(ylim), limits.low <= 0 {
            throw ValidationError("--ylim must be above 0 with --log")
        }
    }

    static func limits(_ text: String) -> (low: Double, high: Double)? {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = Double(parts[0]), let high = Double(parts[1]), low.isFinite,
            high.isFinite, low < high
        else { return nil }
        return (low, high)
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        // Runs: those named, those --where finds, else the latest and the live ones.
        var runs: [StoredRun] = []
        var keys: [String] = []
        for name in names {
            if keys.isEmpty, let run = try? store.resolve(try RunRef(parsing: name), includeAutosaves: true) {
                if !runs.contains(where: { $0.record.id == run.record.id }) { runs.append(run) }
            } else {
                keys.append(name)
            }
        }
        if filter != nil || limit != nil {
            var query = RunQuery(limit: limit)
            if let filter {
                do { query.filter = try RunFilter(parsing: filter) } catch {
                    throw error.expError(in: filter, option: "--where")
                }
            }
            // Oldest first (the legend reads in the order the runs were made), then by name.
            let found = try store.runs(query).sorted {
                ($0.record.startedAt, $0.record.name) < ($1.record.startedAt, $1.record.name)
            }
            for run in found where !runs.contains(where: { $0.record.id == run.record.id }) {
                runs.append(run)
            }
            if runs.isEmpty {
                throw ExpError(.notFound, "no run matches --where \(filter ?? "")", hint: "see `exp list --all`")
            }
        }
        if runs.isEmpty {
            let all = try store.allRuns()
            guard let latest = all.first else {
                throw ExpError(.notFound, "no runs yet", hint: "record one with `exp run -- COMMAND`")
            }
            runs = [latest] + all.dropFirst().filter(\.isLive)
        }
        let axis = SeriesAxis(rawValue: axis) ?? .step
        let known = try store.metricKeys(of: runs)
        if keys.isEmpty {
            let liked = known.filter { $0.lowercased().contains("loss") || $0.lowercased().contains("acc") }
            keys = (liked.isEmpty ? known : liked).sorted()
            if keys.isEmpty {
                throw ExpError(
                    "no metrics to plot in " + runs.map(\.record.name).joined(separator: ", "),
                    hint: "log some with `exp run` (see `exp run --help`), or name a run that has them")
            }
        } else {
            let missing = keys.filter { !known.contains($0) }
            if !missing.isEmpty {
                let unknownRuns = names.count == keys.count && runs.isEmpty
                throw ExpError(
                    "no run or metric named \(missing.joined(separator: ", "))"
                        + (unknownRuns ? "" : " in " + runs.map(\.record.name).joined(separator: ", ")),
                    hint: known.isEmpty
                        ? "the runs have no metrics" : "their metrics: " + known.sorted().joined(separator: ", "))
            }
        }

        // Layout: charts side by side to the width.
        let columns = Format.terminalColumns(environment: context.environment).flatMap { $0 >= 20 ? $0 : nil }
        let totalWidth = width ?? columns ?? 80
        let perRow = svg == nil ? ChartLayout.perRow(width: totalWidth, count: keys.count) : min(keys.count, 2)
        let chartWidth = max(20, (totalWidth - 2 * (perRow - 1)) / perRow)
        var style = ChartStyle(width: chartWidth, height: height ?? 10)
        style.logScale = log
        style.yLimits = ylim.flatMap(Self.limits)
        style.xCaption = axis == .time ? "time (s)" : axis.rawValue
        let buckets = svg == nil ? chartWidth * 2 : 800
        let renderer = BrailleRenderer(style: style, useColor: terminal.useColor) { text, run in
            terminal.paint(text, BrailleRenderer.colors[run % BrailleRenderer.colors.count])
        }

        let request = SeriesRequest(runs: runs, keys: keys, axis: axis, buckets: buckets, smoothing: smooth)
        // --follow reads a sealed run once, and of a live one only what its files gained.
        let follower = follow ? SeriesFollower(store: store, request: request) : nil

        /// The charts of `runs` as they are now: the lines to print and the notes for stderr.
        func frame(_ runs: [StoredRun]) throws -> (charts: [Chart], lines: [String], notes: [String]) {
            var request = request
            request.runs = runs
            let series = try follower?.series(of: runs) ?? store.workspace.metricSeries(request)
            let names = runs.map { run in
                Format.visible(run.record.name)
                    + (run.isLive
                        ? " (running" + (axis == .step ? Self.step(of: run, series).map { ", step \($0)" } ?? "" : "")
                            + ")" : "")
            }
            let charts = keys.map { key in
                let lines = runs.indices.compactMap { index -> Chart.Line? in
                    guard
                        let found = series.first(where: { $0.run.record.id == runs[index].record.id && $0.key == key })
                    else { return nil }
                    return Chart.Line(run: index, points: found.points)
                }
                let missing = runs.indices.filter { index in !lines.contains { $0.run == index } }
                return Chart(
                    title: Format.visible(key), lines: lines,
                    missing: missing.map { Format.visible(runs[$0].record.name) })
            }
            var notes: [String] = []
            for found in series where found.nonFinite > 0 {
                notes.append(
                    "exp: note: \(found.nonFinite) NaN or infinite value\(found.nonFinite == 1 ? "" : "s") of "
                        + "\(found.key) in \(found.run.record.name) not drawn")
            }
            guard svg == nil else { return (charts, [], notes) }
            var output: [String] = []
            for start in stride(from: 0, to: charts.count, by: perRow) {
                let row = charts[start..<min(charts.count, start + perRow)].map { chart in
                    let drawn = renderer.render(chart)
                    if drawn.notes.nonPositive > 0 {
                        let count = drawn.notes.nonPositive
                        notes.append(
                            "exp: note: \(count) value\(count == 1 ? "" : "s") ≤ 0 of \(chart.title) not drawn on the log scale"
                        )
                    }
                    return drawn.lines
                }
                if start > 0 { output.append("") }
                output += ChartLayout.sideBySide(row, width: chartWidth)
            }
            output.append("")
            output += ChartLayout.legend(names, width: totalWidth, renderer: renderer)
            return (charts, output, notes)
        }

        if let svg {
            let drawn = try frame(runs)
            drawn.notes.forEach(terminal.note)
            let picture = SVGRenderer(style: style).document(
                drawn.charts, names: runs.map(\.record.name), perRow: perRow)
            try store.workspace.writeRequestedFile(Array(picture.utf8), to: svg, what: "the picture")
            terminal.note(
                "wrote \(svg): \(keys.count) chart\(keys.count == 1 ? "" : "s") of \(runs.count) run\(runs.count == 1 ? "" : "s")"
            )
            return
        }
        guard follow else {
            let drawn = try frame(runs)
            terminal.print(lines: drawn.lines)
            drawn.notes.forEach(terminal.note)
            return
        }
        // --follow: redraw in place while a run is live; on a terminal only (in a pipe, the
        // last frame once the runs end).
        let redraws = isatty(STDOUT_FILENO) == 1
        let quitKeys = QuitKeys(enabled: redraws && isatty(STDIN_FILENO) == 1)
        defer { quitKeys.restore() }
        var current = runs
        var shown: [String] = []
        while true {
            let drawn = try frame(current)
            let live = current.contains(where: \.isLive)
            if redraws && drawn.lines != shown {
                terminal.redraw(lines: drawn.lines, replacing: shown.count)
                shown = drawn.lines
            }
            if !live || quitKeys.waitForQuit(milliseconds: 400) {
                if !redraws { terminal.print(lines: drawn.lines) }
                drawn.notes.forEach(terminal.note)
                return
            }
            _ = try? store.workspace.recoverLostRuns()
            let fresh = try store.runs(ids: current.map(\.record.id))
            current = current.map { run in fresh.first { $0.record.id == run.record.id } ?? run }
        }
    }

    /// The last step of a live run's points, for its legend entry.
    static func step(of run: StoredRun, _ series: [MetricSeries]) -> String? {
        let steps = series.filter { $0.run.record.id == run.record.id }.compactMap { $0.points.last?.x }
        return steps.max().map(Format.number)
    }
}

/// The terminal's input read key by key during `exp plot --follow`, so `q` ends it; the
/// terminal's settings are put back when it ends, on Ctrl-C and on kill too.
final class QuitKeys {
    private let enabled: Bool

    init(enabled: Bool) {
        var settings = termios()
        self.enabled = enabled && tcgetattr(STDIN_FILENO, &settings) == 0
        guard self.enabled else { return }
        savedTerminalSettings = settings
        terminalSettingsSaved = true
        settings.c_lflag &= ~tcflag_t(ICANON | ECHO)
        tcsetattr(STDIN_FILENO, TCSANOW, &settings)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            Glibc.signal(signal) { number in
                if terminalSettingsSaved { tcsetattr(STDIN_FILENO, TCSANOW, &savedTerminalSettings) }
                _exit(128 + number)
            }
        }
    }

    /// Waits up to `milliseconds` for a key; true when it was `q`.
    func waitForQuit(milliseconds: Int32) -> Bool {
        guard enabled else {
            usleep(useconds_t(milliseconds) * 1000)
            return false
        }
        var descriptor = pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, milliseconds) > 0 else { return false }
        var byte: UInt8 = 0
        guard read(STDIN_FILENO, &byte, 1) == 1 else {
            usleep(useconds_t(milliseconds) * 1000)
            return false
        }
        return byte == UInt8(ascii: "q") || byte == UInt8(ascii: "Q")
    }

    /// Puts the terminal's settings back.
    func restore() {
        guard enabled, terminalSettingsSaved else { return }
        tcsetattr(STDIN_FILENO, TCSANOW, &savedTerminalSettings)
        terminalSettingsSaved = false
    }
}

/// The terminal settings before `--follow` changed them, for the signal handler to put back.
nonisolated(unsafe) private var savedTerminalSettings = termios()
nonisolated(unsafe) private var terminalSettingsSaved = false
