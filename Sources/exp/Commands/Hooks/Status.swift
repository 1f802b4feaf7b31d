import ArgumentParser
import ExpCore
import Foundation

extension HooksCommand {
    /// `exp hooks status`.
    struct Status: ExpCommand {
        static let configuration = CommandConfiguration(abstract: "Show which hooks are installed where.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var output: JSONOption
        func run(_ context: ExpContext, _ terminal: Terminal) throws {
            let report = try Workspace(context: context).hooksStatus()
            try HooksCommand.render(report, json: output.json, terminal)
        }
    }
}
