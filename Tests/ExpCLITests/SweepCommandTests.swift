import ExpTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `exp sweep` and `exp queue`, end to end: real processes, real git, the built binary.
@Suite(.serialized) struct SweepCommandTests {
    /// A repository with `code.txt` committed and a folder outside it where the runs' command
    /// leaves its traces (`$TRACE`).
    final class SweepRepo: @unchecked Sendable {
        let repo: TestRepo
        let trace: String
        let env: [String: String]

        init(extra: [String: String] = [:]) throws {
            repo = try TestRepo()
            trace = repo.folder.path + "/trace"
            try FileManager.default.createDirectory(atPath: trace, withIntermediateDirectories: true)
            try repo.write("code.txt", "v1\n")
            // Each run: says its log exists, notes its start, waits for $TRACE/go when asked,
            // reads the code it runs, notes its end (times in nanoseconds).
            try repo.write(
                "train.sh",
                """
                #!/bin/sh
                test -f "$EXP_RUN_DIR/output.log" || exit 9
                echo "$(date +%s%N) start" >> "$TRACE/$EXP_RUN_NAME.times"
                echo x >> "$TRACE/$EXP_RUN_NAME.count"
                if [ -n "$WAIT_FOR_GO" ]; then
                  i=0; while [ ! -f "$TRACE/go" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
                fi
                cat code.txt > "$TRACE/$EXP_RUN_NAME.code"
                echo "${CUDA_VISIBLE_DEVICES:-none}" > "$TRACE/$EXP_RUN_NAME.gpu"
                echo "loss: 0.5"
                echo "$(date +%s%N) end" >> "$TRACE/$EXP_RUN_NAME.times"
                if [ "$FAIL_ON" = "$1" ]; then exit 3; fi

                """)
            try repo.chmod("train.sh", 0o755)
            _ = try repo.commitAll("code")
            env = ["TRACE": trace].merging(extra) { $1 }
        }

        @discardableResult
        func exp(_ args: [String], env extra: [String: String] = [:]) throws -> ProcessResult {
            try repo.runExp(args, env: env.merging(extra) { $1 })
        }

        /// Starts exp without waiting for it.
        func start(_ args: [String], env extra: [String: String] = [:]) throws -> Process {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: builtExp)
            process.arguments = args
            process.currentDirectoryURL = URL(fileURLWithPath: repo.root)
            var environment = repo.environment.merging(env) { $1 }.merging(extra) { $1 }
            environment["COLUMNS"] = "100"
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            return process
        }

