internal import CLibGit2

/// A failed libgit2 call: what exp tried to do, and libgit2's own explanation, class and code.
///
/// Callers decide by `code` and `errorClass` (`isNotFound`, `isBareRepository`…), never by the
/// text of `operation` or `reason`: those are for people.
public struct GitError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was being attempted, e.g. "could not open repository at /tmp/x".
    public var operation: String
    /// libgit2's message for the failure (may be empty).
    public var reason: String
    /// libgit2's return code (`GIT_ENOTFOUND` and friends).
    public var code: Code
    /// Where libgit2 says the failure came from (`git_error_last()->klass`); `.none` when
    /// libgit2 set no error (a failure exp itself found).
    public var errorClass: ErrorClass

    /// Whether the failure means "the thing looked up does not exist".
    public var isNotFound: Bool { code == .notFound }
    /// Whether the failure came from a compare-and-swap on a reference.
    public var isModifiedConcurrently: Bool { code == .modified }
    /// Whether the failure is because the target already exists.
    public var isExists: Bool { code == .exists }
    /// Whether the repository has no working tree.
    public var isBareRepository: Bool { code == .bareRepository }

    public init(operation: String, reason: String, code: Code, errorClass: ErrorClass = .none) {
        self.operation = operation
        self.reason = reason
        self.code = code
        self.errorClass = errorClass
    }

    public var description: String {
        reason.isEmpty ? operation : "\(operation): \(reason)"
    }

    /// A libgit2 return code (`git_error_code`): negative, `.generic` (-1) when nothing more
    /// precise applies.
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// `GIT_ERROR`: no more precise code.
        public static let generic = Code(rawValue: GIT_ERROR.rawValue)
        /// `GIT_ENOTFOUND`: the object, reference or repository does not exist.
        public static let notFound = Code(rawValue: GIT_ENOTFOUND.rawValue)
        /// `GIT_EEXISTS`: something of that name is already there.
        public static let exists = Code(rawValue: GIT_EEXISTS.rawValue)
        /// `GIT_EAMBIGUOUS`: a short id matches several objects.
        public static let ambiguous = Code(rawValue: GIT_EAMBIGUOUS.rawValue)
        /// `GIT_EBAREREPO`: the operation needs a working tree.
        public static let bareRepository = Code(rawValue: GIT_EBAREREPO.rawValue)
        /// `GIT_EUNBORNBRANCH`: HEAD names a branch with no commits.
        public static let unbornBranch = Code(rawValue: GIT_EUNBORNBRANCH.rawValue)
        /// `GIT_EINVALIDSPEC`: a name or refspec is not well formed.
        public static let invalidSpec = Code(rawValue: GIT_EINVALIDSPEC.rawValue)
        /// `GIT_ECONFLICT`: checkout conflicts prevented the operation.
        public static let conflict = Code(rawValue: GIT_ECONFLICT.rawValue)
        /// `GIT_ELOCKED`: a lock file is in the way.
        public static let locked = Code(rawValue: GIT_ELOCKED.rawValue)
        /// `GIT_EMODIFIED`: a reference is no longer what it was expected to be.
        public static let modified = Code(rawValue: GIT_EMODIFIED.rawValue)
        /// `GIT_EPEEL`: the object cannot be peeled to the type asked for.
        public static let peel = Code(rawValue: GIT_EPEEL.rawValue)
        /// `GIT_EINVALID`: an invalid operation or input.
        public static let invalid = Code(rawValue: GIT_EINVALID.rawValue)
        /// `GIT_EMISMATCH`: an object's hash does not match its content.
        public static let mismatch = Code(rawValue: GIT_EMISMATCH.rawValue)
        /// `GIT_EOWNER`: the repository is not owned by the current user.
        public static let owner = Code(rawValue: GIT_EOWNER.rawValue)

        public var description: String { "\(rawValue)" }
    }

    /// The part of libgit2 an error came from (`git_error_t`).
    public struct ErrorClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }

        /// No libgit2 error was set: exp itself found the failure.
        public static let none = ErrorClass(rawValue: Int32(GIT_ERROR_NONE.rawValue))
        /// Out of memory.
        public static let noMemory = ErrorClass(rawValue: Int32(GIT_ERROR_NOMEMORY.rawValue))
        /// A system call failed (`errno`).
        public static let os = ErrorClass(rawValue: Int32(GIT_ERROR_OS.rawValue))
        /// An argument was invalid.
        public static let invalid = ErrorClass(rawValue: Int32(GIT_ERROR_INVALID.rawValue))
        /// References.
        public static let reference = ErrorClass(rawValue: Int32(GIT_ERROR_REFERENCE.rawValue))
        /// Compressed object data.
        public static let zlib = ErrorClass(rawValue: Int32(GIT_ERROR_ZLIB.rawValue))
        /// Opening or reading the repository.
        public static let repository = ErrorClass(rawValue: Int32(GIT_ERROR_REPOSITORY.rawValue))
        /// Git config files.
        public static let config = ErrorClass(rawValue: Int32(GIT_ERROR_CONFIG.rawValue))
        /// The object database.
        public static let odb = ErrorClass(rawValue: Int32(GIT_ERROR_ODB.rawValue))
        /// The index file.
        public static let index = ErrorClass(rawValue: Int32(GIT_ERROR_INDEX.rawValue))
        /// Parsing or looking up objects.
        public static let object = ErrorClass(rawValue: Int32(GIT_ERROR_OBJECT.rawValue))
        /// Tags.
        public static let tag = ErrorClass(rawValue: Int32(GIT_ERROR_TAG.rawValue))
        /// Trees.
        public static let tree = ErrorClass(rawValue: Int32(GIT_ERROR_TREE.rawValue))
        /// Checking out files.
        public static let checkout = ErrorClass(rawValue: Int32(GIT_ERROR_CHECKOUT.rawValue))
        /// The file system (paths, permissions).
        public static let filesystem = ErrorClass(rawValue: Int32(GIT_ERROR_FILESYSTEM.rawValue))
        /// Linked worktrees.
        public static let worktree = ErrorClass(rawValue: Int32(GIT_ERROR_WORKTREE.rawValue))
        /// Hashing (SHA-1 collisions, hash mismatches).
        public static let sha = ErrorClass(rawValue: Int32(GIT_ERROR_SHA.rawValue))
        /// A libgit2 bug or unexpected state.
        public static let `internal` = ErrorClass(rawValue: Int32(GIT_ERROR_INTERNAL.rawValue))

        public var description: String { "\(rawValue)" }
    }
}

/// Throws a `GitError` carrying libgit2's thread-local message and class when `rc` is negative.
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
    var errorClass = GitError.ErrorClass.none
    if let err = git_error_last() {
        errorClass = GitError.ErrorClass(rawValue: err.pointee.klass)
        if let message = err.pointee.message {
            reason = String(cString: message)
            while reason.hasSuffix("\n") || reason.hasSuffix(".") { reason.removeLast() }
        }
    }
    return GitError(operation: operation, reason: reason, code: GitError.Code(rawValue: rc), errorClass: errorClass)
}
