import ArgumentParser
import ExpCore
import Foundation

/// `exp rename RUN NAME`.
struct RenameCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "rename",
        abstract: "Give a run another name.",
        discussion: """
            The run keeps its id; tags made by the hooks under the old name stay as they are. \
            With --json, prints the renamed run as `exp show --json` does.
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Argument(help: "The run to rename.")
    var run: String

    @Argument(help: "Its new name (letters, digits, - _ .; unique among runs).")
    var name: String

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        let stored = try store.resolve(try RunRef(parsing: run))
        let renamed = try store.renameRun(stored, to: name)
        if output.json {
            try terminal.printJSON(RunJSONView(renamed))
            return
        }
        terminal.print("renamed \(stored.record.name) to \(renamed.record.name) (\(renamed.record.id.short))")
    }
}
