import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `exp rerun`: run a recorded run again from its exact code.
struct RerunCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "rerun",
        abstract: "Run a recorded run again, from its exact code, as a new run.",
        discussion: """
            Checks the run's snapshot out into a temporary linked worktree, runs the same \
            command in the same folder with the same params, records it as a new run that \
            names the one it reproduces, removes the worktree, and shows the metrics of both \
            side by side. Your working tree, HEAD and index are not touched. exp exits with \
            the command's own exit status.

            With --json, as with `exp run --json`: none of exp's own lines, and the new run \
            as `exp show --json` prints it when the command ends.
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Argument(help: ArgumentHelp("The run: a name, an id prefix, latest or latest~N.", valueName: "run"))
    var run: String

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        var terminal = terminal
        terminal.showsNotes = !output.json
        let workspace = try Workspace(context: context)
        let result = try workspace.rerun(
            try RunRef(parsing: run),
            prepare: { request in
                request.usePseudoTerminal = isatty(STDOUT_FILENO) == 1
                request.stdinFD = STDIN_FILENO
                request.stdoutFD = STDOUT_FILENO
                request.stderrFD = STDERR_FILENO
            },
            onStart: { started in
                terminal.ignoredSettings(context.notices.takeIgnoredSettings())
                terminal.note(
                    terminal.paintNote("exp: run \(started.record.name) \(started.record.id.short)", "1")
                        + " · reproduces \(run)")
            })
        let original = result.original.record
        let record = result.finished.record
        terminal.note(
            "exp: run \(record.name) \(Format.status(record)) in \(Format.duration(record.durationSeconds))")
        let keys = Set(original.metrics.keys).union(record.metrics.keys).sorted()
        if !keys.isEmpty && !output.json {
            let width = max(6, keys.map(\.count).max() ?? 0)
            let column = max(12, original.name.count, record.name.count)
            func cell(_ text: String) -> String { text.padding(toLength: column, withPad: " ", startingAt: 0) }
            terminal.print(
                "METRIC".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + cell(original.name) + "  "
                    + record.name)
            for key in keys {
                let before = original.metrics[key].map { Format.number($0.last) } ?? "-"
                let after = record.metrics[key].map { Format.number($0.last) } ?? "-"
                terminal.print(
                    key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + cell(before) + "  " + after)
            }
        }
        RunCommand.reportUnsaved(result.finished, terminal)
        if output.json { try RunCommand.printJSON(result.finished, context, terminal) }
        if result.finished.exitStatus != 0 { throw ExitCode(result.finished.exitStatus) }
    }
}
