import ExpTestSupport
import Foundation
import Testing

/// The `exp` binary under test: `EXP_BINARY` when set, else the `exp` built next to this test
/// runner (so `swift test --scratch-path X` tests X's binary), else `.build/debug/exp`.
let builtExp: String = {
    if let path = ProcessInfo.processInfo.environment["EXP_BINARY"], !path.isEmpty { return path }
    var folders: [URL] = []
    if let runner = Bundle.main.executableURL { folders.append(runner.deletingLastPathComponent()) }
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        folders.append(bundle.bundleURL.deletingLastPathComponent())  // macOS: the bundle's folder
    }
    for folder in folders {
        let candidate = folder.appendingPathComponent("exp").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return expBinaryPath()
}()

extension TestRepo {
    /// Runs the built `exp` with this repository's hermetic environment, in `directory`
    /// (default: the worktree root), with `COLUMNS=100` so help text does not depend on the
    /// terminal.
    @discardableResult
    func runExp(_ args: [String], in directory: String? = nil, env extra: [String: String] = [:]) throws
        -> ProcessResult
    {
        var environment = self.environment
        environment["COLUMNS"] = "100"
        return try runProcess(
            [builtExp] + args, in: directory ?? root, environment: environment.merging(extra) { $1 })
    }
}

extension TestRepo {
    /// The oracle: the tree `git add -A && git write-tree` gives, on a copy of the index that
    /// keeps the index file's modification time (`cp -p`). A copy with a fresh time would make
    /// git trust entries that are racily clean (edited in the second the index was written)
    /// and miss those edits. `excluding` adds `:!path` pathspecs.
    func gitAddAllOracle(excluding: [String] = []) throws -> String {
        let gitDir = try gitLine(["rev-parse", "--absolute-git-dir"])
        let scratch = folder.path + "/oracle-index-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        if FileManager.default.fileExists(atPath: gitDir + "/index") {
            try runChecked(["cp", "-p", gitDir + "/index", scratch])
        }
        let env = ["GIT_INDEX_FILE": scratch]
        try git(["add", "-A", "--", ":/"] + excluding.map { ":(top,exclude,literal)\($0)" }, env: env)
        return try gitLine(["write-tree"], env: env)
    }
}

extension TestRepo {
    /// Runs a helper command (`touch`, `cp`) in the worktree; throws when it fails.
    func runChecked(_ argv: [String]) throws {
        let result = try runProcess(argv, in: root, environment: environment)
        guard result.status == 0 else {
            throw HelperFailed(description: "\(argv.joined(separator: " ")) exited \(result.status): \(result.stderr)")
        }
    }
}

/// A helper command in a test that failed.
struct HelperFailed: Error, CustomStringConvertible {
    var description: String
}

extension String {
    /// The text without trailing newlines.
    var trimmedLine: String {
        var text = self
        while text.hasSuffix("\n") { text.removeLast() }
        return text
    }

    /// Whether the text is a full object id followed by one newline.
    var isCommitLine: Bool {
        utf8.count == 41 && hasSuffix("\n")
            && dropLast().utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// Golden files under `Tests/ExpCLITests/Golden/`, compared byte for byte; `EXP_RECORD_SNAPSHOTS=1`
/// rewrites them from the actual output instead.
enum Golden {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static var recording: Bool {
        ProcessInfo.processInfo.environment["EXP_RECORD_SNAPSHOTS"].map { !$0.isEmpty && $0 != "0" } ?? false
    }

    static func expect(_ actual: String, matches name: String, sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let url = folder.appendingPathComponent(name)
        if recording {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(actual.utf8).write(to: url)
            return
        }
        guard let expected = try? String(contentsOf: url, encoding: .utf8) else {
            Issue.record(
                "missing golden file Golden/\(name); record it with EXP_RECORD_SNAPSHOTS=1",
                sourceLocation: sourceLocation)
            return
        }
        #expect(
            actual == expected,
            "output differs from Golden/\(name) (re-record with EXP_RECORD_SNAPSHOTS=1 if intended)",
            sourceLocation: sourceLocation)
    }
}
