internal import CLibGit2

/// Who made a commit or tag, and when.
public struct Signature: Sendable, Equatable {
    public var name: String
    public var email: String
    /// Seconds since the Unix epoch.
    public var time: Int64
    /// Offset from UTC in minutes.
    public var offsetMinutes: Int32

    public init(name: String, email: String, time: Int64, offsetMinutes: Int32 = 0) {
        self.name = name
        self.email = email
        self.time = time
        self.offsetMinutes = offsetMinutes
    }

    /// Calls `body` with a libgit2 signature built from this value, freed afterwards.
    func withGitSignature<T>(_ body: (UnsafePointer<git_signature>) throws -> T) throws -> T {
        var pointer: UnsafeMutablePointer<git_signature>?
        try check(
            git_signature_new(&pointer, name, email, git_time_t(time), Int32(offsetMinutes)),
            "could not make a signature for \(name) <\(email)>")
        defer { git_signature_free(pointer) }
        guard let pointer else { throw GitError(operation: "could not make a signature", reason: "", code: .generic) }
        return try body(pointer)
    }
}
