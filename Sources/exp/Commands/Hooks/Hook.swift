import ArgumentParser
import ExpCore
import Foundation

/// `exp hook NAME ARGS…`: what the scripts in hooks/ call. Never fails git: problems are
/// printed as one line on stderr, and it exits 0.
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
            terminal.note("exp: \(name) hook: \(error.message)" + (error.hint.map { " (\($0))" } ?? ""))
        } catch {
            terminal.note("exp: \(name) hook: \(error)")
        }
    }
}
