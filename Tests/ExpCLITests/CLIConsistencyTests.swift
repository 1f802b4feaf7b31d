import ExpTestSupport
import Foundation
import Testing

/// What a new user met: flags that did nothing, typos met with no help, errors in two styles.
@Suite("exp's commands behave alike (binary)")
struct CLIConsistencyTests {
    /// A repository with one committed file.
    private func makeRepo() throws -> TestRepo {
        let repo = try TestRepo()
        try repo.write("train.py", "print(1)\n")
        try repo.commitAll()
        return repo
    }

    @Test func runJSONPrintsTheSealedRunAsShowDoesAndNothingOfItsOwn() throws {
        let repo = try makeRepo()
        let run = try repo.runExp(["run", "--json", "--name", "quiet", "--", "sh", "-c", "echo 'loss: 0.5'"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr == "", "exp's own lines are left out with --json")
        #expect(run.stdout.hasPrefix("loss: 0.5\n"), "the command's output still passes through")
        let show = try repo.runExp(["show", "--json", "quiet"])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(run.stdout == "loss: 0.5\n" + show.stdout)
        let object = try #require(
            JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "succeeded")
        #expect(
            object["record_commit"] as? String
                == (try repo.gitLine(["rev-parse", "refs/exp/runs/" + (object["id"] as? String ?? "")])))
    }

    @Test func runJSONOfAFailedCommandKeepsItsExitStatusAndStillPrintsTheRun() throws {
        let repo = try makeRepo()
        let run = try repo.runExp(["run", "--json", "--name", "broken", "--", "sh", "-c", "exit 3"])
        #expect(run.status == 3)
        let object = try #require(JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        #expect(object["name"] as? String == "broken")
        #expect(object["status"] as? String == "failed")
        #expect(!run.stderr.contains("exp: run broken"), "no human summary line: \(run.stderr)")
    }

    @Test func rerunJSONPrintsTheNewRunAsShowDoesAndNoTable() throws {
        let repo = try makeRepo()
        #expect(try repo.runExp(["run", "--name", "first", "--", "sh", "-c", "echo 'loss: 0.5'"]).status == 0)
        let rerun = try repo.runExp(["rerun", "--json", "first"])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stderr == "", "exp's own lines are left out with --json")
        #expect(rerun.stdout.hasPrefix("loss: 0.5\n"))
        #expect(!rerun.stdout.contains("METRIC"), "no side-by-side table")
        let json = String(rerun.stdout.dropFirst("loss: 0.5\n".count))
        let object = try #require(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let name = try #require(object["name"] as? String)
        #expect(name != "first")
        #expect(json == (try repo.runExp(["show", "--json", name]).stdout))
    }

    @Test func renameJSONPrintsTheRenamedRun() throws {
        let repo = try makeRepo()
        #expect(try repo.runExp(["run", "--name", "before", "--", "true"]).status == 0)
        let renamed = try repo.runExp(["rename", "--json", "before", "after"])
        #expect(renamed.status == 0, "\(renamed.stderr)")
        let show = try repo.runExp(["show", "--json", "after"])
        #expect(renamed.stdout == show.stdout)
        #expect(renamed.stdout.contains("\"name\" : \"after\""))
    }

    @Test(
        "a command that prints no JSON does not offer --json",
        arguments: [["log", "latest"], ["rm", "latest"], ["note", "latest"], ["push"], ["reindex"]])
    func jsonIsRefusedWhereItMeansNothing(_ arguments: [String]) throws {
        let repo = try makeRepo()
        #expect(try repo.runExp(["run", "--", "true"]).status == 0)
        let result = try repo.runExp(arguments + ["--json"])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("exp: error: unknown option '--json'\n"), "\(result.stderr)")
        #expect(try repo.runExp(["show", "latest"]).status == 0, "nothing was done: the run is still there")
    }

    @Test func aMistypedCommandGetsADidYouMean() throws {
        let repo = try makeRepo()
        let list = try repo.runExp(["lsit"])
        #expect(list.status == 2)
        #expect(list.stdout == "")
        #expect(list.stderr == "exp: error: exp has no command 'lsit'\nhint: did you mean 'list'? see `exp help`\n")
        let hooks = try repo.runExp(["hooks", "instal"])
        #expect(hooks.status == 2)
        #expect(
            hooks.stderr
                == "exp: error: exp hooks has no command 'instal'\nhint: did you mean 'install'? see `exp hooks --help`\n"
        )
        let nothing = try repo.runExp(["frobnicate"])
        #expect(nothing.status == 2)
        #expect(nothing.stderr == "exp: error: exp has no command 'frobnicate'\nhint: see `exp help`\n")
    }

    @Test func aMistypedRunNameGetsTheNearestNames() throws {
        let repo = try makeRepo()
        for name in ["brave-otter", "calm-heron"] {
            #expect(try repo.runExp(["run", "--name", name, "--", "true"]).status == 0)
        }
        for typo in ["brave-ottr", "barve-otter", "brave-otterr", "otter"] {
            let result = try repo.runExp(["show", typo])
            #expect(result.status != 0)
            #expect(result.stderr.hasPrefix("exp: error: no run named '\(typo)'\n"), "\(result.stderr)")
            #expect(result.stderr.contains("hint: did you mean brave-otter?\n"), "\(typo): \(result.stderr)")
        }
        let far = try repo.runExp(["show", "zzz"])
        #expect(far.status != 0)
        #expect(!far.stderr.contains("did you mean"), "\(far.stderr)")
    }

    @Test func argumentErrorsSpeakExpsDialect() throws {
        let repo = try makeRepo()
        let missing = try repo.runExp(["show"])
        #expect(missing.status == 2)
        #expect(missing.stderr == "exp: error: missing expected argument '<run>'\nhint: see `exp show --help`\n")
        let option = try repo.runExp(["list", "--bogus"])
        #expect(option.status == 2)
        #expect(option.stderr == "exp: error: unknown option '--bogus'\nhint: see `exp list --help`\n")
        let nested = try repo.runExp(["hooks", "status", "--bogus"])
        #expect(nested.status == 2)
        #expect(nested.stderr == "exp: error: unknown option '--bogus'\nhint: see `exp hooks status --help`\n")
        let near = try repo.runExp(["metrics", "latest", "--cvs"])
        #expect(near.status == 2)
        #expect(
            near.stderr == "exp: error: unknown option '--cvs'\nhint: did you mean '--csv'? see `exp metrics --help`\n")
        // exp's own usage errors keep their words and get the same hint.
        let own = try repo.runExp(["list", "--csv", "--json"])
        #expect(own.status == 2)
        #expect(own.stderr == "exp: error: --csv and --json cannot be used together\nhint: see `exp list --help`\n")
    }

    @Test func aHookExpDoesNotHandleIsAUsageErrorAndRealHooksStillRun() throws {
        let repo = try makeRepo()
        let unknown = try repo.runExp(["hook", "post-comit"])
        #expect(unknown.status == 2)
        #expect(
            unknown.stderr.hasPrefix(
                "exp: error: exp has no 'post-comit' hook; it has prepare-commit-msg, post-commit, post-rewrite, "
                    + "pre-push (did you mean 'post-commit'?)\n"), "\(unknown.stderr)")
        // The real hooks, with the arguments git passes them.
        #expect(try repo.runExp(["run", "--", "true"]).status == 0)
        try repo.write("MSG", "message\n")
        let prepare = try repo.runExp(["hook", "prepare-commit-msg", repo.root + "/MSG", "message"])
        #expect(prepare.status == 0, "\(prepare.stderr)")
        #expect(try repo.runExp(["hook", "post-commit"]).status == 0)
        let rewrite = try runProcess(
            [builtExp, "hook", "post-rewrite", "amend"], in: repo.root, environment: repo.environment, stdin: "")
        #expect(rewrite.status == 0, "\(rewrite.stderr)")
        // A hook's own failure still never fails git: exit 0 with a note.
        let noRemote = try runProcess(
            [builtExp, "hook", "pre-push"], in: repo.root, environment: repo.environment, stdin: "")
        #expect(noRemote.status == 0)
        #expect(noRemote.stderr.contains("exp: pre-push hook: pre-push needs the remote"), "\(noRemote.stderr)")
    }

    @Test func whereTakesWithinBeforeAndAfter() throws {
        let repo = try makeRepo()
        let old = try repo.runExp(
            ["run", "--name", "old", "--", "true"], env: ["EXP_NOW": "2026-01-01T00:00:00Z"])
        #expect(old.status == 0, "\(old.stderr)")
        let new = try repo.runExp(
            ["run", "--name", "new", "--", "true"], env: ["EXP_NOW": "2026-01-10T00:00:00Z"])
        #expect(new.status == 0, "\(new.stderr)")
        func names(_ filter: String) throws -> String {
            let result = try repo.runExp(
                ["list", "--csv", "--columns", "name", "--where", filter], env: ["EXP_NOW": "2026-01-10T00:30:00Z"])
            #expect(result.status == 0, "\(filter): \(result.stderr)")
            return result.stdout
        }
        #expect(try names("started within 1h") == "name\nnew\n")
        #expect(try names("started within 10d") == "name\nnew\nold\n")
        #expect(try names("started before 2026-01-05T00:00:00Z") == "name\nold\n")
        #expect(try names("started after 2026-01-05T00:00:00Z") == "name\nnew\n")
        #expect(try names("started before 1d") == "name\nold\n")
        #expect(try names("started > 1h") == "name\nnew\n", "the old form keeps its meaning")
        #expect(try names("started < 1h") == "name\nold\n", "the old form keeps its meaning")
        let wrong = try repo.runExp(["list", "--where", "started within 2026-01-05"])
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("'within' takes an age such as 7d, 12h or 30m"), "\(wrong.stderr)")
    }

    @Test func benchmarkPlumbingLivesInExpBench() throws {
        let repo = try makeRepo()
        for arguments in [["store-file", "train.py"], ["metrics", "--import-csv", "train.py"]] {
            let result = try repo.runExp(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
        }
        let help = try repo.runExp(["--help"])
        #expect(!help.stdout.contains("store-file") && !help.stdout.contains("import-csv"))
        let bench = URL(fileURLWithPath: builtExp).deletingLastPathComponent().appendingPathComponent("exp-bench").path
        try #require(FileManager.default.isExecutableFile(atPath: bench), "swift build builds exp-bench beside exp")
        try repo.write("big.bin", String(repeating: "checkpoint\n", count: 10_000))
        let stored = try runProcess([bench, "store-file", "big.bin"], in: repo.root, environment: repo.environment)
        #expect(stored.status == 0, "\(stored.stderr)")
        let oracle = try runProcess(["sha256sum", "big.bin"], in: repo.root, environment: repo.environment)
        #expect(stored.stdout.prefix(64) == oracle.stdout.prefix(64), "the digest sha256sum gives")
        #expect(stored.stdout.hasPrefix(oracle.stdout.trimmedLine), "then the path: \(stored.stdout)")
        try repo.write("metrics.csv", "epoch,step,loss,acc\n0,1,0.5,\n0,2,0.4,0.9\n")
        let imported = try runProcess(
            [bench, "import-csv", "metrics.csv"], in: repo.root, environment: repo.environment)
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.hasSuffix(" keys\n"), "\(imported.stdout)")
    }

    @Test func onlyTerminalWritesToStdoutAndStderr() throws {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/exp")
        let enumerator = try #require(FileManager.default.enumerator(atPath: sources.path))
        var writers: [String] = []
        var widthReaders: [String] = []
        var quoters: [String] = []
        for case let file as String in enumerator where file.hasSuffix(".swift") {
            let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
            for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let code = line.trimmingCharacters(in: .whitespaces)
                if code.hasPrefix("//") { continue }
                let place = "\(file):\(number + 1)"
                if code.contains("FileHandle.standardOutput") || code.contains("FileHandle.standardError")
                    || code.contains("fputs(") || code.contains("write(1,") || code.contains("write(2,")
                    || code.contains("write(STDOUT_FILENO") || code.contains("write(STDERR_FILENO")
                    || (code.contains("print(") && !code.contains("terminal.print(") && !code.contains("func print("))
                {
                    writers.append(place)
                }
                if code.contains("TIOCGWINSZ") || code.contains("\"COLUMNS\"") { widthReaders.append(place) }
                if code.contains("\"\\\"\\\"\"") { quoters.append(place) }
            }
        }
        #expect(writers.allSatisfy { $0.hasPrefix("ExpCommand.swift:") }, "writers outside Terminal: \(writers)")
        #expect(Set(widthReaders.map { $0.prefix { $0 != ":" } }) == ["Format.swift"], "\(widthReaders)")
        #expect(Set(quoters.map { $0.prefix { $0 != ":" } }) == ["CSV.swift"], "\(quoters)")
    }
}
