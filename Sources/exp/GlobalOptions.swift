import ArgumentParser

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customShort("C"), help: ArgumentHelp("Run as if exp was started in PATH.", valueName: "PATH"))
    var directory: String?

    @Option(help: ArgumentHelp("When to use colours: auto, always or never.", valueName: "WHEN"))
    var color: ColorChoice = .auto
}

/// `--json`, taken only by the commands that print JSON when given it: a command that
/// does not offer it refuses it as an unknown option rather than ignoring it.
struct JSONOption: ParsableArguments {
    @Flag(help: "Print machine-readable JSON instead of text.")
    var json = false
}

/// The `--color` choices.
enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}
