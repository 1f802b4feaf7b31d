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
