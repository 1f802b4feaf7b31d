import ArgumentParser

/// Options every subcommand takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customShort("C"), help: ArgumentHelp("Run as if exp was started in PATH.", valueName: "PATH"))
    var directory: String?

    @Flag(help: "Print machine-readable JSON instead of text.")
    var json = false

    @Option(help: ArgumentHelp("When to use colours: auto, always or never.", valueName: "WHEN"))
    var color: ColorChoice = .auto
}

/// The `--color` choices.
enum ColorChoice: String, ExpressibleByArgument, CaseIterable {
    case auto, always, never
}
