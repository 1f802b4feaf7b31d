import ArgumentParser
import ExpCore
import Foundation

extension HooksCommand {
    /// `exp hooks uninstall`.
    struct Uninstall: ExpCommand {
        static let configuration = CommandConfiguration(abstract: "Remove exp's git hooks, restoring yours.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let report = try Workspace(context: context).uninstallHooks()
            try HooksCommand.render(report, json: output.json, terminal)
        }
    }
}
