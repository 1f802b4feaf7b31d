public import ExpGit
public import Foundation

/// Where a run is in its life.
public enum RunStatus: String, Codable, Sendable, CaseIterable {
    /// Started and not sealed yet.
    case running
    /// Exited with status 0.
    case succeeded
    /// Exited non-zero, was killed by a signal exp did not forward, or could not start.
    case failed
    /// Ended after exp forwarded a signal to it (Ctrl-C, SLURM pre-emption, `kill`).
    case interrupted
    /// exp itself died (or the machine did) while it ran; sealed later with what was captured.
    case lost
    /// Not a run: the state saved before a forced `exp checkout`.
    case autosave
}

/// `run.json`, format 1: everything exp knows about a run. Documented in docs/run-format.md.
public struct RunRecord: Codable, Sendable, Equatable {
    public var format: Int = 1
    public var id: RunID
    public var name: String
    public var status: RunStatus
    /// Free text from `exp run -m`.
    public var message: String?
    /// Free text added later with `exp note`.
    public var note: String?
    public var exitCode: Int32?
    /// The signal that ended the command, when one did.
    public var signal: Int32?
    /// Why the command could not be started, or why the run was sealed `lost`.
    public var error: String?
    /// The command exactly as given.
    public var argv: [String]
    /// The folder the command ran in, relative to the repository root (`.` for the root).
    public var cwd: String
    public var startedAt: Date
    public var endedAt: Date?
    public var durationSeconds: Double?
    public var host: String
    public var user: String
    /// HEAD when the run started.
    public var base: Base
    /// The code the run ran with.
    public var snapshot: SnapshotSummary
    public var params: [String: ParamValue]
    /// Params read from files (`--params-file`, Hydra's `.hydra/*.yaml`, Lightning's
    /// `hparams.yaml`), per file (path relative to the repository root), as read: `params`
    /// holds them too unless the command line gave the same key.
    public var paramFiles: [String: [String: ParamValue]]?
    /// The machine, collected beside the command (filled when the run is sealed).
    public var environment: MachineInfo?
    /// Environment variables recorded (`CUDA_VISIBLE_DEVICES` and `exp.env` names; never secrets).
    public var variables: [String: String]
    /// Per metric key: last, min, max, count and last step.
    public var metrics: [String: MetricSummary]
    /// Lines of the metrics file that were not a JSON object of numbers, skipped.
    public var skippedMetricLines: Int
    /// Commits of the user's that hold this run's code (added by the hooks).
    public var links: Links
    /// The run this one re-ran (`exp rerun`).
    public var reproduces: RunID?
    /// Present while the run is live: who supervises it, to tell a dead run from a running one.
    public var supervisor: Supervisor?
    /// The files the run wrote that exp linked (listed in the record's `artifacts.json`).
    public var artifacts: ArtifactSummary? = nil
    /// The sweep the run belongs to (`exp sweep`).
    public var sweep: String? = nil

    /// HEAD at start.
    public struct Base: Codable, Sendable, Equatable {
        /// nil on an unborn branch.
        public var commit: ObjectID?
        /// nil when HEAD was detached.
        public var branch: String?
        public init(commit: ObjectID?, branch: String?) {
            self.commit = commit
            self.branch = branch
        }
    }

    /// The snapshot commit and what it held.
    public struct SnapshotSummary: Codable, Sendable, Equatable {
        public var commit: ObjectID
        public var tree: ObjectID
        /// The tree equalled HEAD's: the snapshot is the base commit itself.
        public var clean: Bool
        public var counts: ChangeCounts
        public var skipped: [SkippedFile]

        public init(_ snapshot: Snapshot) {
            commit = snapshot.commit
            tree = snapshot.tree
            clean = snapshot.clean
            counts = snapshot.counts
            skipped = snapshot.skipped
        }
    }

    /// Links from a run to the user's history.
    public struct Links: Codable, Sendable, Equatable {
        /// The user's commits whose tree is this run's snapshot tree.
        public var committed: [ObjectID] = []
        public init(committed: [ObjectID] = []) { self.committed = committed }
    }

