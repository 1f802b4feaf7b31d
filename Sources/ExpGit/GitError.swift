internal import CLibGit2

/// A failed libgit2 call: what exp tried to do, and libgit2's own explanation.
public struct GitError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was being attempted, e.g. "could not open repository at /tmp/x".
    public var operation: String
    /// libgit2's message for the failure (may be empty).
    public var reason: String
    /// libgit2's error code (`GIT_ENOTFOUND` and friends), negative.
    public var code: Int32

    /// Whether the failure means "the thing looked up does not exist".
    public var isNotFound: Bool { code == GIT_ENOTFOUND.rawValue }
    /// Whether the failure came from a compare-and-swap on a reference.
    public var isModifiedConcurrently: Bool { code == GIT_EMODIFIED.rawValue }
    /// Whether the failure is because the target already exists.
    public var isExists: Bool { code == GIT_EEXISTS.rawValue }

    public init(operation: String, reason: String, code: Int32) {
        self.operation = operation
        self.reason = reason
        self.code = code
    }

    public var description: String {
        reason.isEmpty ? operation : "\(operation): \(reason)"
    }
}

/// Throws a `GitError` carrying libgit2's thread-local message when `rc` is negative.
///
/// Must be called right after the failing call: libgit2's last error is per thread and is
/// overwritten by the next failing call.
@inline(__always)
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(GitError) {
    if rc < 0 { throw lastError(rc, operation()) }
}

/// Builds a `GitError` from libgit2's last error for this thread.
func lastError(_ rc: Int32, _ operation: String) -> GitError {
    var reason = ""
    if let err = git_error_last(), let message = err.pointee.message {
        reason = String(cString: message)
        while reason.hasSuffix("\n") || reason.hasSuffix(".") { reason.removeLast() }
    }
    return GitError(operation: operation, reason: reason, code: rc)
}
