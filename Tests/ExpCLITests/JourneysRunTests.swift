import ExpTestSupport
import Foundation
import Testing

/// Golden journeys through the commands that record and read runs. Each step's exit code,
/// stdout and stderr are in Golden/journeys/<journey>/; re-record with
/// `EXP_RECORD_SNAPSHOTS=1 swift test --filter Journeys`.
@Suite("Journeys: run, list, show, log, metrics, diff, rename, rm, fsck, gc")
struct JourneysRunTests {
    @Test func recordAndReadRuns() throws {
        let journey = try Journey("record-and-read", fixture: "one-commit")
        let loss = "echo 'step 1 loss: 0.5'; echo 'step 2 loss: 0.25'"
        try journey.exp(["run", "--", "sh", "-c", loss, "train", "--lr", "0.1"], "run")
        try journey.exp(
            [
                "run", "--name", "small-lr", "-m", "a smaller learning rate", "-p", "seed=1", "--", "sh", "-c",
                "echo 'step 1 loss: 0.4'; echo 'step 2 loss: 0.125'", "train", "--lr", "0.01",
            ],
            "run-named")
        try journey.exp(["run", "--", "sh", "-c", "echo 'loss: 9'; echo boom >&2; exit 3"], "run-failing")
        try journey.exp(["run", "--name", "small-lr", "--", "true"], "run-name-taken")
        try journey.exp(["run"], "run-without-command")
        try journey.exp(["list"], "list")
        try journey.exp(["list", "--where", "status = failed"], "list-where")
        try journey.exp(["list", "--sort", "loss", "--columns", "name,lr,loss"], "list-sort-columns")
        try journey.exp(["list", "--json"], "list-json")
        try journey.exp(["list", "--csv"], "list-csv")
        try journey.exp(["list", "--where", "los < 1"], "list-unknown-key")
        try journey.exp(["show", "small-lr"], "show")
        try journey.exp(["show", "small-lr", "--json"], "show-json")
        try journey.exp(["show", "latest"], "show-failed")
        try journey.exp(["show", "no-such-run"], "show-unknown")
        try journey.exp(["show", "1"], "show-ambiguous-prefix")
        try journey.exp(["log", "small-lr"], "log")
        try journey.exp(["log", "latest"], "log-failed")
        try journey.exp(["metrics", "small-lr"], "metrics")
        try journey.exp(["metrics", "small-lr", "--csv"], "metrics-csv")
        try journey.exp(["metrics", "small-lr", "--json"], "metrics-json")
        try journey.exp(["metrics", "small-lr", "los"], "metrics-unknown-key")
        try journey.exp(["diff", "latest~2", "small-lr"], "diff-runs")
        try journey.exp(["diff", "latest~2", "small-lr", "--params"], "diff-params")
        try journey.exp(["diff", "latest~2", "small-lr", "--metrics"], "diff-metrics")
        try journey.exp(["rename", "small-lr", "lr-0.01"], "rename")
        try journey.exp(["rename", "lr-0.01", "latest"], "rename-reserved")
        try journey.exp(["note", "lr-0.01", "best so far"], "note")
        try journey.exp(["rm", "latest"], "rm")
        try journey.exp(["rm", "no-such-run"], "rm-unknown")
        try journey.exp(["list"], "list-after-rm")
        try journey.exp(["fsck"], "fsck")
        try journey.exp(["gc"], "gc")
        try journey.exp(["reindex"], "reindex")
    }

    @Test func plotRuns() throws {
        let journey = try Journey("plot", fixture: "two-runs")
        try journey.exp(["plot", "first", "second", "loss"], "plot")
        try journey.exp(["plot", "first", "los"], "plot-unknown-key")
        try journey.exp(["plot", "first", "--svg", "loss.svg"], "plot-svg")
        let svg = try journey.repo.read("loss.svg")
        #expect(svg.hasPrefix("<svg") || svg.hasPrefix("<?xml"), "\(svg.prefix(80))")
    }
}

