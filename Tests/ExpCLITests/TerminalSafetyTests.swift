import ExpTestSupport
import Foundation
import Testing

/// What a terminal would act on: C0 controls but newline and tab, DEL, the C1 controls and
/// the bidi overrides and isolates, as the scalars found in `text`.
func terminalControls(in text: String) -> [UInt32] {
    text.unicodeScalars.map(\.value).filter { value in
        (value < 0x20 && value != 0x0A && value != 0x09) || value == 0x7F || (0x80...0x9F).contains(value)
            || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)
    }
}

/// `text` without the colour sequences exp itself writes (`ESC [ 1 m`, `ESC [ 0 m`, `ESC [ 32 m`).
func withoutColours(_ text: String) -> String {
    text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
}

@Suite("Terminal safety: a pulled record's control characters are escaped wherever exp shows them (binary)")
struct TerminalSafetyTests {
    /// Escape sequences of every kind an attacker would use: OSC 52 (write the clipboard),
    /// OSC 8 (a link), CSI (clear the screen, move the cursor), the 8-bit CSI U+009B, NEL,
    /// BEL, backspace, carriage return, DEL, a right-to-left override and isolate, a newline
    /// and a tab.
    static let hostile =
        "x\u{1B}]52;c;ZXZpbA==\u{07}\u{1B}]8;;https://evil.example\u{1B}\\link\u{1B}]8;;\u{1B}\\"
        + "\u{1B}[2J\u{1B}[1;1H\u{9B}31m\u{85}\u{08}\r\u{7F}\u{202E}txt.exe\u{2066}\nline2\tcol"

    /// A run whose record says `hostile` in every field, made with git plumbing in one
    /// repository, pushed to a bare remote and pulled with `exp pull` into a clone (returned).
    func pulledHostileRun() throws -> (clone: TestRepo, source: TestRepo) {
        let source = try TestRepo()
        try source.write("train.py", "print('v1')\n")
        try source.commitAll("init")
        // A file whose content is hostile too: `exp diff` shows it.
        try source.write("notes.txt", "before \(Self.hostile) after\n")
        let script =
            "mkdir -p out && echo weights > out/model.pt && echo '{\"step\": 1, \"loss\": 0.5}' >> \"$EXP_METRICS_FILE\" "
            + "&& printf 'raw \\033[31mred\\033[0m\\n'"
        let run = try source.runExp([
            "run", "--name", "crafted", "--artifact", "out/*.pt", "-m", "plain", "--", "sh", "-c", script, "--lr",
            "0.1",
        ])
        #expect(run.status == 0, "\(run.stderr)")
        let ref = try #require(try runRefs(source).first)

        // Rewrite run.json, metrics.jsonl and artifacts.json with every string field hostile.
        let folder = source.folder.path
        try source.git(["show", "\(ref):run.json"]).write(
            toFile: folder + "/run.json", atomically: true, encoding: .utf8)
        try source.git(["show", "\(ref):artifacts.json"]).write(
            toFile: folder + "/artifacts.json", atomically: true, encoding: .utf8)
        try Self.hostile.write(toFile: folder + "/hostile.txt", atomically: true, encoding: .utf8)
        let rewrite = """
            import json, sys
            folder = sys.argv[1]
            h = open(folder + "/hostile.txt", encoding="utf-8", newline="").read()
            r = json.load(open(folder + "/run.json"))
            r["name"] = "evil" + h
            r["message"] = "message " + h
            r["note"] = "note " + h
            r["error"] = "error " + h
            r["argv"] = ["python", "train.py" + h, "--opt" + h, "value" + h]
            r["cwd"] = "sub" + h
            r["host"] = "host" + h
            r["user"] = "user" + h
            r["base"]["branch"] = "branch" + h
            r["params"] = {"p" + h: "v" + h, "lr": 0.1}
            r["param_files"] = {"conf" + h + ".yaml": {"k" + h: "v" + h}}
            r["variables"] = {"VAR" + h: "value" + h}
            r["metrics"]["m" + h] = {"last": 1, "min": 1, "max": 1, "count": 1}
            r["snapshot"]["skipped"] = [{"path": "big" + h + ".bin", "size": 1, "reason": "too-large", "detail": h}]
            env = r.setdefault("environment", {"os": "", "kernel": "", "architecture": "", "cpus": 1,
                                               "memory_bytes": 1, "hostname": "", "user": "", "gpus": []})
            env["os"] = "os" + h
            env["python"] = "3" + h
            env["gpus"] = [{"name": "gpu" + h, "memory_mib": 1, "driver": "d" + h}]
            r["artifacts"]["best"] = {"path": "best" + h + ".ckpt", "metric": "m" + h, "value": 0.5, "mode": "min"}
            json.dump(r, open(folder + "/run.json", "w"))
            a = json.load(open(folder + "/artifacts.json"))
            a["artifacts"][0]["path"] = "out/model" + h + ".pt"
            a["artifacts"].append({"path": "gone" + h, "size": 1, "mtime": "2026-01-02T03:04:05.000Z",
                                   "stored": False, "reason": "why" + h})
            json.dump(a, open(folder + "/artifacts.json", "w"))
            line = json.dumps({"key": "m" + h, "source": "file", "step": 1, "value": 1})
            open(folder + "/metrics.jsonl", "w").write(line + "\\n")
            """
        let rewritten = try runProcess(
            ["python3", "-c", rewrite, folder], in: source.root, environment: source.environment)
        #expect(rewritten.status == 0, "\(rewritten.stderr)")
        let metrics = try source.git(["show", "\(ref):metrics.jsonl"])
        try (metrics + (try String(contentsOfFile: folder + "/metrics.jsonl", encoding: .utf8))).write(
            toFile: folder + "/metrics.jsonl", atomically: true, encoding: .utf8)
        var entries: [String] = []
        for line in try source.git(["ls-tree", ref]).split(separator: "\n") {
            let name = String(line.split(separator: "\t").last ?? "")
            if ["run.json", "artifacts.json", "metrics.jsonl"].contains(name) {
                let blob = try source.gitLine(["hash-object", "-w", folder + "/" + name])
                entries.append("100644 blob \(blob)\t\(name)")
            } else {
                entries.append(String(line))
            }
        }
        let made = try runProcess(
            ["git", "mktree"], in: source.root, environment: source.environment,
            stdin: entries.joined(separator: "\n") + "\n")
        #expect(made.status == 0, "\(made.stderr)")
        let tree = made.stdout.trimmedLine
        let commit = try source.gitLine(["commit-tree", tree, "-p", "\(ref)^", "-p", ref, "-m", "crafted"])
        try source.git(["update-ref", ref, commit])

        let remote = source.folder.path + "/remote.git"
        try source.git(["init", "-q", "--bare", "-b", "main", remote])
        try source.git(["push", "-q", remote, "main", "refs/exp/*:refs/exp/*"])
        let clone = try TestRepo(initialize: false)
        try clone.git(["clone", "-q", remote, clone.root], in: clone.folder.path)
        try clone.write("train.py", "print('v2')\n")
        let other = try clone.runExp(["run", "--name", "mine", "-p", "lr=0.2", "--", "sh", "-c", "echo 'loss: 0.25'"])
        #expect(other.status == 0, "\(other.stderr)")
        let pull = try clone.runExp(["pull"])
        #expect(pull.status == 0, "\(pull.stderr)")
        #expect(terminalControls(in: pull.stdout + pull.stderr) == [], "exp pull: \(pull.stderr)")
        return (clone, source)
    }

