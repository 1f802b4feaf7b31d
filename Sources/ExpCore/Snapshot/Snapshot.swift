public import ExpGit
import Foundation

/// The working tree captured as a commit, as `git add -A && git write-tree` would stage it.
public struct Snapshot: Codable, Sendable, Equatable {
    /// The snapshot commit; equal to `parent` when the tree matched HEAD (`clean`).
    public var commit: ObjectID
    /// The tree of `commit`.
    public var tree: ObjectID
    /// HEAD when the snapshot was taken; nil on an unborn branch.
    public var parent: ObjectID?
    /// The branch HEAD was on (`main`), nil when detached.
    public var branch: String?
    /// Whether the working tree matched HEAD exactly (then no commit was written).
    public var clean: Bool
    /// Paths that differ from HEAD's tree.
    public var counts: ChangeCounts
    /// Files left out of the snapshot, and why.
    public var skipped: [SkippedFile]
}

/// How many paths a snapshot changes relative to HEAD.
public struct ChangeCounts: Codable, Sendable, Equatable {
    public var modified: Int
    public var added: Int
    public var deleted: Int

    public init(modified: Int = 0, added: Int = 0, deleted: Int = 0) {
        self.modified = modified
        self.added = added
        self.deleted = deleted
    }

    public var total: Int { modified + added + deleted }
}

/// A file the snapshot did not take.
public struct SkippedFile: Codable, Sendable, Equatable {
    /// Why a file was left out.
    public enum Reason: String, Codable, Sendable {
        /// Untracked and larger than `exp.maxFileSize`.
        case tooLarge = "too-large"
        /// Untracked and named like a key or credentials file.
        case secret
        /// Could not be read; the tree keeps what the index has for it (nothing if untracked).
        case unreadable
    }

    /// Path relative to the repository root.
    public var path: String
    /// Size in bytes when known.
    public var size: Int64?
    public var reason: Reason
    /// Extra detail (the system's error for `unreadable`).
    public var detail: String?

    public init(path: String, size: Int64?, reason: Reason, detail: String? = nil) {
        self.path = path
        self.size = size
        self.reason = reason
        self.detail = detail
    }
}
