import ExpCore

/// How the CLI words the core's errors: the exit status for each kind, and the message and
/// hint in the CLI's own terms (commands and flags), from the error's typed `reason`. The core
/// names no command or flag; this is the one place that does for errors (as jj's
/// `command_error.rs` does for jj-lib's errors).
extension ExpError {
    /// 2 for usage errors, 1 for every other failure.
    var exitCode: Int32 { kind == .usage ? 2 : 1 }

    /// The message, followed by the lists the reason carries (candidates, blocking paths),
    /// one per line.
    var cliMessage: String {
        switch reason {
        case .ambiguousRun(_, let candidates, let total):
            return message + ":\n"
                + Self.lines(candidates.map { "\($0.id.short)  \($0.name)" }, total: total, shown: 10)
        case .checkoutBlocked(_, let paths), .artifactsBlocked(_, let paths):
            return message + ":\n" + Self.lines(paths, total: paths.count, shown: 20)
        case .cannotCombine(let first, let second):
            return "\(Self.option(first)) and \(Self.option(second)) cannot be used together"
        default:
            return message
        }
    }

    /// The hint in the CLI's words: the command or flag that does what the core's plain hint
    /// says, or the core's hint itself where the reason needs no CLI words.
    var cliHint: String? {
        func adding(_ words: String) -> String { hint.map { $0 + "; " + words } ?? words }
        switch reason {
        case .noSuchFolder:
            return "check the path given to -C"
        case .notARepository:
            return "run exp inside a git repository, or create one with `git init`"
        case .bareRepository(let path):
            return "exp records runs of a working tree; clone it (`git clone \(path) DIR`) and run exp there"
        case .noRuns:
            return adding("record one with `exp run -- COMMAND`")
        case .runNotFound(let reference, let suggestions):
            guard suggestions.isEmpty else { return hint }
            switch reference {
            case .text: return adding("`exp list` shows all")
            case .tree(let hex): return adding("`exp list --where 'tree = \(hex)'`")
            case .latest, .best: return hint
            }
        case .ambiguousRun(.tree(let hex), _, _):
            return "name one of them, or list them with `exp list --where 'tree = \(hex)'`"
        case .badRunReference:
            return adding("`exp list` shows them")
        case .badFilter:
            return "e.g. --where \"lr < 0.01 and status = succeeded and val_loss.min < 0.3\"; see `exp list --help`"
        case .noValues(let key):
            return "`exp list --columns name,\(key)` shows them"
        case .runNameTaken:
            return "choose another name, or `exp rename` that run first"
        case .cannotCombine:
            return "use one or the other"
        case .checkoutBlocked:
            return "use --force to save your current state first (exp checkout autosave-… brings it back)"
        case .artifactsBlocked:
            return "use --force to replace them (each is kept as NAME.exp-backup-N), or --into DIR"
        case .needsNewBranch(let run):
            return "check it out on a new, empty branch: exp checkout \(run) --branch NAME"
        case .needsThisWorktree(let run):
            return "use `exp checkout \(run)` in this worktree"
        case .savedBeforeFailure(let autosave):
            return "your state before the checkout is saved: exp checkout \(autosave)"
        case .noSuchArtifacts(let run, _):
            return "list them with: exp artifacts \(run)"
        case .tamperedRun(let run):
            return adding("`exp rm \(run)` removes it")
        case .runStillRunning(let run):
            return "wait for it to end (`exp log --follow \(run)`); a run whose exp died is sealed `lost` by the "
                + "next exp command"
        case .changedConcurrently(let run):
            return run.map { "look again with `exp show \($0.short)`" } ?? "look again with `exp list --all`"
        case .indexDamaged:
            return "run `exp reindex` to rebuild it from the refs"
        case .diskFull:
            return "the disk is full; free space (`exp gc` removes objects no run uses)"
        case .remoteNotChosen:
            return "name it: exp push REMOTE"
        case .hookInstallBlocked:
            return "move one of them away, then run `exp hooks install` again"
        case .needsSecondRun(let run, let part):
            return "give a second run: `exp diff \(run) RUN2 --\(part.rawValue)`"
        case .noCommand:
            return "put the command after --: exp run -- python train.py"
        case .maskedCredentials(let run):
            return "run its command yourself with the real values (`exp checkout \(run) --into DIR` brings its code "
                + "back), under `exp run`"
        case .ambiguousRun, nil:
            return hint
        }
    }

    /// The option or argument of `exp checkout` that asks for `part`.
    private static func option(_ part: RequestPart) -> String {
        switch part {
        case .folder: "--into"
        case .branch: "--branch"
        case .paths: "paths"
        }
    }

    /// Up to `shown` items, indented, one per line, and how many more there are of `total`.
    private static func lines(_ items: [String], total: Int, shown: Int) -> String {
        items.prefix(shown).map { "  " + $0 }.joined(separator: "\n")
            + (total > shown ? "\n  … and \(total - shown) more" : "")
    }
}
