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

    static func render(_ report: HooksReport, json: Bool, _ terminal: Terminal) throws {
        if json {
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
