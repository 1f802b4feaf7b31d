import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// How values read in a terminal.
enum Format {
    /// `850ms`, `12.3s`, `4m 05s`, `2h 03m`.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds, seconds.isFinite else { return "-" }
        if seconds < 1 { return "\(Int((seconds * 1000).rounded()))ms" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let total = Int(seconds.rounded())
        if total < 3600 { return String(format: "%dm %02ds", total / 60, total % 60) }
        return String(format: "%dh %02dm", total / 3600, (total % 3600) / 60)
    }

    /// Local date and time to the minute: `2026-11-29 14:03`.
    static func date(_ date: Date) -> String {
        var components = Calendar.current.dateComponents(in: TimeZone.current, from: date)
        components.nanosecond = 0
        return String(
            format: "%04d-%02d-%02d %02d:%02d", components.year ?? 0, components.month ?? 0, components.day ?? 0,
            components.hour ?? 0, components.minute ?? 0)
    }

    /// A metric value with 4 significant digits (`0.1235`, `1234`, `1.2e-05`, `NaN`).
    static func number(_ value: Double) -> String { MetricText.number(value) }

    /// A number for a machine to read (CSV): full precision, whole numbers without `.0`,
    /// `NaN`, `inf`, `-inf`.
    static func raw(_ number: Double) -> String {
        if number.isNaN { return "NaN" }
        if number.isInfinite { return number > 0 ? "inf" : "-inf" }
        if number == number.rounded() && abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }

    static func param(_ value: ParamValue) -> String { MetricText.param(value) }

    /// `text` with control characters escaped (`\033`, `\n`, `\u{9B}`; see `TerminalText`).
    /// The terminal escapes everything it writes anyway; tables call this on each cell before
    /// measuring it, so an escaped value keeps its column.
    static func visible(_ text: String) -> String { TerminalText.escape(text) }

    /// `2 artifacts, 1.2 GiB` (with how many are not stored, when some are not).
    static func artifacts(_ summary: ArtifactSummary) -> String {
        var text = "\(summary.count) artifact\(summary.count == 1 ? "" : "s"), \(ByteCountText.format(summary.size))"
        if summary.stored < summary.count { text += " (\(summary.count - summary.stored) not stored)" }
        return text
    }

    /// What the snapshot holds compared to HEAD: `clean` or `5 modified, 1000 added`.
    static func counts(_ counts: ChangeCounts) -> String {
        if counts.total == 0 { return "clean" }
        var parts: [String] = []
        if counts.modified > 0 { parts.append("\(counts.modified) modified") }
        if counts.added > 0 { parts.append("\(counts.added) added") }
        if counts.deleted > 0 { parts.append("\(counts.deleted) deleted") }
        return parts.joined(separator: ", ")
    }

    /// `succeeded`, `failed (exit 3)`, `interrupted (SIGINT)`.
    static func status(_ record: RunRecord) -> String {
        switch record.status {
        case .failed:
            if let signal = record.signal { return "failed (\(signalName(signal)))" }
            if let code = record.exitCode { return "failed (exit \(code))" }
            return "failed"
        case .interrupted:
            if let signal = record.signal { return "interrupted (\(signalName(signal)))" }
            return "interrupted"
        default:
            return record.status.rawValue
        }
    }

    static func signalName(_ signal: Int32) -> String {
        let names: [Int32: String] = [
            SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGKILL: "SIGKILL", SIGTERM: "SIGTERM",
            SIGUSR1: "SIGUSR1", SIGUSR2: "SIGUSR2", SIGSEGV: "SIGSEGV", SIGABRT: "SIGABRT", SIGPIPE: "SIGPIPE",
            SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGILL: "SIGILL",
        ]
        return names[signal] ?? "signal \(signal)"
    }

    /// The last value of up to `limit` metrics: `loss 0.1235 · acc 0.91`.
    static func lastMetrics(_ metrics: [String: MetricSummary], limit: Int = 4) -> String {
        metrics.keys.sorted().prefix(limit).map { "\($0) \(number(metrics[$0]!.last))" }.joined(separator: " · ")
    }

    /// Cuts `text` to `width` characters with an ellipsis.
    static func fit(_ text: String, _ width: Int) -> String {
        guard width > 0 else { return "" }
        if text.count <= width { return text }
        return width == 1 ? "…" : String(text.prefix(width - 1)) + "…"
    }

    /// Columns of the terminal on stdout for a table (`exp list`); nil when stdout is not a
    /// terminal, as a table sent to a file or pipe is never cut.
    static func terminalWidth(environment: [String: String]) -> Int? {
        guard isatty(STDOUT_FILENO) == 1 else { return nil }
        return terminalColumns(environment: environment) ?? 80
    }

    /// The one place exp reads the terminal's width: `COLUMNS` when it is a positive number,
    /// else the size of the terminal on stdout; nil when neither is known.
    static func terminalColumns(environment: [String: String]) -> Int? {
        if let columns = environment["COLUMNS"].flatMap(Int.init), columns > 0 { return columns }
        var size = winsize()
        if isatty(STDOUT_FILENO) == 1, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 {
            return Int(size.ws_col)
        }
        return nil
    }
}
