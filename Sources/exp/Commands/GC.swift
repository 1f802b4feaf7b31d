import ArgumentParser
import ExpCore
import Foundation

/// `exp gc`: remove stored artifacts no run references.
struct GCCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove stored artifacts that no run links any more.",
        discussion: """
            Checkpoints are stored once under .git/exp/objects, whichever runs link them. After \
            runs are removed, gc deletes the objects none of the remaining runs link and says how \
            much space that freed. Objects that runs still going may link are kept. It also \
            removes the series cache files (.git/exp/series, the summaries exp plot keeps of \
            large runs) of runs that are gone.

            With --autosaves, gc first removes the autosaves (states saved by `exp checkout \
            --force`) older than --older-than (default 30d), with the copies of files they keep \
            outside git. The autosave the last checkout printed as the way back counts from \
            when it was printed.
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

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
        let seriesCache = try workspace.pruneSeriesCache(dryRun: dryRun)
        for record in result.skippedBroken {
            terminal.note(
                "exp: warning: skipped broken record \(record.reference) (\(record.reason)); "
                    + "`exp fsck` says how to fix it")
        }
        if output.json {
            var json = GCJSON(result)
            json.removedAutosaves = pruned.map { $0.removed.map(\.record.name) }
            json.seriesCacheFiles = seriesCache.files
            json.seriesCacheBytes = seriesCache.bytes
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
        if seriesCache.files > 0 {
            let count = seriesCache.files
            terminal.note(
                "exp: \(verb) \(count) series cache file\(count == 1 ? "" : "s") of runs that are gone, "
                    + "\(dryRun ? "freeing" : "freed") \(ByteCountText.format(seriesCache.bytes))")
        }
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
    /// Series cache files (plots' summaries of removed runs) removed, and their bytes.
    var seriesCacheFiles = 0
    var seriesCacheBytes: Int64 = 0

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
        case seriesCacheFiles = "removed_series_cache_files"
        case seriesCacheBytes = "removed_series_cache_bytes"
    }
}
