import ArgumentParser
import ExpCore
import Foundation

/// `exp fsck`: check exp's refs, live folders, index and artifact store.
struct FsckCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Check exp's records, live folders, index and artifact store.",
        discussion: """
            Lists every problem found, each with the command that fixes it: refs under \
            refs/exp/ that hold no readable run (a blob, a missing object, a commit without \
            run.json, a run.json that is not JSON or of an unknown format, a second ref to \
            one run), live folders left behind or of runs whose exp is gone, runs recorded \
            as running that nothing can seal, an index that is damaged or behind the refs, \
            and stored artifacts that are damaged (their content is hashed) or missing. \
            Changes nothing. Exits 1 when it finds a problem.
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let workspace = try Workspace(context: context)
        let problems = try workspace.fsck()
        if output.json {
            try terminal.printJSON(problems.map(FsckJSON.init))
        } else if problems.isEmpty {
            terminal.note("exp: no problems found")
        } else {
            for problem in problems {
                terminal.print("\(problem.area.rawValue): \(problem.subject): \(problem.problem)")
                terminal.print("  fix: \(Self.describe(problem.fix))")
            }
            terminal.note("exp: \(problems.count) problem\(problems.count == 1 ? "" : "s") found")
        }
        if !problems.isEmpty { throw ExitCode(1) }
    }

    /// The fix as the user would type or do it.
    static func describe(_ fix: FsckProblem.Fix) -> String {
        switch fix {
        case .removeReference(let reference): "exp rm \(ShellQuoting.quote(reference))"
        case .removeRun(let id): "exp rm \(id.rawValue)"
        case .sealLostRuns: "exp list (seals it as lost)"
        case .removePath(let path): "rm -r \(ShellQuoting.quote(path))"
        case .reindex: "exp reindex"
        case .advice(let text): text
        }
    }
}

/// A problem as `exp fsck --json` prints it.
struct FsckJSON: Encodable {
    var area: String
    var subject: String
    var problem: String
    var fix: String

    init(_ problem: FsckProblem) {
        area = problem.area.rawValue
        subject = problem.subject
        self.problem = problem.problem
        fix = FsckCommand.describe(problem.fix)
    }
}
