internal import CLibGit2

#if canImport(Glibc)
    import Glibc
#endif

/// What a shared fallback file (`.expconfig`, committed with the code) may not decide.
public enum SharedFileRule: Sendable, Equatable {
    /// Only the user's own git config may set the key; the shared file's value is ignored.
    case userOnly
    /// The shared file may set the key only to a size of at most this many bytes: it may
    /// narrow a limit, never widen it.
    case sizeAtMost(Int64)
}

/// A value the shared fallback file set that its rule refused, so it was not used.
public struct IgnoredSetting: Sendable, Equatable {
    /// The key as the caller asked for it (`exp.env`).
    public var key: String
    /// The file's values for it, in order.
    public var values: [String]
    /// The file that set it.
    public var file: String
    /// The rule that refused it.
    public var rule: SharedFileRule
}

/// Read access to git configuration, with a versioned file (like `.lfsconfig`) underneath.
///
/// Lookups go through the repository's config (local, worktree, global, XDG, system) first,
/// then the fallback file, so a user's own git config always wins over the shared file. Keys
/// with a `SharedFileRule` are read from the fallback file only as far as their rule allows;
/// what it refuses is reported to `onIgnored` and read as unset.
public struct ConfigReader {
    private let repository: Repository
    private let fallbackPath: String?
    /// Rules by lower-cased key (git's section and variable names are case-insensitive).
    private let rules: [String: SharedFileRule]
    private let onIgnored: (@Sendable (IgnoredSetting) -> Void)?

    /// - Parameters:
    ///   - fallbackPath: a git-config-syntax file read when no git config file sets a key
    ///     (exp passes `<repo root>/.expconfig`); ignored when it does not exist.
    ///   - sharedFileRules: what the fallback file may not decide, by key (`exp.env`).
    ///   - onIgnored: told each time a fallback value is refused by its rule.
    public init(
        repository: Repository, fallbackPath: String?, sharedFileRules: [String: SharedFileRule] = [:],
        onIgnored: (@Sendable (IgnoredSetting) -> Void)? = nil
    ) {
        self.repository = repository
        self.fallbackPath = fallbackPath
        self.rules = Dictionary(sharedFileRules.map { ($0.key.lowercased(), $0.value) }) { _, last in last }
        self.onIgnored = onIgnored
    }

    /// The last value of `key` (e.g. `exp.maxFileSize`), or nil when no file sets it. A key
    /// written without `=` (git's shorthand for true) reads as the empty string.
    ///
    /// - Parameter includeFallback: false to read only the user's own git config files (for
    ///   identity and other settings a shared file must not decide).
    public func string(_ key: String, includeFallback: Bool = true) throws(GitError) -> String? {
        try values(key, includeFallback: includeFallback).last.map { $0 ?? "" }
    }

    /// Every value of a multi-valued `key`, from the git config files when any sets it,
    /// else from the fallback file.
    public func all(_ key: String) throws(GitError) -> [String] {
        try values(key, includeFallback: true).map { $0 ?? "" }
    }

    /// Raw values (nil for a key without `=`).
    private func values(_ key: String, includeFallback: Bool) throws(GitError) -> [String?] {
        var config: OpaquePointer?
        try check(git_repository_config_snapshot(&config, repository.pointer), "could not read git config")
        defer { git_config_free(config) }
        let values = try Self.values(of: key, in: config)
        if !values.isEmpty { return values }
        guard includeFallback, let fallbackPath, Self.fileExists(fallbackPath) else { return [] }
        var file: OpaquePointer?
        try check(git_config_open_ondisk(&file, fallbackPath), "could not read \(fallbackPath)")
        defer { git_config_free(file) }
        let shared = try Self.values(of: key, in: file)
        guard !shared.isEmpty, let rule = rules[key.lowercased()] else { return shared }
        switch rule {
        case .userOnly:
            break
        case .sizeAtMost(let limit):
            var value: Int64 = 0
            // A value that is no size is left to the caller, which says what is wrong with it.
            let text = (shared.last ?? nil) ?? ""
            guard git_config_parse_int64(&value, text) == 0, value > limit else { return shared }
        }
        onIgnored?(IgnoredSetting(key: key, values: shared.map { $0 ?? "" }, file: fallbackPath, rule: rule))
        return []
    }

    /// `key` as a size with git's `k`/`m`/`g` suffixes (`10m`), or nil when unset. Negative
    /// sizes are refused.
    public func size(_ key: String) throws(GitError) -> Int64? {
        guard let text = try string(key) else { return nil }
        var value: Int64 = 0
        guard git_config_parse_int64(&value, text) == 0, value >= 0 else {
            throw GitError(
                operation: "bad value for \(key): \(text)",
                reason: "expected a size such as 512k, 10m or 1g", code: .generic, errorClass: .config)
        }
        return value
    }

    /// `key` as a boolean, read as git reads it (true/yes/on, false/no/off, numbers, and a
    /// key without `=` meaning true), or nil when unset.
    public func bool(_ key: String) throws(GitError) -> Bool? {
        guard let raw = try values(key, includeFallback: true).last else { return nil }
        guard let text = raw else { return true }
        var value: Int32 = 0
        guard git_config_parse_bool(&value, text) == 0 else {
            throw GitError(
                operation: "bad value for \(key): \(text)", reason: "expected true or false",
                code: .generic, errorClass: .config)
        }
        return value != 0
    }

    private static func values(of key: String, in config: OpaquePointer?) throws(GitError) -> [String?] {
        var iterator: OpaquePointer?
        let rc = git_config_multivar_iterator_new(&iterator, config, key, nil)
        if rc == GIT_ENOTFOUND.rawValue { return [] }
        try check(rc, "could not read config key \(key)")
        defer { git_config_iterator_free(iterator) }
        var result: [String?] = []
        var entry: UnsafeMutablePointer<git_config_entry>?
        while true {
            let next = git_config_next(&entry, iterator)
            if next == GIT_ITEROVER.rawValue { break }
            try check(next, "could not read config key \(key)")
            if let entry { result.append(entry.pointee.value.map { String(cString: $0) }) }
        }
        return result
    }

    private static func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}