@Suite("Journeys: snapshot, diff, checkout, rerun, artifacts")
struct JourneysCodeTests {
    @Test func bringBackCode() throws {
        let journey = try Journey("bring-back-code", fixture: "dirty-tree")
        try journey.exp(["snapshot"], "snapshot")
        try journey.exp(["snapshot", "--json"], "snapshot-json")
        try journey.exp(["run", "--name", "v2", "--", "sh", "-c", "cat train.py"], "run")
        try journey.git(["add", "-A"])
        try journey.git(["commit", "-q", "-m", "v2"])
        try journey.repo.write("train.py", "print('v3')\n")
        try journey.exp(["diff", "v2"], "diff-worktree")
        try journey.exp(["diff", "v2", "--stat"], "diff-stat")
        try journey.exp(["diff", "v2", "--name-only"], "diff-name-only")
        try journey.exp(["checkout", "v2"], "checkout-refused")
        try journey.exp(["checkout", "v2", "--into", "../v2-code"], "checkout-into")
        #expect(
            try String(contentsOfFile: journey.repo.folder.path + "/v2-code/train.py", encoding: .utf8)
                == "print('v2')\n")
        try journey.exp(["checkout", "v2", "--force"], "checkout-force")
        #expect(try journey.repo.read("train.py") == "print('v2')\n")
        try journey.exp(["checkout", "v2", "--", "train.py"], "checkout-paths")
        try journey.exp(["checkout", "v2", "--branch", "from-v2"], "checkout-branch")
        try journey.exp(["rerun", "v2"], "rerun")
        try journey.exp(["list", "--all"], "list-all")
    }

    @Test func keepAndRestoreArtifacts() throws {
        let journey = try Journey("artifacts", fixture: "one-commit")
        try journey.git(["config", "exp.artifactMaxSize", "1k"])
        try journey.exp(
            [
                "run", "--name", "ckpt", "--artifact", "out/*.ckpt", "--", "sh", "-c",
                // A fixed modification time: the record keeps the file's own.
                "mkdir -p out; echo weights > out/model.ckpt; echo notes > out/notes.txt; "
                    + "touch -d @1767323045 out/model.ckpt",
            ],
            "run")
        try journey.exp(["artifacts", "ckpt"], "artifacts")
        try journey.exp(["artifacts", "ckpt", "--json"], "artifacts-json")
        try journey.repo.write("out/model.ckpt", "changed\n")
        try journey.exp(["artifacts", "ckpt", "--restore"], "restore-refused")
        try journey.exp(["artifacts", "ckpt", "--restore", "--force"], "restore-force")
        #expect(try journey.repo.read("out/model.ckpt") == "weights\n")
        try journey.exp(["artifacts", "ckpt", "--restore", "--into", "../restored"], "restore-into")
        try journey.exp(["rm", "ckpt"], "rm")
        try journey.exp(["gc"], "gc")
        try journey.exp(["fsck"], "fsck")
    }
}

@Suite("Journeys: hooks, push, pull")
struct JourneysShareTests {
    @Test func tagCommitsWithHooks() throws {
        let journey = try Journey("hooks", fixture: "one-commit")
        try journey.exp(["hooks", "status"], "status-none")
        try journey.exp(["hooks", "install"], "install")
        try journey.exp(["hooks", "status"], "status-installed")
        try journey.repo.write("train.py", "print('tagged')\n")
        try journey.exp(["run", "--name", "tagged", "--", "true"], "run")
        try journey.git(["add", "-A"])
        try journey.gitWithHooks(["commit", "-q", "-m", "the code of run tagged"], "git-commit")
        #expect(try journey.git(["tag", "--list", "exp/*"]) == "exp/tagged\n")
        try journey.exp(["show", "tagged"], "show-linked")
        try journey.exp(["hooks", "uninstall"], "uninstall")
        try journey.exp(["hooks", "status"], "status-uninstalled")
    }

    @Test func shareRunsThroughARemote() throws {
        let journey = try Journey("share", fixture: "one-commit")
        try journey.repo.runFixture("with-bare-remote", exp: builtExp)
        try journey.git(["push", "-q", "origin", "main"])
        try journey.exp(["run", "--name", "shared", "--", "sh", "-c", "echo 'loss: 0.25'"], "run")
        try journey.exp(["push"], "push")
        try journey.exp(["push", "nowhere"], "push-unknown-remote")
        let other = journey.repo.folder.path + "/other"
        try journey.git(["clone", "-q", "remote.git", other], in: journey.repo.folder.path)
        try journey.exp(["list"], "list-before-pull", in: other)
        try journey.exp(["pull"], "pull", in: other)
        try journey.exp(["list"], "list-after-pull", in: other)
        try journey.exp(["pull"], "pull-again", in: other)
    }
}
