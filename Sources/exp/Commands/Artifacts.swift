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
            if global.json {
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
        if global.json {
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

/// `exp gc`: remove stored artifacts no run references.
struct GCCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove stored artifacts that no run links any more.",
        discussion: """
            Checkpoints are stored once under .git/exp/objects, whichever runs link them. After \
            runs are removed, gc deletes the objects none of the remaining runs link and says how \
            much space that freed. Objects that runs still going may link are kept.

            With --autosaves, gc first removes the autosaves (states saved by `exp checkout \
            --force`) older than --older-than (default 30d), with the copies of files they keep \
            outside git. The autosave the last checkout printed as the way back counts from \
            when it was printed.
            """
    )

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Only say what would be removed.")
    var dryRun = false

    @Flag(help: "Also remove old autosaves and their copies of files kept outside git.")
    var autosaves = false

    @Option(
        help: ArgumentHelp(
            "With --autosaves: remove those older than this (30d, 12h, 2w, 0; default 30d).", valueName: "age"))
    var olderThan: String?

    func validate() throws {
        if olderThan != nil && !autosaves { throw ValidationError("--older-than goes with --autosaves") }
        if let olderThan, Self.seconds(olderThan) == nil {
            throw ValidationError("bad age '\(olderThan)' for --older-than: use a number with s, m, h, d or w (30d)")
        }
    }

    /// An age such as `30d`, `12h`, `2w`, `90m`, `45s` or `0`, in seconds.
    static func seconds(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        if let number = Double(text), number == 0 { return 0 }
        guard let unit = text.last.flatMap({ units[$0] }), let number = Double(text.dropLast()), number >= 0,
            number.isFinite
        else { return nil }
        return number * unit
    }

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let workspace = try Workspace(context: context)
        try workspace.recoverLostRuns()
        let verb = dryRun ? "would remove" : "removed"
        var pruned: AutosavePruning?
        if autosaves {
            let limit = olderThan.flatMap(Self.seconds) ?? Workspace.defaultAutosaveAge
            pruned = try workspace.pruneAutosaves(olderThan: limit, dryRun: dryRun)
        }
        let result = try workspace.collectArtifactGarbage(dryRun: dryRun)
        for record in result.skippedBroken {
            terminal.note(
                "exp: warning: skipped broken record \(record.reference) (\(record.reason)); "
                    + "`exp fsck` says how to fix it")
        }
        if global.json {
            var json = GCJSON(result)
            json.removedAutosaves = pruned.map { $0.removed.map(\.record.name) }
            try terminal.printJSON(json)
            return
        }
        if let pruned {
            for save in pruned.removed {
                terminal.print("\(verb) \(save.record.name) (saved \(Format.date(save.record.startedAt)))")
            }
            for save in pruned.keptAsWayBack {
                terminal.note("exp: kept \(save.record.name): a recent checkout printed it as the way back")
            }
            let count = pruned.removed.count
            var line =
                "exp: \(verb) \(count) autosave\(count == 1 ? "" : "s") older than \(olderThan ?? "30d"); "
                + "kept \(pruned.kept)"
            if pruned.orphanCopies > 0 { line += "; \(verb) \(pruned.orphanCopies) copies of removed autosaves" }
            terminal.note(line)
        }
        for object in result.removed {
            terminal.print("\(verb) \(object.digest.hex) \(ByteCountText.format(object.size))")
        }
        var line =
            "exp: \(verb) \(result.removed.count) object\(result.removed.count == 1 ? "" : "s"), "
            + "\(dryRun ? "freeing" : "freed") \(ByteCountText.format(result.freedBytes)); "
            + "kept \(result.kept) (\(ByteCountText.format(result.keptBytes)))"
        if result.keptForLiveRuns > 0 { line += ", \(result.keptForLiveRuns) for runs still going" }
        terminal.note(line)
    }
}

/// `exp gc --json`.
struct GCJSON: Encodable {
    var dryRun: Bool
    var removed: [[String: String]]
    var freedBytes: Int64
    var kept: Int
    var keptBytes: Int64
    /// With `--autosaves`: the autosaves removed.
    var removedAutosaves: [String]?

    init(_ result: ArtifactGC) {
        dryRun = result.dryRun
        removed = result.removed.map { ["sha256": $0.digest.hex, "size": String($0.size)] }
        freedBytes = result.freedBytes
        kept = result.kept
        keptBytes = result.keptBytes
    }

    enum CodingKeys: String, CodingKey {
        case removed, kept
        case dryRun = "dry_run"
        case freedBytes = "freed_bytes"
        case keptBytes = "kept_bytes"
        case removedAutosaves = "removed_autosaves"
    }
}

/// `exp store-file PATH…` (plumbing, hidden): stores files in the artifact store and prints
/// each one's SHA-256; used by bench/artifacts.sh to time hashing and storing alone.
struct StoreFileCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-file", abstract: "Store files in the artifact store (plumbing).",
        shouldDisplay: false)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Files to store.", valueName: "path"))
    var paths: [String]

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let workspace = try Workspace(context: context)
        let store = ArtifactStore(workspace: workspace)
        let bar = ProgressBar()
        for path in paths {
            let absolute = path.hasPrefix("/") ? path : context.workingDirectory + "/" + path
            let object = try store.store(file: absolute, name: path, progress: bar.report)
            terminal.print(
                "\(object.digest.hex)  \(path)\(object.added ? "" : " (already stored)")"
                    + (object.reflinked ? " (reflink)" : ""))
        }
    }
}

/// A one-line progress bar on stderr for copies over 100 MB, drawn only when stderr is a
/// terminal.
final class ProgressBar: @unchecked Sendable {
    private let enabled = isatty(STDERR_FILENO) == 1
    private let lock = NSLock()

    /// Minimum size of a file that gets a bar.
    static let threshold: Int64 = 100_000_000

    /// Draws (or finishes) the bar for one report.
    @Sendable func report(_ progress: ArtifactProgress) {
        guard enabled, progress.totalBytes > Self.threshold else { return }
        lock.lock()
        defer { lock.unlock() }
        let fraction = Double(progress.bytesDone) / Double(max(progress.totalBytes, 1))
        let width = 30
        let filled = Int(fraction * Double(width))
        let path = TerminalText.escape(progress.path)
        let name = path.count > 40 ? "…" + path.suffix(39) : path
        let text =
            "\r\u{1B}[K\(progress.action.rawValue) \(name) [" + String(repeating: "#", count: filled)
            + String(repeating: " ", count: width - filled) + "] "
            + "\(Int(fraction * 100))% \(ByteCountText.format(progress.bytesDone))/\(ByteCountText.format(progress.totalBytes))"
        FileHandle.standardError.write(Data(text.utf8))
        if progress.bytesDone >= progress.totalBytes {
            FileHandle.standardError.write(Data("\n".utf8))
        }
    }
}
