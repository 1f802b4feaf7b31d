import ArgumentParser
import ExpCore
import Foundation

/// `exp push`: share runs through a git remote.
struct PushCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "push",
        abstract: "Push runs (and their exp/ tags) to a git remote.",
        discussion: """
            Pushes refs/exp/runs/<id> of the runs named (all finished runs when none is) with \
            your own git, so ssh keys and credential helpers work as for `git push`. Nothing is \
            forced: a run the remote holds differently is listed as not pushed. With \
            exp.autopush=true the pre-push hook does this for the runs of the commits you push.

            Examples:
              exp push
              exp push origin brave-otter latest
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The remote (default: the branch's push remote, else origin).", valueName: "remote"))
    var remote: String?

    @Argument(help: ArgumentHelp("Runs to push (default: all finished runs).", valueName: "run"))
    var runs: [String] = []

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let workspace = try Workspace(context: context)
        let references = try runs.map { try RunRef(parsing: $0) }
        let report = try workspace.pushRuns(to: remote, runs: references)
        for name in report.stillRunning { terminal.note("exp: not pushed: \(name) is still running") }
        for line in report.rejected { terminal.note("exp: not pushed: \(line)") }
        var summary = "exp: pushed \(report.pushed.count) runs to \(report.remote)"
        if report.upToDate > 0 { summary += " (\(report.upToDate) already there)" }
        if !report.pushedTags.isEmpty { summary += ", \(report.pushedTags.count) tags" }
        terminal.note(summary)
        if !report.rejected.isEmpty { throw ExitCode(1) }
    }
}
