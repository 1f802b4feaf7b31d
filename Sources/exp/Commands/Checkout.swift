import ArgumentParser
import ExpCore
import Foundation

/// `exp checkout`: bring back the code of a run.
struct CheckoutCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkout",
        abstract: "Bring back the code a run ran with.",
        discussion: """
            Puts HEAD at the run's base commit (on its branch when the branch still points \
            there, else detached), the working tree equal to the run's snapshot (edits, new \
            files and deletions included) and the index at the base commit, so `git status` \
            shows the changes you had when the run started. Ignored files, and files snapshots \
            leave out (secrets, large files, .expignore), are never touched.

            When uncommitted work would be changed, exp refuses and lists it; --force saves \
            your current state first as an autosave (`exp checkout autosave-…` brings it \
            back; `exp list --autosaves` lists them; `exp gc --autosaves` prunes old ones). \
            Files snapshots leave out that stand where the checkout could change them are \
            copied outside git with the autosave (under .git/exp/autosaves/) and put back with \
            it; secrets and large files never enter a git object. When the working tree is \
            exactly the state a run or autosave holds (as right after checking it out), \
            nothing needs saving: no --force is needed, and that run or autosave is the way back.

            Examples:
              exp checkout brave-otter
              exp checkout latest --branch retry-lr
              exp checkout brave-otter --into ../brave-otter
              exp checkout brave-otter -- train.py
              exp checkout brave-otter --artifacts
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Argument(help: ArgumentHelp("The run: a name, an id prefix, latest or latest~N.", valueName: "run"))
    var run: String

    @Flag(help: "Save the current state as an autosave first, then check out even over local changes.")
    var force = false

    @Option(help: ArgumentHelp("Create this branch at the run's base commit and check it out.", valueName: "branch"))
    var branch: String?

    @Option(help: ArgumentHelp("Check the run out into a new linked worktree at DIR.", valueName: "DIR"))
    var into: String?

    @Flag(help: "Also restore the run's stored artifacts (checkpoints) to their paths.")
    var artifacts = false

    @Argument(
        parsing: .postTerminator,
        help: ArgumentHelp("Only bring back these paths (HEAD and the index stay).", valueName: "path"))
    var paths: [String] = []

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let workspace = try Workspace(context: context)
        let request = CheckoutRequest(
            run: try RunRef(parsing: run), force: force, branch: branch, into: into, paths: paths)
        var restored: ArtifactRestoreResult?
        let result: CheckoutResult
        if artifacts {
            try workspace.recoverLostRuns()
            let both = try workspace.checkoutWithArtifacts(request, progress: ProgressBar().report)
            result = both.checkout
            restored = both.artifacts
        } else {
            result = try workspace.checkout(request)
        }
        let record = result.run.record
        if output.json {
            var json = CheckoutJSON(result)
            json.artifacts = restored?.artifacts.map(RestoredArtifactJSON.init)
            try terminal.printJSON(json)
            if !result.notRestored.isEmpty { throw ExitCode(1) }
            return
        }
        if let autosave = result.autosave {
            terminal.note("exp: saved your current state as \(autosave.record.name)")
        }
        if let folder = result.savedFilesFolder {
            let count = result.savedFiles.count
            let names = result.savedFiles.prefix(10).map(\.path).joined(separator: ", ")
            terminal.note(
                "exp: \(count) file\(count == 1 ? "" : "s") snapshots leave out (secret, large or ignored) "
                    + "kept outside git in \(folder): \(names)\(count > 10 ? ", …" : "")")
        }
        for path in result.notRestored {
            terminal.note("exp: not restored: \(path.path) (\(path.reason))")
        }
        if let note = result.note {
            terminal.note("exp: \(note)" + (result.branchMovedOn != nil ? " (use --branch to name it)" : ""))
        }
        var line = "exp: checked out \(record.name) \(record.id.short)"
        switch result.head {
        case .unchanged: line += " (\(result.changed.count) paths)"
        case .branch(let name): line += " on branch \(name)"
        case .detached(let commit): line += " at \(commit.short()) (detached HEAD)"
        case .unborn(let name): line += " on unborn branch \(name)"
        }
        if request.into != nil { line += " into \(result.worktree)" }
        terminal.note(line)
        if let restored {
            ArtifactsCommand.renderRestore(restored.artifacts, folder: restored.folder, terminal: terminal)
        }
        if let wayBack = result.wayBack {
            terminal.note("hint: to go back: exp checkout \(wayBack.record.name) --force")
        }
        if !result.notRestored.isEmpty { throw ExitCode(1) }
    }
}

/// `exp checkout --json`: what was checked out and where HEAD is.
struct CheckoutJSON: Encodable {
    var run: String
    var id: String
    var autosave: String?
    /// The run or autosave that brings back the state before this checkout.
    var wayBack: String?
    /// Files the autosave keeps outside git.
    var savedFiles: [String]?
    var branch: String?
    var detached: String?
    var note: String?
    var changed: [String]
    var notRestored: [[String: String]]
    var worktree: String
    /// With `--artifacts`: what happened to each artifact.
    var artifacts: [RestoredArtifactJSON]?

    init(_ result: CheckoutResult) {
        run = result.run.record.name
        id = result.run.record.id.rawValue
        autosave = result.autosave?.record.name
        wayBack = result.wayBack?.record.name
        savedFiles = result.savedFiles.isEmpty ? nil : result.savedFiles.map(\.path)
        switch result.head {
        case .unchanged: break
        case .branch(let name), .unborn(let name): branch = name
        case .detached(let commit): detached = commit.hex
        }
        note = result.note
        changed = result.changed
        notRestored = result.notRestored.map { ["path": $0.path, "reason": $0.reason] }
        worktree = result.worktree
    }

    enum CodingKeys: String, CodingKey {
        case run, id, autosave, branch, detached, note, changed, worktree, artifacts
        case notRestored = "not_restored"
        case wayBack = "way_back"
        case savedFiles = "saved_files"
    }
}
