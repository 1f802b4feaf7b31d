import ArgumentParser
import ExpCore
import Foundation

/// `exp hook NAME ARGS…`: what the scripts in hooks/ call. Never fails git: problems are
/// printed as one line on stderr, and it exits 0; only a NAME that is no hook exp handles is
/// an error (exit 2).
struct HookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hook",
        abstract: "Run exp's part of a git hook (called by the installed hooks).",
        shouldDisplay: false
    )

    @Argument(help: "The git hook: post-commit, prepare-commit-msg, post-rewrite or pre-push.")
    var name: String

    @Argument(parsing: .allUnrecognized, help: "The hook's own arguments.")
    var arguments: [String] = []

    /// A name git never calls is a mistake (a typo in a hand-made hook): a usage error, not
    /// the silent success a real hook's problems get.
    func validate() throws {
        guard HookScript.names.contains(name) else {
            let close = Suggestions.phrase(Suggestions.closest(to: name, among: HookScript.names), quote: "'")
            throw ValidationError(
                "exp has no '\(name)' hook; it has " + HookScript.names.joined(separator: ", ")
                    + (close.map { " (\($0))" } ?? ""))
        }
    }

    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        let context = ExpContext(workingDirectory: FileManager.default.currentDirectoryPath, environment: environment)
        let terminal = Terminal(color: .never, environment: environment)
        defer { terminal.ignoredSettings(context.notices.takeIgnoredSettings()) }
        let readsInput = name == "pre-push" || name == "post-rewrite"
        let input =
            readsInput ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : ""
        do {
            let report = try Workspace(context: context).runHook(name, arguments: arguments, input: input)
            for tag in report.tagged { terminal.note("exp: tagged \(tag.name) at \(tag.commit.short())") }
            for tag in report.moved { terminal.note("exp: moved \(tag.name) to \(tag.commit.short())") }
            for tag in report.removed { terminal.note("exp: removed \(tag.name) (a better run has the tag)") }
            for note in report.notes { terminal.note(note) }
        } catch let error as ExpError {
            terminal.note("exp: \(name) hook: \(error.cliMessage)" + (error.cliHint.map { " (\($0))" } ?? ""))
        } catch {
            terminal.note("exp: \(name) hook: \(error)")
        }
    }
}
