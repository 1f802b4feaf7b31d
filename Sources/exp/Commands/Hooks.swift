import ArgumentParser
import ExpCore
import Foundation

/// `exp hooks install | uninstall | status`.
struct HooksCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hooks",
        abstract: "Install, remove or show the git hooks that tag commits with runs.",
        discussion: """
            The hooks go where git runs them: core.hooksPath when set, else .git/hooks of the \
            main worktree (shared by linked worktrees). A hook already there is kept and run \
            first, with the same arguments and input; `exp hooks uninstall` puts it back as it was.

              post-commit         tag runs made with the committed code (exp.autotag)
              prepare-commit-msg  add Exp-Run: trailers (exp.trailers)
              post-rewrite        move exp's tags when commits are amended or rebased
              pre-push            push the runs of pushed commits (exp.autopush)
            """,
        subcommands: [Install.self, Uninstall.self, Status.self]
    )

    struct Install: ExpCommand {
        static let configuration = CommandConfiguration(abstract: "Install exp's git hooks.")
        @OptionGroup var global: GlobalOptions
        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let report = try Workspace(context: context).installHooks()
            try HooksCommand.render(report, global, terminal)
        }
    }

    struct Uninstall: ExpCommand {
        static let configuration = CommandConfiguration(abstract: "Remove exp's git hooks, restoring yours.")
        @OptionGroup var global: GlobalOptions
        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let report = try Workspace(context: context).uninstallHooks()
            try HooksCommand.render(report, global, terminal)
        }
    }

    struct Status: ExpCommand {
        static let configuration = CommandConfiguration(abstract: "Show which hooks are installed where.")
        @OptionGroup var global: GlobalOptions
        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let report = try Workspace(context: context).hooksStatus()
            try HooksCommand.render(report, global, terminal)
        }
    }

    static func render(_ report: HooksReport, _ global: GlobalOptions, _ terminal: Terminal) throws {
        if global.json {
            try terminal.printJSON(HooksJSON(report))
            return
        }
        terminal.print("hooks folder: \(report.folder)" + (report.fromHooksPath ? " (core.hooksPath)" : ""))
        let width = report.hooks.map(\.name.count).max() ?? 0
        for hook in report.hooks {
            let text = hook.action ?? describe(hook.state)
            terminal.print("  " + hook.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + text)
        }
    }

    static func describe(_ state: HookState) -> String {
        switch state {
        case .absent: "not installed"
        case .installed: "installed"
        case .installedChaining: "installed; runs your earlier hook first"
        case .outdated: "installed by another exp version; `exp hooks install` updates it"
        case .foreign: "another hook (not exp's); `exp hooks install` chains it"
        }
    }
}

/// `exp hooks … --json`.
struct HooksJSON: Encodable {
    var folder: String
    var hooksPath: Bool
    var hooks: [[String: String]]

    init(_ report: HooksReport) {
        folder = report.folder
        hooksPath = report.fromHooksPath
        hooks = report.hooks.map { hook in
            var entry = ["name": hook.name, "path": hook.path, "state": "\(hook.state)"]
            if let action = hook.action { entry["action"] = action }
            return entry
        }
    }

    enum CodingKeys: String, CodingKey {
        case folder, hooks
        case hooksPath = "core_hooks_path"
    }
}

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
