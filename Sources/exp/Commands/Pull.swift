import ArgumentParser
import ExpCore
import Foundation

/// `exp pull`: bring others' runs.
struct PullCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Fetch runs and exp/ tags from a git remote.",
        discussion: """
            Fetches refs/exp/* and the exp/* tags with your own git. Nothing is forced or \
            pruned: runs here stay as they are when the remote holds them differently, and a \
            run still going here is never touched. Pulled runs show in `exp list` and \
            `exp checkout` restores their code.

            Every object fetched is checked as with `git -c transfer.fsckObjects=true fetch`: \
            a run whose trees git would refuse (an entry named .git, .., a duplicate name) is \
            refused and named, and exp exits 1; the other runs still arrive.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("The remote (default: the branch's remote, else origin).", valueName: "remote"))
    var remote: String?

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let report = try Workspace(context: context).pullRuns(from: remote)
        for line in report.rejected { terminal.note("exp: kept the local version: \(line)") }
        for refused in report.refused {
            let what = refused.runID.map { "run \($0)" } ?? refused.name
            terminal.note("exp: refused \(what) (\(refused.name)): git's object checks failed:\n\(refused.reason)")
        }
        var summary = "exp: pulled \(report.added.count) new runs from \(report.remote)"
        if !report.updated.isEmpty { summary += ", \(report.updated.count) updated" }
        if !report.tags.isEmpty { summary += ", \(report.tags.count) tags" }
        if !report.refused.isEmpty { summary += "; refused \(report.refused.count)" }
        terminal.note(summary)
        if !report.refused.isEmpty {
            terminal.note(
                "hint: a refused run holds objects git would not check out (a crafted or damaged record); "
                    + "ask its author to record it again")
            throw ExitCode(1)
        }
    }
}
