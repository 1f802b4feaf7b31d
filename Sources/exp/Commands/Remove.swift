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
