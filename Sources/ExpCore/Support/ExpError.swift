public import ExpGit

/// The one error type users see: what failed, on what, and (optionally) what to do.
///
/// The CLI prints it as `exp: error: <message>` and `hint: <hint>` on stderr.
public struct ExpError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public var hint: String?
    /// Exit status the CLI uses for this error (1 unless a command says otherwise).
    public var exitCode: Int32

    public init(_ message: String, hint: String? = nil, exitCode: Int32 = 1) {
        self.message = message
        self.hint = hint
        self.exitCode = exitCode
    }

    /// Wraps a libgit2 failure, keeping its operation and reason as the message.
    public init(_ error: GitError, hint: String? = nil) {
        self.init(error.description, hint: hint)
    }

    public var description: String { message }
}

/// Runs `body`, turning any `GitError` into an `ExpError`.
func translatingGitErrors<T>(hint: String? = nil, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as GitError {
        throw ExpError(error, hint: hint)
    }
}
