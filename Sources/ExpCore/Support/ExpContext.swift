public import Foundation

/// Everything ExpCore needs from the outside world, passed in by the caller.
///
/// ExpCore never reads the process environment, `$HOME` or the clock by itself, so tests and
/// the web UI can run it with a fixed clock and a made-up environment.
public struct ExpContext: Sendable {
    /// The folder the user ran exp in; the repository is found from here upward.
    public var workingDirectory: String
    /// The environment exp was started with (used for user/host names, `EXP_NOW`, git config
    /// search paths, and what a launched command inherits).
    public var environment: [String: String]
    /// The current time. Defaults to the system clock, or to `EXP_NOW` when that is set.
    public var clock: @Sendable () -> Date
    /// What the core noticed for the caller to tell the user (settings of a shared
    /// `.expconfig` it did not honour); shared by every copy of this context.
    public let notices = ExpNotices()

    public init(
        workingDirectory: String, environment: [String: String],
        clock: (@Sendable () -> Date)? = nil
    ) {
        self.workingDirectory = workingDirectory
        self.environment = environment
        if let clock {
            self.clock = clock
        } else if let fixed = environment["EXP_NOW"].flatMap(Self.parseFixedTime) {
            self.clock = { fixed }
        } else {
            self.clock = { Date() }
        }
    }

    /// The current time according to `clock`.
    public func now() -> Date { clock() }

    /// Parses `EXP_NOW`: seconds since the epoch, or an ISO 8601 date-time.
    static func parseFixedTime(_ text: String) -> Date? {
        if let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
        return try? Date(text, strategy: .iso8601)
    }
}

/// Notes the core leaves for the caller to show, once each: the core never prints, and a
/// setting is often read deep inside a command (sealing a lost run, a hook).
public final class ExpNotices: @unchecked Sendable {
    private let lock = NSLock()
    private var ignored: [IgnoredSharedSetting] = []
    private var seen: Set<String> = []

    public init() {}

    /// Keeps `setting` unless a setting of the same key was noted before.
    func record(_ setting: IgnoredSharedSetting) {
        lock.lock()
        defer { lock.unlock() }
        guard seen.insert(setting.key.lowercased()).inserted else { return }
        ignored.append(setting)
    }

    /// The shared settings ignored since the last call, each key once per process.
    public func takeIgnoredSettings() -> [IgnoredSharedSetting] {
        lock.lock()
        defer { lock.unlock() }
        let taken = ignored
        ignored = []
        return taken
    }
}

/// A setting in the repository's shared `.expconfig` that exp did not honour, because it
/// would widen what exp records or sends (see `Workspace.sharedFileRules`); only the user's
/// own git config may set it.
public struct IgnoredSharedSetting: Sendable, Equatable {
    /// The key (`exp.env`).
    public var key: String
    /// What `.expconfig` set it to, in order.
    public var values: [String]
    /// The file that set it (`<root>/.expconfig`).
    public var file: String
    /// For a limit the shared file may only lower: the highest value it may set.
    public var sharedLimit: Int64?
}
