import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A one-line progress bar on stderr for copies over 100 MB, drawn only when stderr is a
/// terminal.
final class ProgressBar: @unchecked Sendable {
    private let enabled = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()
    private let terminal = Terminal(color: .never, environment: [:])

    /// Minimum size of a file that gets a bar.
    static let threshold: Int64 = 100_000_000

    /// Draws (or finishes) the bar for one report.
    @Sendable func report(_ progress: ArtifactProgress) {
        guard enabled, progress.totalBytes > Self.threshold else { return }
        lock.lock()
        defer { lock.unlock() }
        let fraction = Double(progress.bytesDone) / Double(max(progress.totalBytes, 1))
        let width = 30
        let filled = Int(fraction * Double(width))
        let path = TerminalText.escape(progress.path)
        let name = path.count > 40 ? "…" + path.suffix(39) : path
        let text =
            "\r\u{1B}[K\(progress.action.rawValue) \(name) [" + String(repeating: "#", count: filled)
            + String(repeating: " ", count: width - filled) + "] "
            + "\(Int(fraction * 100))% \(ByteCountText.format(progress.bytesDone))/\(ByteCountText.format(progress.totalBytes))"
        terminal.progress(progress.bytesDone >= progress.totalBytes ? text + "\n" : text)
    }
}
