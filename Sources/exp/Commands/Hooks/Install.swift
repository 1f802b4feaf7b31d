import ArgumentParser
import ExpCore
import Foundation

extension HooksCommand {
    /// `exp hooks install`.
    struct Install: ExpCommand {
        static let configuration = CommandConfiguration(abstract: "Install exp's git hooks.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let report = try Workspace(context: context).installHooks()
            try HooksCommand.render(report, json: output.json, terminal)
        }
    }
}
