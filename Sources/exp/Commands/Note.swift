import ArgumentParser
import ExpCore
import Foundation

/// `exp note RUN TEXT`.
struct NoteCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "note",
        abstract: "Keep a note with a run, or print it.",
        discussion: """
            The note is free text kept in the run's record (run.json "note"), shown by \
            `exp show` and searchable with `exp list --where "note ~ '*baseline*'"`. A new \
            note replaces the old one; an empty TEXT removes it. Without TEXT, prints the note.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The run.")
    var run: String

    @Argument(help: "The note; several words are joined with spaces.")
    var text: [String] = []

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        let stored = try store.resolve(try RunRef(parsing: run))
        if text.isEmpty {
            if let note = stored.record.note {
                terminal.print(lines: note.split(separator: "\n", omittingEmptySubsequences: false).map(String.init))
            }
            return
        }
        let updated = try store.setNote(stored, text.joined(separator: " "))
        terminal.note(
            updated.record.note == nil
                ? "exp: removed the note of \(updated.record.name)" : "exp: noted on \(updated.record.name)")
    }
}
