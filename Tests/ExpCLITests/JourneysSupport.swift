import ExpTestSupport
import Foundation
import Testing

/// One user's session with exp, step by step: each `exp` call's exit code, stdout and stderr
/// are compared, byte for byte, with `Golden/journeys/<journey>/<NN>-<label>.txt`.
///
/// The repository comes from a fixture script (Tests/Fixtures) and exp runs with the tests'
/// hermetic environment plus `EXP_SEED=7`, so run ids, names, host, user and times are the
/// same on every machine. What is left that is inherently this machine's is rewritten by
/// `normalise` (one place): the temp folder, the machine facts and the record commits they
/// feed. Re-record every journey with
/// `EXP_RECORD_SNAPSHOTS=1 swift test --filter Journeys`.
final class Journey {
    let name: String
    let repo: TestRepo
    private var step = 0
    /// Record commits seen so far (they hold the machine facts, so their ids are this machine's).
    private var recordCommits: Set<String> = []

    /// A journey named `name` (its golden folder) in a repository built by `fixture`.
    init(_ name: String, fixture: String) throws {
        self.name = name
        repo = try TestRepo(fixture: fixture, exp: builtExp, env: TestRepo.reproducible)
    }

    /// Runs `exp args` (in `directory`, default the worktree) and compares what it did with the
    /// step's golden file; returns the result for further checks.
    @discardableResult
    func exp(
        _ args: [String], _ label: String, in directory: String? = nil, env: [String: String] = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ProcessResult {
        let result = try repo.runExp(args, in: directory, env: env)
        try compare("exp", args, result, label, in: directory, sourceLocation: sourceLocation)
        return result
    }

    /// Runs `git args` with exp on PATH, so the hooks exp installed run, and compares what it
    /// did with the step's golden file.
    @discardableResult
    func gitWithHooks(
        _ args: [String], _ label: String, in directory: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> ProcessResult {
        let result = try repo.gitWithHooks(args, in: directory)
        try compare("git", args, result, label, in: directory, sourceLocation: sourceLocation)
        return result
    }

    /// Compares one step's transcript (command, exit code, stdout, stderr; normalised) with
    /// `Golden/journeys/<journey>/<NN>-<label>.txt`.
    private func compare(
        _ program: String, _ args: [String], _ result: ProcessResult, _ label: String, in directory: String?,
        sourceLocation: SourceLocation
    ) throws {
        step += 1
        try collectRecordCommits(in: directory)
        var transcript = "$ \(program) " + args.map(Self.quoted).joined(separator: " ")
        if let directory { transcript += "    (in \(directory))" }
        transcript += "\n[exit \(result.signaled ? "signal " : "")\(result.status)]\n"
        for (stream, text) in [("stdout", result.stdout), ("stderr", result.stderr)] {
            transcript += "[\(stream)]\n" + text + (text.isEmpty || text.hasSuffix("\n") ? "" : "\n")
        }
        let file = "journeys/\(name)/" + String(format: "%02d", step) + "-\(label).txt"
        if Golden.recording {
            try FileManager.default.createDirectory(
                at: Golden.folder.appendingPathComponent("journeys/\(name)"), withIntermediateDirectories: true)
        }
        try Golden.expect(normalise(transcript), matches: file, sourceLocation: sourceLocation)
    }

    /// Runs git in the worktree (a step of the user's that is not exp's; not compared).
    @discardableResult
    func git(_ args: [String], in directory: String? = nil) throws -> String {
        try repo.git(args, in: directory)
    }

    /// The output with what is inherently this machine's replaced by a placeholder:
    /// - the temp folder holding the repository → `$TMP`;
    /// - machine facts (`exp show`'s `machine` line; `os`, `kernel`, `architecture`, `cpus`,
    ///   `memory_bytes`, `python`, `gpus` in JSON) → `<machine>`;
    /// - record commits, whole or abbreviated: a record's run.json holds those facts, so its
    ///   id is this machine's → `<record>`. Snapshot and base commits stay: they are the same
    ///   everywhere;
    /// - the time `exp reindex` took (a monotonic clock, not `EXP_NOW`) → `<elapsed>`.
    func normalise(_ text: String) -> String {
        var text = text
        let folder = repo.folder.path
        let resolved = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        for path in Set([folder, resolved]).sorted(by: { $0.count > $1.count }) {
            text = text.replacingOccurrences(of: path, with: "$TMP")
        }
        text = text.replacing(/(?m)^machine    .*$/, with: "machine    <machine>")
        text = text.replacing(/indexed ([0-9]+) runs? in [0-9.]+ ?(ms|s)/) {
            "indexed \($0.output.1) runs in <elapsed>"
        }
        text = text.replacing(
            /"(os|kernel|architecture|cpus|memory_bytes|python)" ?: ?("(?:[^"\\]|\\.)*"|[0-9]+)/
        ) { match in "\"\(match.output.1)\" : \"<machine>\"" }
        text = text.replacing(/"gpus" ?: ?\[[^\]]*\]/, with: "\"gpus\" : \"<machine>\"")
        for commit in recordCommits.sorted() {
            guard let pattern = try? Regex("\\b" + commit.prefix(7) + "[0-9a-f]{0,33}\\b")
            else { continue }
            let current = text
            text = current.replacing(pattern) { match in
                let found = current[match.range]
                return commit.hasPrefix(found) ? "<record>" : String(found)
            }
        }
        return text
    }

    /// Adds the record commits of every run and autosave ref (and the records they replaced)
    /// to `recordCommits`.
    private func collectRecordCommits(in directory: String?) throws {
        let heads = try repo.git(
            ["for-each-ref", "--format=%(objectname)", "refs/exp/runs/", "refs/exp/autosave/"], in: directory)
        for head in heads.split(separator: "\n") {
            var commit: String? = String(head)
            while let current = commit, recordCommits.insert(current).inserted {
                // A record's second parent is the record it replaced.
                let parents = try repo.gitLine(["rev-list", "--parents", "-n", "1", current], in: directory)
                    .split(separator: " ")
                commit = parents.count > 2 ? String(parents[2]) : nil
            }
        }
    }

    /// `arg` as a shell would need it written.
    static func quoted(_ arg: String) -> String {
        let plain = arg.unicodeScalars.allSatisfy {
            CharacterSet.alphanumerics.contains($0) || "-_./:=@%+,".unicodeScalars.contains($0)
        }
        return plain && !arg.isEmpty ? arg : "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
