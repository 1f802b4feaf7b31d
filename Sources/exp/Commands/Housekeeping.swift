import ArgumentParser
import ExpCore
import Foundation

/// `exp rm RUN…`: remove runs.
struct RemoveCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove runs.",
        discussion: """
            Deletes each run's ref (refs/exp/runs/<id>). Its git objects stay until `git gc` \
            prunes them, and its stored artifacts until `exp gc`. A run still going cannot be \
            removed. Every RUN is resolved before anything is removed, so a typo removes nothing. \
            A broken record (shown by `exp list --all`) is named by its ref, or by what follows \
            refs/exp/runs/.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The runs to remove (name, id prefix, latest~N, min:KEY, …).")
    var runs: [String]

    func validate() throws {
        if runs.isEmpty { throw ValidationError("name at least one run to remove") }
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        var seen = Set<String>()
        var resolved: [StoredRun] = []
        var broken: [BrokenRecord] = []
        for text in runs {
            // A broken record is named by its ref (refs/exp/runs/sub/dir/X) or what follows the prefix.
            if text.hasPrefix("refs/"), let record = try store.brokenRecord(named: text) {
                if seen.insert(record.reference).inserted { broken.append(record) }
                continue
            }
            do {
                let run = try store.resolve(try RunRef(parsing: text), includeAutosaves: true)
                if seen.insert(run.record.id.rawValue).inserted { resolved.append(run) }
            } catch let error as ExpError {
                guard let record = try store.brokenRecord(named: text) else { throw error }
                if seen.insert(record.reference).inserted { broken.append(record) }
            }
        }
        for run in resolved {
            try store.remove(run)
            terminal.print("removed \(run.record.name) \(run.record.id.short)")
        }
        for record in broken {
            try store.remove(record)
            terminal.print("removed broken record \(record.reference)")
        }
    }
}

/// `exp rename RUN NAME`.
struct RenameCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "rename",
        abstract: "Give a run another name.",
        discussion: "The run keeps its id; tags made by the hooks under the old name stay as they are."
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The run to rename.")
    var run: String

    @Argument(help: "Its new name (letters, digits, - _ .; unique among runs).")
    var name: String

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        let stored = try store.resolve(try RunRef(parsing: run))
        let renamed = try store.renameRun(stored, to: name)
        terminal.print("renamed \(stored.record.name) to \(renamed.record.name) (\(renamed.record.id.short))")
    }
}

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

/// `exp reindex`: rebuild the query index from the refs.
struct ReindexCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "reindex",
        abstract: "Rebuild the run index from the refs.",
        discussion: """
            The index (<git common dir>/exp/index.sqlite) is a cache of refs/exp/runs/*; every \
            command brings it up to date and rebuilds it when it is damaged, so this is \
            rarely needed.
            """
    )

    @OptionGroup var global: GlobalOptions

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let store = try storeAfterRecovery(context)
        let started = Date()
        let count = try store.reindex()
        let location = try store.indexLocation()
        let seconds = Date().timeIntervalSince(started)
        terminal.print(
            "indexed \(count) run\(count == 1 ? "" : "s") in \(Format.duration(seconds))"
                + (location.inMemory ? " (in memory: \(location.path) could not be written)" : ""))
    }
}
