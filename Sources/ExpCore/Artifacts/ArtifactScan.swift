import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which files of a run are artifacts: globs relative to the repository root, or, with none
/// configured, PyTorch Lightning's default checkpoint layout under the command's folder.
public struct ArtifactRules: Codable, Sendable, Equatable {
    /// Globs over paths relative to the repository root (`**` spans folders).
    public var patterns: [String]
    /// When no pattern is configured: the folder (relative to the root, `.` for the root) under
    /// which `lightning_logs/version_*/checkpoints/*.ckpt` and `*.ckpt` under any folder named
    /// `checkpoints` count.
    public var lightningBase: String?

    /// The patterns used with no configuration, as `exp artifacts` explains them.
    public static let lightningDefaults = ["lightning_logs/version_*/checkpoints/*.ckpt", "**/checkpoints/**/*.ckpt"]

    /// How deep below the command's folder a `checkpoints` folder is looked for (Hydra's
    /// `outputs/DATE/TIME/checkpoints` is 4 levels down).
    static let checkpointsSearchDepth = 6

    /// Rules from `--artifact` globs and `exp.artifacts` values. Globs are relative to the
    /// command's folder `cwd` (relative to the root), or to the root when they start with `/`.
    public static func resolve(cliPatterns: [String], configPatterns: [String], cwd: String) throws -> ArtifactRules {
        let given = cliPatterns + configPatterns
        if given.isEmpty { return ArtifactRules(patterns: [], lightningBase: cwd) }
        var patterns: [String] = []
        for pattern in given {
            let resolved = try resolve(pattern, cwd: cwd)
            if !patterns.contains(resolved) { patterns.append(resolved) }
        }
        return ArtifactRules(patterns: patterns, lightningBase: nil)
    }

    /// One glob made relative to the root, `.` and empty components removed.
    static func resolve(_ pattern: String, cwd: String) throws -> String {
        let trimmed = pattern.trimmingCharacters(in: .whitespaces)
        let anchored = trimmed.hasPrefix("/")
        var components = (anchored || cwd == "." ? [] : cwd.split(separator: "/").map(String.init))
        for part in trimmed.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            guard part != ".." else {
                throw ExpError(
                    .usage, "artifact pattern '\(pattern)' reaches outside the folder it applies to",
                    hint: "artifacts must be inside the repository; start a pattern with / to anchor it at the root")
            }
            components.append(String(part))
        }
        guard !components.isEmpty, !trimmed.hasSuffix("/") else {
            throw ExpError(
                .usage, "artifact pattern '\(pattern)' names no files",
                hint: "name files, e.g. 'outputs/**/*.pt' (`**` spans folders)")
        }
        if components.first == ".git" {
            throw ExpError(
                .usage, "artifact pattern '\(pattern)' points into .git", hint: "name files of the working tree")
        }
        return components.joined(separator: "/")
    }
}

/// What tells a rewritten file from an untouched one: size, modification time and inode.
public struct FileStamp: Codable, Sendable, Equatable {
    public var size: Int64
    /// Modification time in nanoseconds since the epoch.
    public var mtime: Int64
    public var inode: UInt64
}

/// The files the rules could match at one moment: taken before the command starts, and again
/// after it ends; the artifacts are what was created or changed in between.
public struct ArtifactScan: Codable, Sendable, Equatable {
    public var rules: ArtifactRules
    /// Path relative to the root → stamp.
    public var files: [String: FileStamp]

    /// Looks at the files the rules can match under `root`, walking only the folders the
    /// patterns name (a glob's literal leading folders, as deep as the glob reaches), or for
    /// the Lightning default, folders named `checkpoints` (and `lightning_logs`) found by a
    /// walk that never lists a folder without subfolders (a data folder of a million files is
    /// skipped by one `stat`), skips hidden folders, and stops at a few levels.
    public static func take(root: String, rules: ArtifactRules) -> ArtifactScan {
        var walker = Walker(root: root)
        for pattern in rules.patterns {
            let glob = PathGlob(pattern)
            let start = glob.literalPrefix.joined(separator: "/")
            walker.collect(under: start, depth: glob.depthBelowPrefix) { glob.matches($0) }
        }
        if let base = rules.lightningBase {
            var folders: [String] = []
            walker.findFolders(
                under: base == "." ? "" : base, named: ["checkpoints"], depth: ArtifactRules.checkpointsSearchDepth,
                into: &folders)
            for folder in folders {
                walker.collect(under: folder, depth: nil) { $0.hasSuffix(".ckpt") }
            }
        }
        return ArtifactScan(rules: rules, files: walker.files)
    }

    /// Paths whose file is new or changed since `before` (same rules), sorted.
    public func changed(since before: ArtifactScan) -> [String] {
        files.compactMap { path, stamp in before.files[path] == stamp ? nil : path }.sorted()
    }
}

/// A directory walk with `lstat`/`readdir` that never follows symlinks and skips `.git`.
private struct Walker {
    let root: String
    var files: [String: FileStamp] = [:]

    /// Regular files under `folder` (relative; empty for the root) within `depth` levels
    /// (nil: any) whose relative path passes `accept`.
    mutating func collect(under folder: String, depth: Int?, accept: (String) -> Bool) {
        var info = stat()
        guard lstat(absolute(folder), &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return }
        visit(folder, levelsLeft: depth ?? Int.max, accept: accept)
    }

    private mutating func visit(_ folder: String, levelsLeft: Int, accept: (String) -> Bool) {
        guard levelsLeft > 0 else { return }
        for (name, isFolder) in entries(folder) {
            let path = folder.isEmpty ? name : folder + "/" + name
            if isFolder {
                if name != ".git" { visit(path, levelsLeft: levelsLeft - 1, accept: accept) }
                continue
            }
            guard accept(path), files[path] == nil else { continue }
            var info = stat()
            guard lstat(absolute(path), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { continue }
            files[path] = FileStamp(
                size: Int64(info.st_size),
                mtime: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
                inode: UInt64(info.st_ino))
        }
    }

    /// Folders of installed code and caches, never looked into for checkpoints.
    static let neverSearched: Set<String> = ["node_modules", "__pycache__", "site-packages", "dist-packages"]

    /// Folders named one of `names` under `folder`, within `depth` levels, skipping hidden
    /// folders, `neverSearched` ones and virtual environments.
    func findFolders(under folder: String, named names: Set<String>, depth: Int, into found: inout [String]) {
        guard depth > 0 else { return }
        var info = stat()
        // A folder's link count is 2 + its subfolders on most filesystems (1 when it does not
        // count them): 2 means there is nothing to find below.
        guard lstat(absolute(folder), &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR, info.st_nlink != 2 else {
            return
        }
        let listed = entries(folder)
        // A Python virtual environment (`python -m venv venv`) holds thousands of package
        // folders and never a run's checkpoints.
        if listed.contains(where: { $0.0 == "pyvenv.cfg" && !$0.1 }) { return }
        for (name, isFolder) in listed where isFolder {
            let path = folder.isEmpty ? name : folder + "/" + name
            if names.contains(name) {
                found.append(path)
            } else if !name.hasPrefix("."), !Self.neverSearched.contains(name) {
                findFolders(under: path, named: names, depth: depth - 1, into: &found)
            }
        }
    }

    /// A folder's entries (name, whether a real folder; symlinks are not folders), sorted.
    private func entries(_ folder: String) -> [(String, Bool)] {
        folderEntries(absolute(folder)).map { ($0.name, $0.isFolder) }.sorted { $0.0 < $1.0 }
    }

    private func absolute(_ path: String) -> String { path.isEmpty ? root : root + "/" + path }
}
