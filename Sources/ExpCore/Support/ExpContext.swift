public import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Everything ExpCore needs from the outside world, passed in by the caller.
///
/// ExpCore never reads the process environment, `$HOME`, the clock, the host or user name, or
/// the system's random numbers by itself, so tests and the web UI can run it with a fixed
/// clock, a made-up environment and a reproducible identity. `init(workingDirectory:environment:)`
/// is the one place that reads exp's own variables (`EXP_NOW`, `EXP_HOST`, `EXP_USER`,
/// `EXP_SEED`), so the CLI, the hooks and `exp-bench` all honour them alike.
public struct ExpContext: Sendable {
    /// The folder the user ran exp in; the repository is found from here upward.
    public var workingDirectory: String
    /// The environment exp was started with (used for git config search paths, recorded
    /// variables, and what a launched command inherits).
    public var environment: [String: String]
    /// The current time. Defaults to the system clock, or to `EXP_NOW` when that is set.
    public var clock: @Sendable () -> Date
    /// The host name exp records (a run's `host`, the machine facts' `hostname`, the email of
    /// exp's default committer). Defaults to `EXP_HOST`, else this machine's name.
    ///
    /// Only what is *recorded* follows it: whether a run's exp process is still alive is judged
    /// on the real machine (`LocalMachine.hostName`, kept in the live `supervisor` block), so a
    /// run started with `EXP_HOST=h` and killed is still sealed `lost` by the next exp command
    /// on this machine, whatever `EXP_HOST` that one has, and never by an exp on another
    /// machine given the same `EXP_HOST`. Where no supervisor block says (a `running` record
    /// from git, a live file of an older exp), a run is this machine's when its recorded host
    /// is the machine's name or this `host` (`RunRecord.ranOnThisMachine`).
    public var host: String
    /// The user exp records (a run's `user`, the machine facts' `user`, exp's default
    /// committer). Defaults to `EXP_USER`, else `USER`, `LOGNAME`, the account name.
    public var user: String
    /// Where run ids and run names get their randomness: `EXP_SEED` seeds it (the same seed
    /// gives the same ids and names), else the system's random numbers. Shared by every copy
    /// of this context.
    public var random: RandomSource
    /// What the core noticed for the caller to tell the user (settings of a shared
    /// `.expconfig` it did not honour); shared by every copy of this context.
    public let notices = ExpNotices()

    /// A context for `workingDirectory`; what is not given is taken from `environment`
    /// (`EXP_NOW`, `EXP_HOST`, `EXP_USER`, `EXP_SEED`; empty values count as unset), else from
    /// the system.
    public init(
        workingDirectory: String, environment: [String: String],
        clock: (@Sendable () -> Date)? = nil, host: String? = nil, user: String? = nil, random: RandomSource? = nil
    ) {
        self.workingDirectory = workingDirectory
        self.environment = environment
        func variable(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let clock {
            self.clock = clock
        } else if let fixed = variable("EXP_NOW").flatMap(Self.parseFixedTime) {
            self.clock = { fixed }
        } else {
            self.clock = { Date() }
        }
        self.host = host ?? variable("EXP_HOST") ?? LocalMachine.hostName
        self.user = user ?? variable("EXP_USER") ?? LocalMachine.userName(environment: environment)
        self.random = random ?? RandomSource(seed: variable("EXP_SEED").map(Self.parseSeed))
    }

    /// The current time according to `clock`.
    public func now() -> Date { clock() }

    /// Parses `EXP_NOW`: seconds since the epoch, or an ISO 8601 date-time.
    static func parseFixedTime(_ text: String) -> Date? {
        if let seconds = Double(text) { return Date(timeIntervalSince1970: seconds) }
        return try? Date(text, strategy: .iso8601)
    }

    /// Parses `EXP_SEED`: a decimal number is the seed itself; any other text seeds by its
    /// bytes (FNV-1a), so every value is a valid, stable seed.
    static func parseSeed(_ text: String) -> UInt64 {
        if let seed = UInt64(text) { return seed }
        return text.utf8.reduce(0xcbf2_9ce4_8422_2325 as UInt64) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
    }
}

/// The random numbers behind run ids and names: seeded (`EXP_SEED`) for reproducible ids in
/// tests and examples, else the system's. A class, so every copy of a context draws from one
/// sequence; safe to share between threads.
public final class RandomSource: RandomNumberGenerator, @unchecked Sendable {
    private let lock = NSLock()
    private var seeded: SeededGenerator?

    /// A source seeded with `seed`, or the system's random numbers when nil.
    public init(seed: UInt64?) {
        seeded = seed.map(SeededGenerator.init(seed:))
    }

    /// Whether the numbers are replayable (a seed was given).
    public var isSeeded: Bool {
        lock.lock()
        defer { lock.unlock() }
        return seeded != nil
    }

    public func next() -> UInt64 {
        lock.lock()
        defer { lock.unlock() }
        if var generator = seeded {
            defer { seeded = generator }
            return generator.next()
        }
        var system = SystemRandomNumberGenerator()
        return system.next()
    }
}

/// The real machine and account exp runs on, as the system reports them: the one place that
/// asks. `ExpContext` defaults its `host` and `user` to these; liveness checks (is a run's exp
/// process still alive on this machine?) use `hostName` directly, since `EXP_HOST` renames
/// what is recorded, not the machine.
package enum LocalMachine {
    /// This machine's host name (`gethostname`), or `localhost` when it can't be read.
    package static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    /// The user running exp: `USER`, else `LOGNAME` from `environment` (empty values skipped),
    /// else the account name of the effective user id, else `uid-N`.
    package static func userName(environment: [String: String]) -> String {
        for variable in ["USER", "LOGNAME"] {
            if let user = environment[variable], !user.isEmpty { return user }
        }
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid-\(geteuid())"
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
