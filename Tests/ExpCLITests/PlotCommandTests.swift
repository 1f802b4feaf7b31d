import ExpTestSupport
import Foundation
import Testing

/// Runs with fixed names and fixed values (an awk script), so charts are reproducible:
/// alpha and beta log loss and acc over 100 steps (loss with spikes), gamma only loss; one,
/// flat and odd are the edge cases (one point; a constant; NaN, infinities, negative and huge
/// values).
private func plotRepo(manyRuns: Int = 0) throws -> TestRepo {
    let repo = try TestRepo()
    try repo.write(
        "train.sh",
        """
        awk -v lr="$1" -v keys="$2" 'BEGIN {
          for (i = 0; i <= 100; i++) {
            loss = 2 / (i * lr + 1) + (i % 17 == 0 ? 0.4 : 0)
            if (keys == "both") printf "{\\"step\\": %d, \\"loss\\": %.4f, \\"acc\\": %.4f}\\n", i, loss, 1 - 1 / (i * lr + 1)
            else printf "{\\"step\\": %d, \\"loss\\": %.4f}\\n", i, loss
          }
        }' >> "$EXP_METRICS_FILE"

        """)
    try repo.write("points.sh", "printf '%s\\n' \"$@\" >> \"$EXP_METRICS_FILE\"\n")
    try repo.commitAll()
    func run(_ name: String, _ command: [String]) throws {
        let result = try repo.exp(["run", "--name", name, "--"] + command)
        #expect(result.status == 0, "\(result.stderr)")
    }
    try run("alpha", ["sh", "train.sh", "0.05", "both"])
    try run("beta", ["sh", "train.sh", "0.3", "both"])
    try run("gamma", ["sh", "train.sh", "0.1", "loss"])
    try run("one", ["sh", "points.sh", #"{"step": 3, "loss": 0.25}"#])
    try run("flat", ["sh", "points.sh"] + (1...5).map { #"{"step": \#($0), "loss": 2}"# })
    let odd = [
        #"{"step": 1, "loss": -3}"#, #"{"step": 2, "loss": 1e12}"#, #"{"step": 3, "loss": "NaN"}"#,
        #"{"step": 4, "loss": "Infinity"}"#, #"{"step": 5, "loss": 5}"#, #"{"step": 6, "loss": 0}"#,
    ]
    try run("odd", ["sh", "points.sh"] + odd)
    for index in 0..<manyRuns {
        try run(
            String(format: "r%02d", index + 1),
            ["sh", "points.sh", #"{"step": 0, "loss": \#(index)}"#, #"{"step": 10, "loss": \#(20 - index)}"#])
    }
    return repo
}

/// `exp plot` output with its stderr after a line `--- stderr`, when there is any.
private func plotText(_ repo: TestRepo, _ args: [String], env: [String: String] = [:]) throws -> String {
    let result = try repo.exp(["plot"] + args, env: env)
    #expect(result.status == 0, "\(result.stderr)")
    return result.stdout + (result.stderr.isEmpty ? "" : "--- stderr\n" + result.stderr)
}

@Suite("exp plot")
struct PlotCommandTests {
    @Test("charts of three runs fit 40, 80 and 200 columns, without colour in a pipe", arguments: [40, 80, 200])
    func golden(_ columns: Int) throws {
        let repo = try plotRepo()
        let text = try plotText(repo, ["alpha", "beta", "gamma"], env: ["COLUMNS": String(columns)])
        #expect(!text.contains("\u{1B}"))
        for line in text.split(separator: "\n") { #expect(line.count <= columns, "\(line)") }
        // The key gamma lacks is said; every run's line ends in its legend marker.
        #expect(text.contains("acc (not in gamma)"))
        #expect(text.contains("● alpha   ■ beta   ▲ gamma"))
        try Golden.expect(text, matches: "plot-\(columns).stdout")
    }

    @Test("with colour, runs have distinct ANSI colours and the legend shows them")
    func colour() throws {
        let repo = try plotRepo()
        let text = try plotText(repo, ["alpha", "beta", "loss", "--color", "always"], env: ["COLUMNS": "80"])
        #expect(text.contains("\u{1B}[31m") && text.contains("\u{1B}[32m"))
        #expect(!text.contains("●"))
        try Golden.expect(text, matches: "plot-color-80.stdout")
        // NO_COLOR wins over a terminal; --color never too.
        let plain = try plotText(repo, ["alpha", "beta", "loss", "--color", "never"], env: ["COLUMNS": "80"])
        #expect(!plain.contains("\u{1B}"))
    }

    @Test("one point, a constant, NaN and infinities (not drawn), negative and huge values, log scale")
    func edgeCases() throws {
        let repo = try plotRepo()
        var text = ""
        for args in [["one"], ["flat"], ["odd"], ["odd", "--log"], ["alpha", "--log", "--ylim", "0.1,10"]] {
            text += "$ exp plot " + args.joined(separator: " ") + "\n"
            text += try plotText(repo, args + ["loss", "--width", "60", "--height", "6"])
        }
        #expect(text.contains("1 NaN or infinite value") == false)
        #expect(text.contains("2 NaN or infinite values of loss in odd not drawn"))
        #expect(text.contains("2 values ≤ 0 of loss not drawn on the log scale"))
        #expect(!text.contains("00000000"))
        try Golden.expect(text, matches: "plot-edge-cases.stdout")
    }

    @Test("20 runs by --where: colours cycle and the legend wraps")
    func manyRuns() throws {
        let repo = try plotRepo(manyRuns: 20)
        let text = try plotText(
            repo, ["--where", "name ~ 'r*'", "--limit", "20", "--color", "always", "--height", "8"],
            env: ["COLUMNS": "80"])
        #expect(text.split(separator: "\n").filter { $0.contains("━━") }.count >= 3)
        #expect(text.contains("r01") && text.contains("r20"))
        try Golden.expect(text, matches: "plot-20-runs.stdout")
    }

    @Test("RUN accepts latest and min:KEY; --x, --smooth; errors name what is missing")
    func referencesAndOptions() throws {
        let repo = try plotRepo()
        let best = try repo.exp(["plot", "min:loss", "loss", "--width", "40"])
        #expect(best.status == 0, "\(best.stderr)")
        #expect(best.stdout.contains("● odd"))
        // Without RUN: the latest run (runs made with one fixed clock: ask exp which it is).
        let latestName = try repo.exp(["show", "latest"]).stdout.split(separator: " ").dropFirst().first ?? "?"
        let latest = try repo.exp(["plot", "--width", "40"])
        #expect(latest.stdout.hasSuffix("● \(latestName)\n"))
        let smooth = try repo.exp(["plot", "alpha", "loss", "--smooth", "0.9", "--x", "time", "--width", "40"])
        #expect(smooth.status == 0)
        #expect(smooth.stdout.contains("time (s)") || smooth.stdout.contains("(no values to draw)"))
        let missing = try repo.exp(["plot", "alpha", "nope"])
        #expect(missing.status == 1)
        #expect(missing.stderr.contains("no run or metric named nope in alpha"))
        #expect(missing.stderr.contains("hint: their metrics: acc, loss"))
        let bad = try repo.exp(["plot", "--ylim", "3,1"])
        #expect(bad.status == 2)
    }

    @Test("--svg writes well-formed XML, one path per run per chart, the same bytes each time")
    func svg() throws {
        let repo = try plotRepo()
        for name in ["a.svg", "b.svg"] {
            let result = try repo.exp(["plot", "alpha", "beta", "gamma", "--svg", name])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        let first = try repo.read("a.svg")
        #expect(first == (try repo.read("b.svg")))
        let check = """
            import sys, xml.etree.ElementTree as ET
            ns = {"s": "http://www.w3.org/2000/svg"}
            root = ET.parse(sys.argv[1]).getroot()
            charts = [g for g in root.findall("s:g", ns)]
            print(" ".join(str(len(g.findall(".//s:path", ns))) for g in charts))
            """
        let parsed = try runProcess(
            ["python3", "-c", check, repo.root + "/a.svg"], in: repo.root, environment: repo.environment)
        #expect(parsed.status == 0, "\(parsed.stderr)")
        // acc: alpha and beta; loss: all three.
        #expect(parsed.stdout == "2 3\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: repo.root).filter { $0.contains("tmp") }
        #expect(leftovers.isEmpty)
    }

    @Test("a long run's series are summarised when it is sealed; a short run's are not; the plot reads them")
    func seriesCacheFilledAtSeal() throws {
        let repo = try TestRepo()
        try repo.write(
            "long.sh",
            """
            awk 'BEGIN { for (i = 0; i < 40000; i++) printf "{\\"step\\": %d, \\"loss\\": %.6f}\\n", i, 1 / (i + 1) }' >> "$EXP_METRICS_FILE"

            """)
        try repo.commitAll()
        #expect(try repo.exp(["run", "--name", "long", "--", "sh", "long.sh"]).status == 0)
        #expect(try repo.exp(["run", "--name", "short", "--", "sh", "-c", "echo loss: 1"]).status == 0)
        func cacheFile(_ run: String) throws -> String {
            let shown = try repo.exp(["show", run, "--json"]).stdout
            let record = try JSONSerialization.jsonObject(with: Data(shown.utf8)) as? [String: Any]
            let id = record?["id"] as? String ?? "?"
            let blob = try repo.gitLine(["rev-parse", "refs/exp/runs/\(id):metrics.jsonl"])
            return repo.root + "/.git/exp/series/" + blob + ".step"
        }
        let long = try cacheFile("long")
        // Before any plot: made by the seal of a record of over 1 MiB, not by a plot.
        #expect(FileManager.default.fileExists(atPath: long))
        #expect(!FileManager.default.fileExists(atPath: try cacheFile("short")))
        let plotted = try repo.exp(["plot", "long", "--width", "60"])
        #expect(plotted.status == 0, "\(plotted.stderr)")
        #expect(plotted.stdout.contains("loss"))
    }

    @Test("a live run is shown by default, its status and step in the legend")
    func liveRun() throws {
        let repo = try plotRepo()
        let process = try startExp(
            repo,
            [
                "run", "--name", "live", "--", "sh", "-c",
                #"printf '{"step": 7, "loss": 1.5}\n' >> "$EXP_METRICS_FILE"; while [ ! -f go ]; do sleep 0.05; done"#,
            ])
        defer {
            try? repo.write("go", "")
            process.waitUntilExit()
        }
        var shown = ""
        #expect(
            try waitUntil(30) {
                shown = try repo.expLive(["plot", "--width", "60"]).stdout
                return shown.contains("live (running, step 7)")
            }, "\(shown)")
        try repo.write("go", "")
        process.waitUntilExit()
        let after = try repo.expLive(["plot", "--width", "60"]).stdout
        #expect(after.contains("● live") && !after.contains("running"))
    }
}

@Suite("Sparklines")
struct SparklineTests {
    @Test("exp show gives each metric a sparkline of its series")
    func show() throws {
        let repo = try plotRepo()
        let alpha = try repo.exp(["show", "alpha"])
        #expect(alpha.status == 0)
        let lines = alpha.stdout.split(separator: "\n").map(String.init)
        let loss = try #require(lines.first { $0.hasPrefix("  loss ") })
        let acc = try #require(lines.first { $0.hasPrefix("  acc ") })
        // Loss falls, accuracy rises: the first and last blocks say so.
        #expect(loss.hasSuffix(" █▅▄▂▃▂▂▁"), "\(loss)")
        #expect(acc.hasSuffix(" ▁▄▆▆▇▇██"), "\(acc)")
        let flat = try repo.exp(["show", "flat"]).stdout
        #expect(flat.contains(" ▄▄▄▄▄\n"), "\(flat)")
        let one = try repo.exp(["show", "one"]).stdout
        #expect(one.contains(" 1       ▄\n"), "\(one)")
    }

    @Test("exp list --spark KEY adds a column; a run without the key shows -")
    func list() throws {
        let repo = try plotRepo()
        let result = try repo.exp(["list", "--columns", "name,loss,acc", "--spark", "acc", "--sort", "name"])
        #expect(result.status == 0, "\(result.stderr)")
        try Golden.expect(result.stdout, matches: "list-spark.stdout")
        #expect(try repo.exp(["list", "--spark", "acc", "--csv"]).status == 2)
    }
}

/// Runs a command in a pseudo-terminal (Python's pty module), copying what it writes to
/// stdout and what comes on stdin to the terminal's input.
let ptyScript = """
    import os, pty, select, sys
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.argv[1], sys.argv[1:])
    out = sys.stdout.buffer
    inputs = [fd, 0]
    while True:
        ready, _, _ = select.select(inputs, [], [])
        if 0 in ready:
            data = os.read(0, 1024)
            if data:
                os.write(fd, data)
            else:
                inputs.remove(0)
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out.write(data)
        out.flush()
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """

@Suite("exp plot --follow")
struct PlotFollowTests {
    /// Starts `exp plot ARGS` in a pseudo-terminal; its output goes to `output`, its input
    /// comes from the returned pipe.
    func startInTerminal(_ repo: TestRepo, _ args: [String], output: String, env: [String: String] = [:]) throws
        -> (Process, Pipe)
    {
        FileManager.default.createFile(atPath: output, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", ptyScript, builtExp, "plot"] + args
        process.currentDirectoryURL = URL(fileURLWithPath: repo.root)
        process.environment = repo.environment.merging(["EXP_NOW": "", "COLUMNS": "60"]) { $1 }.merging(env) { $1 }
        process.standardOutput = FileHandle(forWritingAtPath: output)
        process.standardError = FileHandle.nullDevice
        let input = Pipe()
        process.standardInput = input
        try process.run()
        return (process, input)
    }

    @Test("redraws in place while the run prints, and ends with the last frame when the run ends")
    func followsUntilTheRunEnds() throws {
        let repo = try makeRepo()
        let run = try startExp(
            repo,
            [
                "run", "--name", "live", "--", "sh", "-c",
                #"echo '{"step": 1, "loss": 3}' >> "$EXP_METRICS_FILE"; while [ ! -f go ]; do sleep 0.05; done; "#
                    + #"echo '{"step": 2, "loss": 1}' >> "$EXP_METRICS_FILE"; while [ ! -f go2 ]; do sleep 0.05; done"#,
            ])
        defer {
            try? repo.write("go", "")
            try? repo.write("go2", "")
            run.waitUntilExit()
        }
        #expect(try waitUntil(30) { try liveRun(repo) != nil })
        let output = repo.folder.path + "/follow.out"
        let (plot, _) = try startInTerminal(repo, ["live", "--follow", "--height", "4"], output: output)
        defer { if plot.isRunning { plot.terminate() } }
        func text() -> String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        #expect(try waitUntil(30) { text().contains("live (running, step 1)") }, "\(text())")
        try repo.write("go", "")
        #expect(try waitUntil(30) { text().contains("live (running, step 2)") }, "\(text())")
        // The second frame was drawn over the first: cursor up, clear below.
        #expect(text().contains("\u{1B}[J"))
        #expect(plot.isRunning)
        try repo.write("go2", "")
        #expect(try waitUntil(30) { !plot.isRunning }, "exp plot --follow did not end with the run")
        plot.waitUntilExit()
        #expect(plot.terminationStatus == 0)
        let last = text().components(separatedBy: "\u{1B}[J").last ?? ""
        #expect(last.hasSuffix("━━\u{1B}[0m live\r\n"), "\(last)")
        #expect(!last.contains("running"))
    }

    @Test("q ends it while the run goes on")
    func quitsOnQ() throws {
        let repo = try makeRepo()
        let run = try startExp(
            repo,
            [
                "run", "--name", "live", "--", "sh", "-c",
                #"echo '{"step": 1, "loss": 3}' >> "$EXP_METRICS_FILE"; while [ ! -f go ]; do sleep 0.05; done"#,
            ])
        defer {
            try? repo.write("go", "")
            run.waitUntilExit()
        }
        #expect(try waitUntil(30) { try liveRun(repo) != nil })
        let output = repo.folder.path + "/quit.out"
        let (plot, input) = try startInTerminal(repo, ["--follow", "--height", "4"], output: output)
        defer { if plot.isRunning { plot.terminate() } }
        func text() -> String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        #expect(try waitUntil(30) { text().contains("live (running, step 1)") }, "\(text())")
        input.fileHandleForWriting.write(Data("q".utf8))
        #expect(try waitUntil(30) { !plot.isRunning }, "exp plot --follow did not end on q")
        plot.waitUntilExit()
        #expect(plot.terminationStatus == 0)
        #expect(try liveRun(repo) != nil)
    }
}

extension PlotFollowTests {
    @Test("Ctrl-C ends it with the last frame on screen; with NO_COLOR a terminal gets no colours, and markers")
    func endsOnControlC() throws {
        let repo = try makeRepo()
        let run = try startExp(
            repo,
            [
                "run", "--name", "live", "--", "sh", "-c",
                #"echo '{"step": 1, "loss": 3}' >> "$EXP_METRICS_FILE"; while [ ! -f go ]; do sleep 0.05; done"#,
            ])
        defer {
            try? repo.write("go", "")
            run.waitUntilExit()
        }
        #expect(try waitUntil(30) { try liveRun(repo) != nil })
        let output = repo.folder.path + "/interrupt.out"
        let (plot, input) = try startInTerminal(
            repo, ["live", "--follow", "--height", "4"], output: output, env: ["NO_COLOR": "1"])
        defer { if plot.isRunning { plot.terminate() } }
        func text() -> String { (try? String(contentsOfFile: output, encoding: .utf8)) ?? "" }
        #expect(try waitUntil(30) { text().contains("live (running, step 1)") }, "\(text())")
        input.fileHandleForWriting.write(Data([3]))
        #expect(try waitUntil(30) { !plot.isRunning }, "exp plot --follow did not end on Ctrl-C")
        plot.waitUntilExit()
        #expect(plot.terminationStatus == 130)
        #expect(try liveRun(repo) != nil)
        #expect(text().contains("● live (running, step 1)"))
        for color in BrailleRendererColors.codes { #expect(!text().contains("\u{1B}[\(color)m")) }
    }
}

/// The colour codes `exp plot` paints runs with (Sources/exp/Chart.swift).
private enum BrailleRendererColors {
    static let codes = ["31", "32", "34", "33", "35", "36", "91", "92", "94", "93", "95", "96"]
}

@Suite("exp plot: hostile keys")
struct PlotHostileKeyTests {
    @Test("a metric key with control characters is shown escaped in the chart, the notes and the SVG")
    func escapedKeys() throws {
        let repo = try TestRepo()
        try repo.write(
            "points.sh",
            #"printf '{"step": 1, "lo\\u001b]0;pwned\\u0007ss": 1}\n{"step": 2, "lo\\u001b]0;pwned\\u0007ss": "NaN"}\n' >> "$EXP_METRICS_FILE""#
                + "\n")
        try repo.commitAll()
        #expect(try repo.exp(["run", "--name", "evil", "--", "sh", "points.sh"]).status == 0)
        let plot = try repo.exp(["plot", "evil", "--width", "40", "--color", "always"])
        #expect(plot.status == 0, "\(plot.stderr)")
        #expect(plot.stdout.hasPrefix(#"lo\033]0;pwned\ass"#), "\(plot.stdout)")
        #expect(!plot.stdout.contains("\u{7}") && !plot.stdout.contains("\u{1B}]"))
        #expect(plot.stderr.contains(#"of lo\033]0;pwned\ass in evil not drawn"#), "\(plot.stderr)")
        #expect(try repo.exp(["plot", "evil", "--svg", "evil.svg"]).status == 0)
        let svg = try repo.read("evil.svg")
        #expect(svg.contains(#">lo\033]0;pwned\ass</text>"#))
        #expect(!svg.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" })
    }
}
