internal import CLibGit2

#if canImport(Glibc)
    import Glibc
#endif

/// Read access to git configuration, with a versioned file (like `.lfsconfig`) underneath.
///
/// Lookups go through the repository's config (local, worktree, global, XDG, system) first,
/// then the fallback file, so a user's own git config always wins over the shared file.
public struct ConfigReader {
    private let repository: Repository
    private let fallbackPath: String?

    /// - Parameter fallbackPath: a git-config-syntax file read when no git config file sets a
    ///   key (exp passes `<repo root>/.expconfig`); ignored when it does not exist.
    public init(repository: Repository, fallbackPath: String?) {
        self.repository = repository
        self.fallbackPath = fallbackPath
    }

    /// The last value of `key` (e.g. `exp.maxFileSize`), or nil when no file sets it.
    public func string(_ key: String) throws(GitError) -> String? {
        try all(key).last
    }

    /// Every value of a multi-valued `key`, from the git config files when any sets it,
    /// else from the fallback file.
    public func all(_ key: String) throws(GitError) -> [String] {
        var config: OpaquePointer?
        try check(git_repository_config_snapshot(&config, repository.pointer), "could not read git config")
        defer { git_config_free(config) }
        let values = try Self.values(of: key, in: config)
        if !values.isEmpty { return values }
        guard let fallbackPath, Self.fileExists(fallbackPath) else { return [] }
        var file: OpaquePointer?
        try check(git_config_open_ondisk(&file, fallbackPath), "could not read \(fallbackPath)")
        defer { git_config_free(file) }
        return try Self.values(of: key, in: file)
    }

    /// `key` as a size with git's `k`/`m`/`g` suffixes (`10m`), or nil when unset.
    public func size(_ key: String) throws(GitError) -> Int64? {
        guard let text = try string(key) else { return nil }
        guard let value = parseGitInteger(text) else {
            throw GitError(
                operation: "bad value for \(key): \(text)",
                reason: "expected a number with an optional k, m or g suffix", code: -1)
        }
        return value
    }

    /// `key` as a boolean in git's spellings (true/yes/on/1, false/no/off/0), or nil when unset.
    public func bool(_ key: String) throws(GitError) -> Bool? {
        guard let text = try string(key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on", "1", "": return true
        case "false", "no", "off", "0": return false
        default:
            throw GitError(operation: "bad value for \(key): \(text)", reason: "expected true or false", code: -1)
        }
    }

    private static func values(of key: String, in config: OpaquePointer?) throws(GitError) -> [String] {
        var iterator: OpaquePointer?
        let rc = git_config_multivar_iterator_new(&iterator, config, key, nil)
        if rc == GIT_ENOTFOUND.rawValue { return [] }
        try check(rc, "could not read config key \(key)")
        defer { git_config_iterator_free(iterator) }
        var result: [String] = []
        var entry: UnsafeMutablePointer<git_config_entry>?
        while true {
            let next = git_config_next(&entry, iterator)
            if next == GIT_ITEROVER.rawValue { break }
            try check(next, "could not read config key \(key)")
            if let entry, let value = entry.pointee.value { result.append(String(cString: value)) }
        }
        return result
    }

    private static func fileExists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }
}

/// Parses git's integer syntax: digits with an optional `k`, `m` or `g` (binary) suffix.
func parseGitInteger(_ text: String) -> Int64? {
    var digits = text.trimmingSpaces.lowercased()
    var factor: Int64 = 1
    switch digits.last {
    case "k": factor = 1 << 10
    case "m": factor = 1 << 20
    case "g": factor = 1 << 30
    default: break
    }
    if factor != 1 { digits.removeLast() }
    guard let value = Int64(digits) else { return nil }
    let (product, overflow) = value.multipliedReportingOverflow(by: factor)
    return overflow ? nil : product
}

extension String {
    fileprivate var trimmingSpaces: String {
        var text = Substring(self)
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return String(text)
    }
}
