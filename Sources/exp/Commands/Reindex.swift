import ArgumentParser
import ExpCore
import Foundation

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
