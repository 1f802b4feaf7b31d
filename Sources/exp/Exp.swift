import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The `exp` command: every training run logged with its exact code.
@main
struct Exp: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exp",
        abstract: "Log every training run with its exact code, in git.",
        discussion: """
            exp snapshots the whole working tree (uncommitted edits and new files included) \
            onto a hidden git ref, without touching HEAD, the index or any file, runs your \
            command, and links the two: command line, params, metrics and output.

              exp run -- python train.py --lr 0.01
              exp list
              exp show latest
            """,
        version: "0.1.0",
        subcommands: [
            RunCommand.self, ListCommand.self, ShowCommand.self, LogCommand.self, MetricsCommand.self, PlotCommand.self,
            SnapshotCommand.self, DiffCommand.self,
            CheckoutCommand.self, RerunCommand.self, SweepCommand.self, QueueCommand.self, RemoveCommand.self,
            RenameCommand.self, NoteCommand.self,
            ReindexCommand.self, FsckCommand.self, ArtifactsCommand.self, GCCommand.self,
            PushCommand.self, PullCommand.self, HooksCommand.self, HookCommand.self,
        ]
    )

    /// Parses and runs like ArgumentParser's own `main`, but speaks exp's error dialect:
    /// `exp: error: …` on stderr, exit 2 for usage errors (worded by `UsageErrors`, with a
    /// "did you mean" for a mistyped command), and git's `exp -C PATH <command>`.
    static func main() {
        unblockForwardedSignals()
        let terminal = Terminal(color: .never, environment: ProcessInfo.processInfo.environment)
        var arguments = Array(CommandLine.arguments.dropFirst())
        while arguments.count >= 2 && arguments[0] == "-C" {
            let path = arguments[1]
            arguments.removeFirst(2)
            if chdir(path) != 0 {
                terminal.note(
                    "exp: error: no such folder: \(TerminalText.escape(path))\nhint: check the path given to -C")
                Foundation.exit(1)
            }
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                terminal.write(fullMessage(for: error) + "\n")
                Foundation.exit(0)
            }
            if code == .validationFailure {
                terminal.note(UsageErrors.text(for: Self.message(for: error), arguments: arguments))
                Foundation.exit(2)
            }
            let message = TerminalText.escape(Self.message(for: error), keeping: .newlines)
            terminal.note("exp: error: \(message)")
            Foundation.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }

    /// A parent may start exp with signals blocked (a thread pool's mask is inherited through
    /// posix_spawn); then Ctrl-C or `kill -TERM` would never reach exp, nor the command it
    /// passes them on to. Unblock them before any thread starts so every thread inherits that.
    static func unblockForwardedSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGTSTP, SIGCONT, SIGCHLD] {
            sigaddset(&set, signal)
        }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }
}
