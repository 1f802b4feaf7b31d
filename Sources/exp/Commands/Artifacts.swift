import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `exp artifacts RUN`: the files a run wrote, and bringing them back.
struct ArtifactsCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "artifacts",
        abstract: "List a run's checkpoints and other artifacts, or restore them.",
        discussion: """
            exp links to each run the files it created or changed that match `exp run \
            --artifact GLOB` or the exp.artifacts config (several values allowed), or, with \
            neither, PyTorch Lightning's checkpoints (lightning_logs/version_*/checkpoints/*.ckpt \
            and *.ckpt under any folder named checkpoints). Their content is kept once, by \
            SHA-256, under .git/exp/objects; exp.artifactMaxSize caps what is stored.

            --restore writes them back to their paths (or under --into DIR), checking each \
            against its hash. An identical file is left alone; a different one makes exp refuse \
            unless --force, which keeps it as NAME.exp-backup-N.

            Examples:
              exp artifacts brave-otter
              exp artifacts brave-otter --restore
              exp artifacts latest --restore lightning_logs/version_0/checkpoints/last.ckpt --into /tmp/ckpt
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    @Argument(help: ArgumentHelp("The run: a name, an id prefix, latest or latest~N.", valueName: "run"))
    var run: String

    @Flag(help: "Write the artifacts back (all, or the paths given).")
    var restore = false

    @Argument(help: ArgumentHelp("With --restore: only these artifacts (or folders of them).", valueName: "path"))
    var paths: [String] = []

    @Option(help: ArgumentHelp("With --restore: write under DIR instead of the worktree.", valueName: "DIR"))
    var into: String?

    @Flag(help: "With --restore: replace different files, keeping each as NAME.exp-backup-N.")
    var force = false

    func validate() throws {
        if !restore && (!paths.isEmpty || into != nil || force) {
            throw ValidationError("paths, --into and --force go with --restore")
        }
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let reference = try RunRef(parsing: run)
        if restore {
            let workspace = try Workspace(context: context)
            try workspace.recoverLostRuns()
            let bar = ProgressBar()
            let result = try workspace.restoreArtifacts(
                ArtifactRestoreRequest(run: reference, paths: paths, into: into, force: force),
                progress: bar.report)
            if output.json {
                try terminal.printJSON(result.artifacts.map(RestoredArtifactJSON.init))
            } else {
                ArtifactsCommand.renderRestore(result.artifacts, folder: result.folder, terminal: terminal)
            }
            if result.artifacts.contains(where: { if case .notStored = $0.outcome { true } else { false } }) {
                throw ExitCode(1)
            }
            return
        }
        let store = try storeAfterRecovery(context)
        let stored = try store.resolve(reference, includeAutosaves: true)
        let file = try store.artifacts(of: stored)
        if output.json {
            try terminal.printJSON(file.artifacts)
            return
        }
        if file.artifacts.isEmpty {
            terminal.note(
                stored.isLive
                    ? "exp: run \(stored.record.name) is still going; its artifacts are linked when it ends"
                    : "exp: run \(stored.record.name) linked no artifacts")
            return
        }
        let widths = (
            path: file.artifacts.map(\.path.count).max() ?? 0,
            size: file.artifacts.map { ByteCountText.format($0.size).count }.max() ?? 0
        )
        for artifact in file.artifacts {
            let size = ByteCountText.format(artifact.size)
            var line =
                artifact.path.padding(toLength: widths.path, withPad: " ", startingAt: 0) + "  "
                + String(repeating: " ", count: widths.size - size.count) + size + "  "
            if let digest = artifact.sha256 {
                line += digest.short
            } else {
                line += "-".padding(toLength: 12, withPad: " ", startingAt: 0)
            }
            if !artifact.stored { line += "  not stored: \(artifact.reason ?? "-")" }
            terminal.print(line)
        }
        if let summary = stored.record.artifacts, let best = summary.best {
            terminal.note("exp: best checkpoint by \(best.metric) (\(best.mode)): \(best.path)")
        }
    }

    static func renderRestore(_ artifacts: [RestoredArtifact], folder: String, terminal: Terminal) {
        var written = 0
        for item in artifacts {
            switch item.outcome {
            case .written:
                written += 1
                terminal.note("exp: restored \(item.artifact.path)")
            case .unchanged:
                terminal.note("exp: unchanged \(item.artifact.path)")
            case .replaced(let backup):
                written += 1
                terminal.note("exp: restored \(item.artifact.path) (the old file is now \(backup))")
            case .notStored(let reason):
                terminal.note("exp: not restored: \(item.artifact.path) (\(reason))")
            }
        }
        let unchanged = artifacts.filter { $0.outcome == .unchanged }.count
        terminal.note(
            "exp: \(written) artifact\(written == 1 ? "" : "s") written, \(unchanged) unchanged, in \(folder)")
    }
}

/// One restored artifact as `--json` prints it.
struct RestoredArtifactJSON: Encodable {
    var path: String
    var destination: String
    var outcome: String
    var backup: String?
    var reason: String?

    init(_ item: RestoredArtifact) {
        path = item.artifact.path
        destination = item.destination
        switch item.outcome {
        case .written: outcome = "written"
        case .unchanged: outcome = "unchanged"
        case .replaced(let name):
            outcome = "replaced"
            backup = name
        case .notStored(let why):
            outcome = "not-stored"
            reason = why
        }
    }
}
