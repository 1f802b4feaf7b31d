import ArgumentParser
import ExpCore
import Foundation

/// `exp log RUN`: a run's output.
struct LogCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Print a run's output (stdout and stderr as they arrived).",
        discussion: """
            With --follow, keep printing a running run's output until it ends.

            The output is printed exactly as the command wrote it, control characters and \
            escape sequences included (progress bars, colours), so it looks as it did: this \
            is the one exp command that does not escape them. For a run pulled from someone \
            else, read it with `exp log RUN | less` or `cat -v` if you do not trust it.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The run whose output to print.")
    var run: String

    @Flag(name: [.customShort("f"), .long], help: "Stream a running run's output until it ends.")
    var follow = false

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        let stored = try store.resolve(try RunRef(parsing: run), includeAutosaves: true)
        if follow && stored.isLive {
            try store.followOutput(
                of: stored, onGone: { try store.workspace.recoverLostRuns() },
                write: { chunk in terminal.write(unescaped: chunk) })
            return
        }
        terminal.write(unescaped: try store.file(LiveFolder.outputFile, of: stored))
    }
}
