import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The git hooks exp installs, and the text of each (the same as `hooks/<name>` in exp's
/// source tree).
public enum HookScript {
    /// The hooks exp installs, in the order they run during a commit and a push.
    public static let names = ["prepare-commit-msg", "post-commit", "post-rewrite", "pre-push"]

    /// A line every script exp installs holds: how exp tells its own hooks from the user's.
    public static let marker = "# exp-hook: installed by `exp hooks install`"

    /// Suffix of the name a user's hook is kept under while exp's hook chains it.
    public static let chainedSuffix = ".exp-chained"

    /// The script for hook `name`: runs a hook that was there before (kept as
    /// `<name>.exp-chained`) with the same arguments and input, exits with its status when it
    /// fails, then calls `exp hook <name>`; when exp is missing it warns and lets git go on.
    public static func text(for name: String) -> String {
        let readsInput = name == "pre-push" || name == "post-rewrite"
        var lines = [
            "#!/bin/sh",
            marker,
            "# It runs the hook that was here before (kept as $0\(chainedSuffix)), then `exp hook \(name)`;",
            "# `exp hooks uninstall` puts the old hook back. Without exp on PATH it warns and lets git go on.",
            "hook=\(name)",
        ]
        if readsInput {
            lines += [
                "input=$(mktemp \"${TMPDIR:-/tmp}/exp-hook.XXXXXX\") || exit 1",
                "trap 'rm -f \"$input\"' EXIT",
                "cat >\"$input\"",
                "if [ -x \"$0\(chainedSuffix)\" ]; then",
                "    \"$0\(chainedSuffix)\" \"$@\" <\"$input\" || exit $?",
                "fi",
            ]
        } else {
            lines += [
                "if [ -x \"$0\(chainedSuffix)\" ]; then",
                "    \"$0\(chainedSuffix)\" \"$@\" || exit $?",
                "fi",
            ]
        }
        lines += [
            "if ! command -v exp >/dev/null 2>&1; then",
            "    echo \"exp: exp is not on PATH; the $hook hook did nothing (exp hooks uninstall removes it)\" >&2",
            "    exit 0",
            "fi",
            readsInput ? "exp hook \"$hook\" \"$@\" <\"$input\"" : "exp hook \"$hook\" \"$@\"",
            "exit 0",
        ]
        return lines.joined(separator: "\n") + "\n"
    }
}

/// What is at one hook's path.
public enum HookState: Equatable, Sendable {
    /// No hook of that name.
    case absent
    /// exp's hook, as this exp would write it.
    case installed
    /// exp's hook, running the user's earlier hook first.
    case installedChaining
    /// exp's hook from another version of exp (`exp hooks install` refreshes it).
    case outdated
    /// A hook that is not exp's (exp does not run).
    case foreign
}

/// One hook's state and what an install or uninstall did to it.
public struct HookEntry: Equatable, Sendable {
    public var name: String
    /// Full path of the hook file.
    public var path: String
    public var state: HookState
    /// What was done, for install/uninstall (`installed`, `chained your hook`, `restored your
    /// hook`, `removed`, `left alone: not exp's`, `already installed`); nil for status.
    public var action: String?
}

/// The hooks folder git uses and what is in it.
public struct HooksReport: Equatable, Sendable {
    /// The folder git runs hooks from.
    public var folder: String
    /// Whether `core.hooksPath` chose it.
    public var fromHooksPath: Bool
    public var hooks: [HookEntry]
}

extension Workspace {
    /// The folder git runs hooks from: `core.hooksPath` (relative to the worktree root, `~/`
    /// expanded) when set, else `hooks/` in the common git dir, so every linked worktree shares
    /// it, as git does.
    public func hooksFolder() throws -> (path: String, fromHooksPath: Bool) {
        let configured = try translatingGitErrors { try config.string("core.hooksPath", includeFallback: false) }
        guard var path = configured, !path.isEmpty else { return (repository.commonDirectory + "/hooks", false) }
        if path == "~" || path.hasPrefix("~/"), let home = context.environment["HOME"] {
            path = home + path.dropFirst()
        }
        if !path.hasPrefix("/") { path = repository.workingDirectory + "/" + path }
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        return (path, true)
    }

    /// Whether exp's post-commit hook is where git runs it.
    public func hooksInstalled() -> Bool {
        guard let folder = try? hooksFolder() else { return false }
        return Self.isExpHook(folder.path + "/post-commit")
    }

    /// What is installed where.
    public func hooksStatus() throws -> HooksReport {
        let folder = try hooksFolder()
        let hooks = HookScript.names.map { name in
            let path = folder.path + "/" + name
            return HookEntry(name: name, path: path, state: Self.hookState(path, name: name), action: nil)
        }
        return HooksReport(folder: folder.path, fromHooksPath: folder.fromHooksPath, hooks: hooks)
    }

    /// Installs exp's hooks where git runs them. A hook already there that is not exp's is
    /// kept (renamed `<name>.exp-chained`, bytes and mode untouched) and run by exp's hook
    /// first. Running it again only refreshes exp's own scripts.
    @discardableResult
    public func installHooks() throws -> HooksReport {
        let folder = try hooksFolder()
        do {
            try FileManager.default.createDirectory(atPath: folder.path, withIntermediateDirectories: true)
        } catch {
            throw ExpError(.io, "could not create the hooks folder \(folder.path): \(error.localizedDescription)")
        }
        var entries: [HookEntry] = []
        for name in HookScript.names {
            let path = folder.path + "/" + name
            let chained = path + HookScript.chainedSuffix
            let action: String
            switch Self.hookState(path, name: name) {
            case .installed, .installedChaining:
                action = "already installed"
            case .outdated:
                try Self.writeScript(name, at: path)
                action = "updated"
            case .absent:
                try Self.writeScript(name, at: path)
                action = "installed"
            case .foreign:
                if Self.exists(chained) {
                    throw ExpError(
                        .conflict, "cannot install the \(name) hook: \(path) is not exp's, and \(chained) is taken",
                        hint: "move one of them away, then install the hooks again", reason: .hookInstallBlocked)
                }
                guard rename(path, chained) == 0 else {
                    throw ExpError(.io, "could not move \(path) to \(chained): \(String(cString: strerror(errno)))")
                }
                do {
                    try Self.writeScript(name, at: path)
                } catch {
                    _ = rename(chained, path)
                    throw error
                }
                action = "installed; your hook runs first (kept as \(name)\(HookScript.chainedSuffix))"
            }
            entries.append(HookEntry(name: name, path: path, state: Self.hookState(path, name: name), action: action))
        }
        return HooksReport(folder: folder.path, fromHooksPath: folder.fromHooksPath, hooks: entries)
    }

    /// Removes exp's hooks and puts back, byte for byte and with its mode, any hook they
    /// chained. Hooks that are not exp's are left alone.
    @discardableResult
    public func uninstallHooks() throws -> HooksReport {
        let folder = try hooksFolder()
        var entries: [HookEntry] = []
        for name in HookScript.names {
            let path = folder.path + "/" + name
            let chained = path + HookScript.chainedSuffix
            let action: String
            switch Self.hookState(path, name: name) {
            case .absent:
                action = "not installed"
            case .foreign:
                action = "left alone: not exp's"
            case .installed, .installedChaining, .outdated:
                if Self.exists(chained) {
                    guard rename(chained, path) == 0 else {
                        throw ExpError(
                            .io, "could not put \(chained) back as \(path): \(String(cString: strerror(errno)))")
                    }
                    action = "removed; your hook is back"
                } else {
                    guard unlink(path) == 0 else {
                        throw ExpError(.io, "could not remove \(path): \(String(cString: strerror(errno)))")
                    }
                    action = "removed"
                }
            }
            entries.append(HookEntry(name: name, path: path, state: Self.hookState(path, name: name), action: action))
        }
        return HooksReport(folder: folder.path, fromHooksPath: folder.fromHooksPath, hooks: entries)
    }

    /// Whether `exp run` should tell the user about `exp hooks install` now: only once per
    /// repository (a marker file under `<common dir>/exp/`), and never when hooks are installed.
    public func takeHooksHint() -> Bool {
        if hooksInstalled() { return false }
        let marker = stateDirectory + "/hooks-hint-shown"
        if Self.exists(marker) { return false }
        try? FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        return FileManager.default.createFile(atPath: marker, contents: Data())
    }

    static func hookState(_ path: String, name: String) -> HookState {
        guard exists(path) else { return .absent }
        guard isExpHook(path) else { return .foreign }
        guard let data = FileManager.default.contents(atPath: path),
            String(decoding: data, as: UTF8.self) == HookScript.text(for: name)
        else { return .outdated }
        return exists(path + HookScript.chainedSuffix) ? .installedChaining : .installed
    }

    static func isExpHook(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 512)) ?? Data()
        return String(decoding: head, as: UTF8.self).contains(HookScript.marker)
    }

    /// Whether anything (a file, a folder, a symlink even when broken) is at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Writes exp's script for `name` at `path` (mode 0755) through a temp file and a rename.
    static func writeScript(_ name: String, at path: String) throws {
        try FileReplacement.write(
            Array(HookScript.text(for: name).utf8), to: path, mode: 0o755, what: "the \(name) hook")
    }
}
