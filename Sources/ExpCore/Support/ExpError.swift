public import ExpGit

/// The one error type of the core: what failed, on what, and (optionally) what to do.
///
/// The core speaks no CLI: `message` and `hint` are plain sentences that read well in a
/// terminal, a log or a web page, and name no command or flag. A front end decides by `kind`
/// (the CLI's exit status, a web server's HTTP status) and words its own advice from `reason`,
/// whose payloads (the candidates of an ambiguous run, the paths that block a checkout…) are
/// typed values, never text to pick apart.
public struct ExpError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What sort of failure this is.
    public var kind: Kind
    /// What failed, on what.
    public var message: String
    /// What to do about it, in plain words.
    public var hint: String?
    /// The failure as a value, for a caller that acts on it or words its own advice.
    public var reason: Reason?

    /// What sort of failure an error is.
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// The request itself is wrong: a malformed argument, options that exclude each other.
        case usage
        /// The run, file, repository or key named does not exist.
        case notFound
        /// What was named matches more than one thing.
        case ambiguous
        /// The state of the repository or of a run stands in the way (uncommitted work, a
        /// name taken, a run still running, another process changed it meanwhile).
        case conflict
        /// A setting (git config, `.expconfig`, a params file) has a value exp cannot use.
        case config
        /// Something stored is damaged or not what exp wrote (a record, an index, a tree).
        case corrupt
        /// Reading or writing a file, the repository or a remote failed.
        case io
        /// A failure nobody classified yet, or a bug.
        case `internal`
    }

    /// A run offered to the user when a reference matched several.
    public struct RunCandidate: Sendable, Hashable {
        public var id: RunID
        public var name: String

        public init(id: RunID, name: String) {
            self.id = id
            self.name = name
        }
    }

    /// A part of a request that excludes another one (`Reason.cannotCombine`).
    public enum RequestPart: String, Sendable {
        /// Restore into a new linked worktree at a folder.
        case folder
        /// Create and check out a new branch.
        case branch
        /// Restore only some paths.
        case paths
    }

    /// The failure as a value: what a front end needs to act on it or to word its own advice.
    public enum Reason: Sendable, Equatable {
        /// The working folder does not exist.
        case noSuchFolder(path: String)
        /// No git repository contains the working folder.
        case notARepository(path: String)
        /// The repository has no working tree (its git folder is given).
        case bareRepository(path: String)
        /// A run was asked for, and none has been recorded yet.
        case noRuns
        /// No run matches the reference; `suggestions` are names close to what was typed.
        case runNotFound(RunRef, suggestions: [String])
        /// The reference matches several runs: the first `candidates` of `total`, newest first.
        case ambiguousRun(RunRef, candidates: [RunCandidate], total: Int)
        /// The text given is not a run reference.
        case badRunReference(String)
        /// The text given is not a run filter.
        case badFilter(String)
        /// No run has a value of the metric or param `key`.
        case noValues(key: String)
        /// Another run already has this name.
        case runNameTaken(String)
        /// Two parts of a request cannot be given together.
        case cannotCombine(RequestPart, RequestPart)
        /// Checking out `run` would change these paths holding uncommitted work.
        case checkoutBlocked(run: String, paths: [String])
        /// Restoring the artifacts of `run` would overwrite these different files.
        case artifactsBlocked(run: String, paths: [String])
        /// `run` started before the first commit and its branch has commits now: only a new
        /// branch can hold its code.
        case needsNewBranch(run: String)
        /// `run` started before the first commit: it has no commit a new worktree could start from.
        case needsThisWorktree(run: String)
        /// The checkout failed after the current state was saved as this autosave.
        case savedBeforeFailure(autosave: String)
        /// `run` has no artifacts at these paths.
        case noSuchArtifacts(run: String, paths: [String])
        /// `run` holds what exp never records (an unsafe tree, a forged autosave).
        case tamperedRun(String)
        /// `run` is still running.
        case runStillRunning(String)
        /// Another process changed the run (or record) meanwhile; nothing was done.
        case changedConcurrently(run: RunID?)
        /// The run index is damaged; rebuilding it from the refs fixes it.
        case indexDamaged
        /// The disk is full.
        case diskFull
        /// Which remote to use is not clear: these are the repository's remotes.
        case remoteNotChosen(remotes: [String])
        /// A hook file and the file it would be kept as are both someone else's.
        case hookInstallBlocked
        /// Comparing `part` needs a second run; only `run` was given.
        case needsSecondRun(run: RunRef, part: RunDiffPart)
        /// A run was asked for with no command to run.
        case noCommand
        /// `run` was recorded with credentials masked: running it again would pass the mask.
        case maskedCredentials(run: String)
    }

    /// An error of `kind`, with an optional hint and reason.
    public init(_ kind: Kind, _ message: String, hint: String? = nil, reason: Reason? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
        self.reason = reason
    }

    /// An error nobody classified yet (`kind` is `.internal`).
    public init(_ message: String, hint: String? = nil) {
        self.init(.internal, message, hint: hint)
    }

    /// Wraps a libgit2 failure, keeping its operation and reason as the message and judging
    /// the kind from its code and class.
    public init(_ error: GitError, hint: String? = nil) {
        self.init(Kind(error), error.description, hint: hint)
    }

    public var description: String { message }
}

extension ExpError.Kind {
    /// The kind of a libgit2 failure, from its code first, then its class.
    public init(_ error: GitError) {
        switch error.code {
        case .notFound: self = .notFound
        case .ambiguous: self = .ambiguous
        case .exists, .modified, .locked, .conflict, .bareRepository, .unbornBranch, .owner: self = .conflict
        case .mismatch: self = .corrupt
        default:
            switch error.errorClass {
            case .config: self = .config
            case .zlib, .sha: self = .corrupt
            case .noMemory, .internal: self = .internal
            default: self = .io
            }
        }
    }
}

/// Runs `body`, turning any `GitError` into an `ExpError`.
func translatingGitErrors<T>(hint: String? = nil, _ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as GitError {
        throw ExpError(error, hint: hint)
    }
}