        /// Files of the trace folder ending in `suffix`, by run name.
        func traces(_ suffix: String) -> [String: String] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: trace)) ?? []
            var found: [String: String] = [:]
            for name in names where name.hasSuffix(suffix) {
                found[String(name.dropLast(suffix.count))] =
                    (try? String(contentsOfFile: trace + "/" + name, encoding: .utf8)) ?? ""
            }
            return found
        }

        /// Waits (up to a minute) until `condition` holds; false if it never did.
        func wait(_ condition: () throws -> Bool) rethrows -> Bool {
            for _ in 0..<1200 {
                if try condition() { return true }
                usleep(50_000)
            }
            return false
        }

        /// `exp queue --json`: each run's name and state, and the live workers' pids.
        func queue() throws -> (states: [String: String], params: [String: [String: Any]], workers: [Int32]) {
            let result = try exp(["queue", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
            var states: [String: String] = [:]
            var params: [String: [String: Any]] = [:]
            for sweep in object["sweeps"] as? [[String: Any]] ?? [] {
                for run in sweep["runs"] as? [[String: Any]] ?? [] {
                    let name = run["name"] as? String ?? "?"
                    states[name] = run["state"] as? String
                    params[name] = run["params"] as? [String: Any]
                }
            }
            let workers = (object["workers"] as? [[String: Any]] ?? []).compactMap {
                ($0["pid"] as? NSNumber)?.int32Value
            }
            return (states, params, workers)
        }

        /// Lets runs waiting for `$TRACE/go` go on.
        func go() {
            FileManager.default.createFile(atPath: trace + "/go", contents: Data())
        }

        /// What the queue's workers wrote, for a failure's message.
        func workerLogs() -> String {
            let folder = repo.root + "/.git/exp/queue/workers"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return names.map { name in
                name + ": " + ((try? String(contentsOfFile: folder + "/" + name, encoding: .utf8)) ?? "")
            }.joined(separator: "\n")
        }

        func show(_ run: String) throws -> [String: Any] {
            let result = try exp(["show", run, "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            return try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        }
    }

    /// The most runs that were between their start and end at one moment, from the times the
    /// runs wrote.
    static func mostAtOnce(_ times: [String: String]) -> Int {
        var events: [(time: Int64, change: Int)] = []
        for text in times.values {
            for line in text.split(separator: "\n") {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let time = Int64(parts[0]) else { continue }
                events.append((time, parts[1] == "start" ? 1 : -1))
            }
        }
        // At equal times an end comes first.
        events.sort { $0.time != $1.time ? $0.time < $1.time : $0.change < $1.change }
        var current = 0
        var most = 0
        for event in events {
            current += event.change
            most = max(most, current)
        }
        return most
    }

    @Test func gridRunsTwoAtATimeAllOnTheSnapshotTakenAtTheStart() throws {
        let sweep = try SweepRepo(extra: ["WAIT_FOR_GO": "1"])
        let process = try sweep.start(
            [
                "sweep", "-p", "lr=0.1,0.01,0.001", "-p", "seed=range(1,3)", "-j", "2", "--name", "grid", "--",
                "./train.sh",
                "--lr", "{lr}", "--seed", "{seed}",
            ])
        // Edit the code once the sweep runs, then let the runs go on.
        #expect(sweep.wait { !sweep.traces(".times").isEmpty })
        try sweep.repo.write("code.txt", "v2 edited while the sweep ran\n")
        sweep.go()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)

        let codes = sweep.traces(".code")
        #expect(codes.keys.sorted() == (1...6).map { "grid-\($0)" }.sorted())
        #expect(Set(codes.values) == ["v1\n"])
        #expect(sweep.traces(".count").values.allSatisfy { $0 == "x\n" })
        #expect(Self.mostAtOnce(sweep.traces(".times")) <= 2)

        let records = try (1...6).map { try sweep.show("grid-\($0)") }
        let trees = Set(records.map { ($0["snapshot"] as? [String: Any])?["tree"] as? String ?? "" })
        #expect(trees.count == 1)
        #expect(records.allSatisfy { $0["sweep"] as? String == "grid" && $0["status"] as? String == "succeeded" })
        // Params typed: numbers, not text; the grid's first param varies slowest.
        let first = records[0]["params"] as? [String: Any] ?? [:]
        #expect((first["lr"] as? NSNumber)?.doubleValue == 0.1)
        #expect((first["seed"] as? NSNumber)?.intValue == 1)
        #expect(((records[5]["params"] as? [String: Any])?["lr"] as? NSNumber)?.doubleValue == 0.001)

        let listed = try sweep.exp(["list", "--where", "sweep = grid", "--columns", "name", "--csv"])
        #expect(listed.status == 0, "\(listed.stderr)")
        #expect(listed.stdout.split(separator: "\n").dropFirst().count == 6)
        // The worktrees are gone.
        let worktrees = try sweep.repo.git(["worktree", "list", "--porcelain"])
        #expect(worktrees.components(separatedBy: "worktree ").count == 2)
    }

    @Test func randomSearchIsReproducibleBySeed() throws {
        let sweep = try SweepRepo()
        for name in ["r1", "r2"] {
            let result = try sweep.exp(
                [
                    "sweep", "--random", "5", "--seed", "42", "-p", "lr=loguniform(1e-5,1e-1)", "-p",
                    "opt=choice(adam,sgd)",
                    "--name", name, "--queue", "--", "./train.sh", "{lr}", "{opt}",
                ])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("seed 42"))
        }
        let other = try sweep.exp(
            [
                "sweep", "--random", "5", "--seed", "43", "-p", "lr=loguniform(1e-5,1e-1)", "-p",
                "opt=choice(adam,sgd)",
                "--name", "r3", "--queue", "--", "./train.sh", "{lr}", "{opt}",
            ])
        #expect(other.status == 0)
        let params = try sweep.queue().params
        func points(_ name: String) -> [String] {
            (1...5).map { index in
                let point = params["\(name)-\(index)"] ?? [:]
                return "\(point["lr"] ?? "-") \(point["opt"] ?? "-")"
            }
        }
        #expect(points("r1") == points("r2"))
        #expect(points("r1") != points("r3"))
        let lrs = (1...5).compactMap { (params["r1-\($0)"]?["lr"] as? NSNumber)?.doubleValue }
        #expect(lrs.count == 5 && lrs.allSatisfy { $0 >= 1e-5 && $0 <= 1e-1 })
    }

    @Test func aFailingRunStopsTheSweepAtMaxFailuresAndTheRestStayQueued() throws {
        let sweep = try SweepRepo(extra: ["FAIL_ON": "2"])
        let result = try sweep.exp(
            ["sweep", "-p", "x=range(1,5)", "-j", "1", "--max-failures", "1", "--name", "f", "--", "./train.sh", "{x}"])
        #expect(result.status == 1)
        var states = try sweep.queue().states
        #expect(states == ["f-1": "succeeded", "f-2": "failed", "f-3": "queued", "f-4": "queued"])

        // Retried: a new plan; removed: the queued ones.
        let retried = try sweep.exp(["queue", "retry", "f"])
        #expect(retried.status == 0, "\(retried.stderr)")
        states = try sweep.queue().states
        #expect(states["f-2-retry1"] == "queued" && states["f-2"] == nil)
        let removed = try sweep.exp(["queue", "rm", "f-3", "f-2-retry1"])
        #expect(removed.status == 0, "\(removed.stderr)")
        states = try sweep.queue().states
        #expect(states == ["f-1": "succeeded", "f-4": "queued"])
        let rest = try sweep.exp(["queue", "start"])
        #expect(rest.status == 0, "\(rest.stderr)")
        #expect(try sweep.queue().states == ["f-1": "succeeded", "f-4": "succeeded"])
    }

    @Test func aQueuedSweepsSnapshotSurvivesGitGcUntilItsRunsRan() throws {
        let sweep = try SweepRepo()
        // Uncommitted code: the snapshot is the only commit that holds it.
        try sweep.repo.write("code.txt", "v2 uncommitted\n")
        let queued = try sweep.exp(["sweep", "--queue", "-p", "i=1,2", "--name", "kept", "--", "./train.sh", "{i}"])
        #expect(queued.status == 0, "\(queued.stderr)")
        let kept = try sweep.repo.git(["for-each-ref", "--format=%(objectname)", "refs/exp/sweeps/kept"])
        #expect(kept.count == 41)
        // The working tree goes back; git gc prunes everything unreachable, at once.
        _ = try sweep.repo.git(["checkout", "--", "code.txt"])
        _ = try sweep.repo.git(["reflog", "expire", "--expire=now", "--all"])
        _ = try sweep.repo.git(["gc", "-q", "--prune=now"])
        _ = try sweep.repo.git(["cat-file", "-e", kept.trimmingCharacters(in: .whitespacesAndNewlines)])
        let started = try sweep.exp(["queue", "start"])
        #expect(started.status == 0, "\(started.stderr)")
        #expect(Set(sweep.traces(".code").values) == ["v2 uncommitted\n"])
        #expect(try sweep.queue().states == ["kept-1": "succeeded", "kept-2": "succeeded"])
        // Removing the sweep from the queue drops its ref; its runs keep the snapshot reachable.
        let removed = try sweep.exp(["queue", "rm", "kept"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(try sweep.repo.git(["for-each-ref", "refs/exp/sweeps/"]).isEmpty)
        #expect(try sweep.exp(["show", "kept-1"]).status == 0)
    }

    /// Drives `exp ARGS` in a real pseudo-terminal (Python's `pty`): waits until `started` runs
    /// wrote their start, presses Ctrl-C `presses` times (half a second apart), then lets the
    /// runs go on. Returns what the terminal showed and exp's exit status.
    static func pressCtrlC(
        _ presses: Int, after started: Int, in sweep: SweepRepo, _ args: [String]
    ) throws -> (screen: String, status: Int) {
        let driver = """
            import os, pty, select, sys, time
            exp, trace, started, presses = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
            pid, fd = pty.fork()
            if pid == 0:
                os.execv(exp, [exp] + sys.argv[5:])
            screen = b""
            def pump(seconds):
                global screen
                end = time.time() + seconds
                while time.time() < end:
                    ready, _, _ = select.select([fd], [], [], 0.05)
                    if ready:
                        try:
                            chunk = os.read(fd, 65536)
                        except OSError:
                            return False
                        if not chunk:
                            return False
                        screen += chunk
                return True
            deadline = time.time() + 60
            while time.time() < deadline and len([n for n in os.listdir(trace) if n.endswith(".times")]) < started:
                pump(0.05)
            pump(0.3)
            for _ in range(presses):
                os.write(fd, b"\\x03")
                pump(0.5)
            open(os.path.join(trace, "go"), "w").close()
            while pump(0.2):
                pass
            _, status = os.waitpid(pid, 0)
            sys.stdout.write(screen.decode(errors="replace"))
            sys.stdout.write("\\nEXIT %d\\n" % os.waitstatus_to_exitcode(status))
            """
        var environment = sweep.repo.environment.merging(sweep.env) { $1 }
        environment["COLUMNS"] = "100"
        let result = try runProcess(
            ["python3", "-c", driver, builtExp, sweep.trace, String(started), String(presses)] + args,
            in: sweep.repo.root, environment: environment)
        let status = result.stdout.components(separatedBy: "\nEXIT ").last.flatMap {
            Int($0.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return (result.stdout, status ?? -1)
    }

    @Test func ctrlCOnceStopsStartingRunsAndWaitsForTheRunningOnes() throws {
        let sweep = try SweepRepo(extra: ["WAIT_FOR_GO": "1"])
        let (screen, status) = try Self.pressCtrlC(
            1, after: 2, in: sweep,
            ["sweep", "-j", "2", "-p", "i=range(1,6)", "--name", "once", "--", "./train.sh", "{i}"])
        #expect(screen.contains("starting no more runs"), "\(screen)")
        #expect(status == 1, "\(screen)")
        let states = try sweep.queue().states
        #expect(states.values.filter { $0 == "succeeded" }.count == 2, "\(states)")
        #expect(states.values.filter { $0 == "queued" }.count == 3, "\(states)")
        // The two that ran finished their work: each read the code.
        #expect(sweep.traces(".code").count == 2)
    }

    @Test func ctrlCTwiceInterruptsTheRunningRunsAndTheRestStayQueued() throws {
        let sweep = try SweepRepo(extra: ["WAIT_FOR_GO": "1"])
        let (screen, status) = try Self.pressCtrlC(
            2, after: 2, in: sweep,
            ["sweep", "-j", "2", "-p", "i=range(1,6)", "--name", "twice", "--", "./train.sh", "{i}"])
        #expect(screen.contains("interrupting the running runs"), "\(screen)")
        #expect(status == 1, "\(screen)")
        let states = try sweep.queue().states
        #expect(states.values.filter { $0 == "interrupted" }.count == 2, "\(states)")
        #expect(states.values.filter { $0 == "queued" }.count == 3, "\(states)")
        #expect(sweep.traces(".code").isEmpty)
        // What stayed queued runs later.
        let rest = try sweep.exp(["queue", "start", "twice"])
        // Still 1: the sweep holds two interrupted runs (until `exp queue retry` or `rm`).
        #expect(rest.status == 1, "\(rest.stderr)")
        #expect(try sweep.queue().states.values.filter { $0 == "succeeded" }.count == 3)
        #expect(try sweep.exp(["queue", "rm", "twice-1", "twice-2"]).status == 0)
        #expect(try sweep.exp(["queue", "start", "twice"]).status == 0)
    }

    @Test func aParamMissingFromTheCommandSaysWhereToPutIt() throws {
        let sweep = try SweepRepo()
        let result = try sweep.exp(["sweep", "-p", "lr=0.1,0.2", "--", "./train.sh", "--lr", "0.1"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("lr appears nowhere in the command"))
        #expect(result.stderr.contains("{lr}"))
        #expect(try sweep.queue().states.isEmpty)
    }

    @Test func detachedSweepIsSeenFromAnotherProcess() throws {
        let sweep = try SweepRepo()
        let result = try sweep.exp(
            ["sweep", "--detach", "-j", "2", "-p", "i=range(1,5)", "--name", "bg", "--", "./train.sh", "{i}"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("in the background"))
        let done = try sweep.wait {
            let queue = try sweep.queue()
            return queue.states.count == 4 && queue.states.values.allSatisfy { $0 == "succeeded" }
                && queue.workers.isEmpty
        }
        #expect(done)
        #expect(Self.mostAtOnce(sweep.traces(".times")) <= 2)
    }

    @Test func aKilledWorkerLeavesItsQueuedRunsForTheNextStart() throws {
        let sweep = try SweepRepo(extra: ["WAIT_FOR_GO": "1"])
        let result = try sweep.exp(
            ["sweep", "--detach", "-j", "1", "-p", "i=range(1,5)", "--name", "k", "--", "./train.sh", "{i}"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(sweep.wait { !sweep.traces(".times").isEmpty })
        let workers = try sweep.queue().workers
        let listing = try sweep.exp(["queue", "--json"]).stdout
        #expect(workers.count == 1, "\(sweep.workerLogs()) \(listing)")
        for worker in workers { kill(worker, SIGKILL) }
        sweep.go()
        // The run that was going ends on its own; the others wait for a worker.
        #expect(try sweep.wait { try sweep.queue().states["k-1"] == "succeeded" })
        #expect(try sweep.queue().states.values.filter { $0 == "queued" }.count == 3)
        let resumed = try sweep.exp(["queue", "start", "-j", "2"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try sweep.queue().states.values.allSatisfy { $0 == "succeeded" })
        #expect(sweep.traces(".count").count == 4)
        #expect(sweep.traces(".count").values.allSatisfy { $0 == "x\n" })
    }

    @Test func twoWorkersAtOnceNeverStartARunTwice() throws {
        let sweep = try SweepRepo()
        let queued = try sweep.exp([
            "sweep", "--queue", "-p", "i=range(1,9)", "--name", "two", "--", "./train.sh", "{i}",
        ])
        #expect(queued.status == 0, "\(queued.stderr)")
        let workers = try (0..<2).map { _ in try sweep.start(["queue", "start", "-j", "2"]) }
        for worker in workers { worker.waitUntilExit() }
        #expect(workers.allSatisfy { $0.terminationStatus == 0 })
        let counts = sweep.traces(".count")
        #expect(counts.count == 8)
        #expect(counts.values.allSatisfy { $0 == "x\n" })
        #expect(try sweep.queue().states.values.allSatisfy { $0 == "succeeded" })
    }

    @Test func eachRunGetsItsOwnGPUAndBusyOnesAreSkipped() throws {
        let sweep = try SweepRepo()
        // A fake nvidia-smi listing four devices; device 2 is mostly used by another program.
        let bin = sweep.repo.folder.path + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        let smi = bin + "/nvidia-smi"
        try """
        #!/bin/sh
        case "$*" in
          *index,memory.used,memory.total*) printf '0, 100, 16000\\n1, 100, 16000\\n2, 15000, 16000\\n3, 100, 16000\\n' ;;
          *) printf 'Fake GPU, 16000, 550.00\\n' ;;
        esac

        """.write(toFile: smi, atomically: true, encoding: .utf8)
        chmod(smi, 0o755)
        // Each run holds its device with mkdir (which fails if another run holds it) while it runs.
        try sweep.repo.write(
            "gpu.sh",
            """
            #!/bin/sh
            mkdir "$TRACE/held-$CUDA_VISIBLE_DEVICES" || exit 4
            ./train.sh "$@"
            sleep 0.2
            rmdir "$TRACE/held-$CUDA_VISIBLE_DEVICES"

            """)
        try sweep.repo.chmod("gpu.sh", 0o755)
        _ = try sweep.repo.commitAll("gpu script")
        let path = bin + ":" + (sweep.repo.environment["PATH"] ?? "/usr/bin:/bin")
        let result = try sweep.exp(
            ["sweep", "--gpus", "auto", "-p", "i=range(1,7)", "--name", "g", "--", "./gpu.sh", "{i}"],
            env: ["PATH": path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("GPU 2 skipped"))
        let gpus = sweep.traces(".gpu")
        #expect(gpus.count == 6)
        #expect(Set(gpus.values).isSubset(of: ["0\n", "1\n", "3\n"]))
        let record = try sweep.show("g-1")
        let variables = record["variables"] as? [String: String] ?? [:]
        #expect(variables["CUDA_VISIBLE_DEVICES"].map { $0 + "\n" } == gpus["g-1"])
    }
}
