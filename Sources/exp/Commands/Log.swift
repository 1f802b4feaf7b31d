import ArgumentParser
import ExpCore
import Foundation

/// `exp log RUN`: a run's output.
struct LogCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Print a run's output (stdout and stderr as they arrived).",
        discussion: "With --follow, keep printing a running run's output until it ends."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The run whose output to print.")
    var run: String

    @Flag(name: [.customShort("f"), .long], help: "Stream a running run's output until it ends.")
    var follow = false

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try RunStore.forReading(context)
        let stored = try store.resolve(try RunRef(parsing: run), includeAutosaves: true)
        if follow && stored.isLive {
            try store.followOutput(of: stored) { chunk in
                FileHandle.standardOutput.write(Data(chunk))
            }
            return
        }
        FileHandle.standardOutput.write(Data(try store.file("output.log", of: stored)))
    }
}