    /// The exp process watching a live run.
    public struct Supervisor: Codable, Sendable, Equatable {
        /// exp's own process id.
        public var pid: Int32
        /// The command's process id, once started.
        public var childPid: Int32?
        /// exp's start time in clock ticks since boot (`/proc/PID/stat` field 22), to tell a reused pid apart.
        public var startTicks: UInt64?
        /// The kernel's boot id: a different one means the machine rebooted.
        public var bootID: String?
        /// The inode of exp's PID namespace (`/proc/self/ns/pid`): an exp in another
        /// namespace cannot check `pid`, and judges the run by its heartbeat file instead.
        public var pidNamespace: UInt64? = nil
        /// The real name of the machine exp runs on (`gethostname`), which `EXP_HOST` does not
        /// change: liveness is judged only on that machine. Absent in live files of older exps.
        public var host: String? = nil
    }

    /// Whether this run's exp runs (or ran) on this machine, so that its pid and live folder
    /// can be judged here: by the machine's real name in the live `supervisor` block, else (a
    /// record from git, or a live file of an older exp) by the recorded `host`, which is this
    /// machine's name or the name `context` gives it (`EXP_HOST`).
    func ranOnThisMachine(_ context: ExpContext) -> Bool {
        if let machine = supervisor?.host { return machine == LocalMachine.hostName }
        return host == LocalMachine.hostName || host == context.host
    }

    enum CodingKeys: String, CodingKey {
        case format, id, name, status, message, note
        case exitCode = "exit_code"
        case signal, error, argv, cwd
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case durationSeconds = "duration_seconds"
        case host, user, base, snapshot, params, environment, variables, metrics
        case paramFiles = "param_files"
        case skippedMetricLines = "skipped_metric_lines"
        case links, reproduces, supervisor, artifacts, sweep
    }

    /// The command as a shell would show it (`python train.py --lr 0.01`).
    public var commandLine: String { ShellQuoting.join(argv) }
}

extension RunRecord.Supervisor {
    enum CodingKeys: String, CodingKey {
        case pid
        case childPid = "child_pid"
        case startTicks = "start_ticks"
        case bootID = "boot_id"
        case pidNamespace = "pid_namespace"
        case host
    }
}

/// Quoting for showing commands the way a POSIX shell would read them back.
public enum ShellQuoting {
    /// `argv` joined with single quotes where a word needs them.
    public static func join(_ argv: [String]) -> String {
        argv.map(quote).joined(separator: " ")
    }

    /// One word, quoted only when it holds characters the shell treats specially.
    public static func quote(_ word: String) -> String {
        if word.isEmpty { return "''" }
        let safe = word.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "-_./=:,+@%^".unicodeScalars.contains($0)
        }
        return safe ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// JSON settings shared by run.json and metrics.jsonl: sorted keys, ISO 8601 UTC dates,
/// NaN and infinities as the strings "NaN", "Infinity", "-Infinity".
public enum RunJSON {
    public static func encoder(pretty: Bool = true) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RunJSON.formatDate(date))
        }
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return encoder
    }

    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = RunJSON.parseDate(text) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "bad date \(text)"))
            }
            return date
        }
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return decoder
    }

    /// `2026-11-29T02:51:20.123Z`: UTC, milliseconds.
    public static func formatDate(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    public static func parseDate(_ text: String) -> Date? {
        if let date = try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)) {
            return date
        }
        return try? Date(text, strategy: .iso8601)
    }
}

extension RunRecord {
    /// The record of a run that ended, for runs made outside `exp run` (imports, fixtures):
    /// what the caller knows, the rest empty.
    public static func finished(
        id: RunID, name: String, status: RunStatus = .succeeded, argv: [String], params: [String: ParamValue],
        startedAt: Date, durationSeconds: Double, host: String, user: String, snapshot: Snapshot
    ) -> RunRecord {
        RunRecord(
            id: id, name: name, status: status, message: nil, exitCode: status == .succeeded ? 0 : 1, signal: nil,
            error: nil, argv: argv, cwd: ".", startedAt: startedAt,
            endedAt: startedAt.addingTimeInterval(durationSeconds), durationSeconds: durationSeconds, host: host,
            user: user, base: Base(commit: snapshot.parent, branch: snapshot.branch),
            snapshot: SnapshotSummary(snapshot), params: params, environment: nil, variables: [:], metrics: [:],
            skippedMetricLines: 0, links: Links(), reproduces: nil, supervisor: nil)
    }
}
