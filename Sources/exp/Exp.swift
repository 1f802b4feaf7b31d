import ArgumentParser

/// The `exp` command: every training run logged with its exact code.
@main
struct Exp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exp",
        abstract: "Log every training run with its exact code, in git.",
        discussion: """
            exp snapshots the whole working tree (uncommitted edits and new files included) \
            onto a hidden git ref, without touching HEAD, the index or any file.
            """,
        version: "0.1.0",
        subcommands: [SnapshotCommand.self]
    )
}