    @Test func noCommandWritesARecordsControlCharacters() throws {
        let (repo, _) = try pulledHostileRun()
        let id = try #require(
            try runRefs(repo).first { (try? runJSON(repo, $0)["name"] as? String)?.hasPrefix("evil") == true }?
                .split(separator: "/").last.map { String($0.prefix(12)) })
        let commands: [[String]] = [
            ["list"], ["list", "--all"], ["list", "--columns", "name,host,user,branch,message,note,command,lr,loss"],
            ["list", "--csv"], ["list", "--autosaves"],
            ["show", id], ["show", "latest"], ["show", "min:loss"],
            ["diff", id, "mine"], ["diff", "mine", id, "--params"], ["diff", id, "mine", "--metrics"],
            ["diff", id, "mine", "--stat"], ["diff", id, "mine", "--name-only"], ["diff", id],
            ["metrics", id], ["metrics", id, "--csv"], ["metrics", id, "--follow"],
            ["artifacts", id], ["note", id],
            ["show", "no-such-run"], ["metrics", id, "no-such-key"],
        ]
        for color in ["never", "always"] {
            for arguments in commands {
                let result = try repo.runExp(arguments + ["--color", color])
                let failing = arguments.contains("no-such-run") || arguments.contains("no-such-key")
                #expect(
                    (result.status == 0) != failing,
                    "exp \(arguments.joined(separator: " ")): \(result.stderr.prefix(500))"
                )
                let output =
                    color == "always" ? withoutColours(result.stdout + result.stderr) : result.stdout + result.stderr
                #expect(
                    terminalControls(in: output) == [],
                    "exp \(arguments.joined(separator: " ")) --color \(color) wrote control characters: \(output.debugDescription.prefix(3000))"
                )
            }
        }
        // What is escaped is still there, visibly, in the one documented form.
        let show = try repo.runExp(["show", id])
        #expect(show.stdout.contains(#"run        evilx\033]52;c;ZXZpbA==\a\033]8;;https://evil.example\033\link"#))
        #expect(show.stdout.contains(#"\u{9B}31m\u{85}\b\r\177\u{202E}txt.exe\u{2066}\nline2\tcol"#))
        #expect(show.stdout.contains("message    message x\\033]52;"), "a message of several lines keeps them")
        #expect(show.stdout.contains("\n           line2\\tcol\n"))
        let list = try repo.runExp(["list"])
        #expect(list.stdout.split(separator: "\n").count == 3, "a newline in a field never makes a row: \(list.stdout)")
        // The exception: exp log shows the command's own output as it wrote it, and says so.
        let log = try repo.runExp(["log", id])
        #expect(log.stdout.contains("raw \u{1B}[31mred\u{1B}[0m"))
        let help = try repo.runExp(["log", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(
            separator: " ")
        #expect(help.contains("this is the one exp command that does not escape them"), "\(help)")
    }

    @Test func jsonKeepsEveryValueExactlyAndEscapesItForTheTerminal() throws {
        let (repo, _) = try pulledHostileRun()
        let id = try #require(
            try runRefs(repo).first { (try? runJSON(repo, $0)["name"] as? String)?.hasPrefix("evil") == true }?
                .split(separator: "/").last.map(String.init))
        for arguments in [
            ["show", id, "--json"], ["list", "--json"], ["metrics", id, "--json"], ["artifacts", id, "--json"],
            ["diff", id, "mine", "--json"], ["metrics", id, "--follow", "--json"],
        ] {
            let result = try repo.runExp(arguments)
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
            #expect(terminalControls(in: result.stdout) == [], "\(arguments): \(result.stdout.prefix(2000))")
            if arguments.contains("--follow") {
                for line in result.stdout.split(separator: "\n") { _ = try strictJSON(String(line), repo) }
            } else {
                _ = try strictJSON(result.stdout, repo)
            }
        }
        let show = try #require(
            try JSONSerialization.jsonObject(with: Data(try repo.runExp(["show", id, "--json"]).stdout.utf8))
                as? [String: Any])
        #expect(show["name"] as? String == "evil" + Self.hostile)
        #expect(
            show["argv"] as? [String] == [
                "python", "train.py" + Self.hostile, "--opt" + Self.hostile, "value" + Self.hostile,
            ])
        #expect((show["params"] as? [String: Any])?["p" + Self.hostile] as? String == "v" + Self.hostile)
    }

    @Test func aCodePatchIsGitsWithOnlyItsControlCharactersEscaped() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "one\r\n\ttwo\r\n")
        try repo.commitAll("init")
        #expect(try repo.runExp(["run", "--name", "before", "--", "true"]).status == 0)
        try repo.write("a.txt", "one\r\n\ttwo \u{1B}]52;c;ZXZpbA==\u{07}\r\nthree\rover\u{9B}2J\n")
        #expect(try repo.runExp(["run", "--name", "after", "--", "true"]).status == 0)
        let trees = try runRefs(repo).map { ref in
            let record = try runJSON(repo, ref)
            return (record["name"] as? String ?? "", (record["snapshot"] as? [String: Any])?["tree"] as? String ?? "")
        }
        let tree = Dictionary(trees) { first, _ in first }
        let git = try repo.git(["diff", try #require(tree["before"]), try #require(tree["after"])])
        let expected =
            git.replacingOccurrences(of: "\u{1B}", with: #"\033"#).replacingOccurrences(of: "\u{07}", with: #"\a"#)
            .replacingOccurrences(of: "\rover", with: #"\rover"#).replacingOccurrences(of: "\u{9B}", with: #"\u{9B}"#)
        for color in ["never", "always"] {
            let diff = try repo.runExp(["diff", "before", "after", "--code", "--color", color])
            #expect(diff.status == 0, "\(diff.stderr)")
            #expect(withoutColours(diff.stdout) == expected, "tabs and CRLF line ends kept, the rest escaped")
            #expect(terminalControls(in: withoutColours(diff.stdout)).allSatisfy { $0 == 0x0D })
        }
        let json = try repo.runExp(["diff", "before", "after", "--code", "--json"])
        let patch = try #require(
            (try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]).flatMap {
                ($0["code"] as? [String: Any])?["patch"] as? String
            })
        #expect(patch == git, "--json keeps the patch exactly")
    }

}
