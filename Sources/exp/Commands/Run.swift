import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `exp run`: run a command as a recorded run.
struct RunCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a command and record it with its exact code.",
        discussion: """
            Snapshots the working tree onto refs/exp/runs/<id> (HEAD, the index and your files \
            are not touched), runs the command exactly as the terminal would, and seals the run \
            with its status, output, params and metrics when it ends. exp exits with the \
            command's own exit status (128+N when a signal N ended it).

            The command gets EXP_RUN_ID, EXP_RUN_NAME, EXP_RUN_DIR, EXP_METRICS_FILE and \
            EXP_SNAPSHOT. Appending a JSON object per line to $EXP_METRICS_FILE, such as \
            {"step": 10, "loss": 0.42}, records metrics.

            Files the command creates or changes that match --artifact GLOB (relative to the \
            current folder; ** spans folders) or exp.artifacts are linked to the run and stored \
            once by content; with neither, PyTorch Lightning's checkpoints are. See `exp \
            artifacts`.

            Params come from the command line (--lr 0.01, --lr=0.01, --flag, Hydra's lr=0.01) \
            and from -p key=value, which wins; below them, from --params-file and from the \
            files the command writes: Hydra's .hydra/config.yaml and overrides.yaml, \
            Lightning's hparams.yaml.

            Metrics also come from the command's output (loss: 0.42, loss=0.42), from \
            Lightning CSVLogger metrics.csv and from TensorBoard event files written under \
            the repository during the run.

            With --json, exp prints none of its own lines (warnings and errors still go to \
            stderr) and, when the command ends, the run as `exp show --json` prints it.

            Examples:
              exp run -- python train.py --lr 0.01 --epochs 20
              exp run --name baseline -m "first try" -p seed=1 -- python train.py
              exp run --artifact 'outputs/**/*.pt' -- python train.py
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Option(help: "Name for the run (default: a generated one like brave-otter).")
    var name: String?

    @Option(name: [.customShort("m"), .customLong("message")], help: "A note to keep with the run.")
    var message: String?

    @Option(name: .customShort("p"), help: ArgumentHelp("Record a param (repeatable).", valueName: "key=value"))
    var param: [String] = []

    @Option(help: ArgumentHelp("Link files matching GLOB that the command writes (repeatable).", valueName: "glob"))
    var artifact: [String] = []

    @Flag(help: "Link no files to the run (no --artifact, exp.artifacts nor Lightning checkpoints).")
    var noArtifacts = false

    @Option(
        name: .customLong("params-file"),
        help: ArgumentHelp("Record the params of a YAML, JSON or TOML file (repeatable).", valueName: "path"))
    var paramsFile: [String] = []

    @Argument(
        parsing: .captureForPassthrough, help: ArgumentHelp("The command to run, after --.", valueName: "command"))
    var command: [String] = []

    func validate() throws {
        // The command's words are taken as they are, so an option of exp's own that it does
        // not know would otherwise be run as the command. Nothing before `--` starts with `-`
        // unless it is an option.
        guard let first = command.first, first != "--", first.hasPrefix("-") else { return }
        if first == "-h" || first == "--help" { throw CleanExit.helpRequest(self) }
        throw ValidationError(
            "unknown option '\(first)' for exp run; options go before the command, and the command after --: "
                + "exp run --name NAME -- python train.py")
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        // With --json, exp's own lines give way to one JSON object when the run ends.
        var terminal = terminal
        terminal.showsNotes = !output.json
        var argv = command
        if argv.first == "--" { argv.removeFirst() }
        let workspace = try Workspace(context: context)
        var request = RunRequest(
            argv: argv, name: name, message: message, params: param, usePseudoTerminal: isatty(STDOUT_FILENO) == 1)
        request.paramsFiles = paramsFile
        request.stdinFD = STDIN_FILENO
        request.stdoutFD = STDOUT_FILENO
        request.stderrFD = STDERR_FILENO
        request.artifactPatterns = artifact
        request.linkArtifacts = !noArtifacts
        request.artifactProgress = ProgressBar().report
        let finished = try workspace.run(request) { started in
            terminal.ignoredSettings(context.notices.takeIgnoredSettings())
            for lost in started.sealedLost {
                terminal.note(
                    lost.status == .lost
                        ? "exp: sealed run \(lost.name) as lost (its exp process is gone)"
                        : "exp: sealed run \(lost.name) as \(lost.status.rawValue) (its exp could not save it)")
            }
            for file in started.snapshot.skipped {
                terminal.note("exp: skipped \(file.path) (\(SkippedFileText.describe(file)))")
            }
            let record = started.record
            terminal.note(
                terminal.paintNote("exp: run \(record.name) \(record.id.short)", "1")
                    + " · snapshot \(started.snapshot.commit.short()) · \(Format.counts(started.snapshot.counts))")
        }
        let record = finished.record
        for warning in finished.warnings.prefix(5) { terminal.note("exp: warning: \(warning)") }
        if finished.warnings.count > 5 { terminal.note("exp: warning: \(finished.warnings.count - 5) more") }
        if let error = record.error {
            terminal.error(ExpError(error, hint: "the run is recorded as failed: exp show \(record.name)"))
        }
        var line = "exp: run \(record.name) \(Format.status(record)) in \(Format.duration(record.durationSeconds))"
        let metrics = Format.lastMetrics(record.metrics)
        if !metrics.isEmpty { line += " · " + metrics }
        if record.skippedMetricLines > 0 { line += " · \(record.skippedMetricLines) bad metric lines skipped" }
        if let artifacts = record.artifacts { line += " · " + Format.artifacts(artifacts) }
        terminal.note(terminal.paintNote(line, record.status == .succeeded ? "32" : "31"))
        Self.reportUnsaved(finished, terminal)
        if workspace.takeHooksHint() {
            terminal.note("hint: `exp hooks install` tags the commits that hold a run's code (shown once)")
        }
        if output.json { try Self.printJSON(finished, context, terminal) }
        if finished.exitStatus != 0 { throw ExitCode(finished.exitStatus) }
    }

    /// `exp run --json`: the sealed run as `exp show --json` prints it; the record alone when
    /// it could not be saved into git.
    static func printJSON(_ finished: RunFinished, _ context: ExpContext, _ terminal: Terminal) throws {
        if finished.unsaved == nil,
            let stored = try RunStore.forReading(context).runs(ids: [finished.record.id]).first
        {
            try terminal.printJSON(RunJSONView(stored))
        } else {
            try terminal.printJSON(finished.record)
        }
    }

    /// Says what could not be saved when the run's record could not be written to git, and
    /// where its files wait for the next exp command.
    static func reportUnsaved(_ finished: RunFinished, _ terminal: Terminal) {
        guard let unsaved = finished.unsaved else { return }
        terminal.error(
            ExpError(
                "could not save run \(finished.record.name) into git: \(unsaved.error.message)",
                hint: unsaved.outcomeKept
                    ? "its output, metrics and outcome are kept in \(unsaved.liveDirectory); the next exp "
                        + "command (such as `exp list`) saves them once git can write again"
                    : "its output and metrics are kept in \(unsaved.liveDirectory), but its outcome could not "
                        + "be written there either; the next exp command that can write seals it as lost"))
    }
}
