internal import CLibGit2

#if canImport(Glibc)
    import Glibc
#endif

/// The difference between two trees, as `git diff OLD NEW` shows it (renames found).
public struct TreeDiff: Sendable, Equatable {
    /// How a path changed.
    public enum Status: String, Sendable, Equatable, Codable {
        case added, deleted, modified, renamed, copied, typechange, unreadable, other
    }

    /// One changed path.
    public struct File: Sendable, Equatable {
        /// The path in the new tree (the old one for a deletion).
        public var path: String
        /// The path in the old tree; differs from `path` for a rename or copy.
        public var oldPath: String
        public var status: Status
        /// Lines added (0 for a binary file).
        public var additions: Int
        /// Lines deleted (0 for a binary file).
        public var deletions: Int
        public var isBinary: Bool
        /// Sizes in bytes of the old and new blob (0 where absent).
        public var oldSize: Int64
        public var newSize: Int64
    }

    /// The changed paths, in git's order; a change of type (file to symlink) is one entry.
    public var files: [File]
    /// The unified patch, byte for byte what `git diff OLD NEW` prints.
    public var patch: [UInt8]
}

extension Repository {
    /// Runs `git_diff_tree_to_tree` between two trees (nil `old`: the empty tree) with
    /// `options`, leaving the diff (to be freed by the caller) in `diff`; returns libgit2's
    /// code so the caller reports the failure in its own words.
    func diffTreeToTree(
        _ diff: inout OpaquePointer?, from old: ObjectID?, to new: ObjectID, options: inout git_diff_options
    ) throws(GitError) -> Int32 {
        var oldTree: OpaquePointer?
        var newTree: OpaquePointer?
        defer {
            git_tree_free(oldTree)
            git_tree_free(newTree)
        }
        if let old {
            var oid = old.raw
            try check(git_tree_lookup(&oldTree, pointer, &oid), "could not read tree \(old)")
        }
        var newOID = new.raw
        try check(git_tree_lookup(&newTree, pointer, &newOID), "could not read tree \(new)")
        return git_diff_tree_to_tree(&diff, pointer, oldTree, newTree, &options)
    }

    /// Compares two trees like `git diff OLD NEW` with git's defaults (3 lines of context,
    /// renames detected), limited to `pathspecs` when any are given. A nil `old` is the
    /// empty tree. `abbreviation` is the length of object ids on `index` lines (git's
    /// `core.abbrev`; 7 by default).
    public func diffTrees(
        from old: ObjectID?, to new: ObjectID, pathspecs: [String] = [], abbreviation: Int = 7
    ) throws(GitError) -> TreeDiff {
        var options = git_diff_options()
        try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "could not set up diff")
        options.id_abbrev = UInt16(min(max(abbreviation, 4), 40))
        let specs = PathspecArray(pathspecs)
        var raw: OpaquePointer?
        let rc = try specs.withStrarray { (array) throws(GitError) -> Int32 in
            options.pathspec = array
            return try diffTreeToTree(&raw, from: old, to: new, options: &options)
        }
        let diff = DiffHandle(raw)
        try check(rc, "could not compare tree \(old?.short() ?? "(empty)") with \(new.short())")

        var findOptions = git_diff_find_options()
        try check(
            git_diff_find_options_init(&findOptions, UInt32(GIT_DIFF_FIND_OPTIONS_VERSION)),
            "could not set up rename detection")
        findOptions.flags = GIT_DIFF_FIND_RENAMES.rawValue
        try check(git_diff_find_similar(diff.pointer, &findOptions), "could not detect renames")

        var files: [TreeDiff.File] = []
        var patches: [[UInt8]] = []
        for index in 0..<git_diff_num_deltas(diff.pointer) {
            var patch: OpaquePointer?
            try check(git_patch_from_diff(&patch, diff.pointer, index), "could not compute the patch")
            defer { git_patch_free(patch) }
            var additions = 0
            var deletions = 0
            try check(git_patch_line_stats(nil, &additions, &deletions, patch), "could not count lines")
            guard let delta = git_patch_get_delta(patch) else { continue }
            let newPath = delta.pointee.new_file.path.map { String(cString: $0) } ?? ""
            let oldPath = delta.pointee.old_file.path.map { String(cString: $0) } ?? newPath
            let isBinary = delta.pointee.flags & GIT_DIFF_FLAG_BINARY.rawValue != 0
            files.append(
                TreeDiff.File(
                    path: newPath.isEmpty ? oldPath : newPath, oldPath: oldPath,
                    status: Self.status(delta.pointee.status), additions: additions, deletions: deletions,
                    isBinary: isBinary, oldSize: Int64(delta.pointee.old_file.size),
                    newSize: Int64(delta.pointee.new_file.size)))
            var buffer = git_buf()
            defer { git_buf_dispose(&buffer) }
            try check(git_patch_to_buf(&buffer, patch), "could not print the patch of \(newPath)")
            var text = Self.bytes(buffer)
            if git_patch_num_hunks(patch) == 0 && !isBinary { text = Self.droppingFileHeaders(text) }
            patches.append(text)
        }
        Self.mergeTypeChanges(&files, &patches)
        return TreeDiff(files: files, patch: Array(patches.joined()))
    }

    /// git splits a change of type (file to symlink) into a deletion and an addition, printed
    /// in that order, and counts it as one file; libgit2 gives the addition first.
    private static func mergeTypeChanges(_ files: inout [TreeDiff.File], _ patches: inout [[UInt8]]) {
        var index = 0
        while index + 1 < files.count {
            let first = files[index]
            let second = files[index + 1]
            let statuses = [first.status, second.status]
            if first.path == second.path && (statuses == [.added, .deleted] || statuses == [.deleted, .added]) {
                let (removal, addition) = first.status == .deleted ? (first, second) : (second, first)
                if first.status == .added { patches.swapAt(index, index + 1) }
                var merged = removal
                merged.status = .typechange
                merged.additions = addition.additions
                merged.isBinary = removal.isBinary || addition.isBinary
                merged.newSize = addition.newSize
                files[index] = merged
                files.remove(at: index + 1)
                patches[index] += patches.remove(at: index + 1)
            }
            index += 1
        }
    }

    /// git prints no `---`/`+++` lines for a file patch without hunks (an empty file added
    /// or deleted); libgit2 does.
    private static func droppingFileHeaders(_ text: [UInt8]) -> [UInt8] {
        let lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        let kept = lines.filter { !$0.starts(with: Array("--- ".utf8)) && !$0.starts(with: Array("+++ ".utf8)) }
        return Array(kept.joined(separator: [UInt8(ascii: "\n")]))
    }

    private static func bytes(_ buffer: git_buf) -> [UInt8] {
        guard let start = buffer.ptr, buffer.size > 0 else { return [] }
        return start.withMemoryRebound(to: UInt8.self, capacity: buffer.size) {
            Array(UnsafeBufferPointer(start: $0, count: buffer.size))
        }
    }

    private static func status(_ status: git_delta_t) -> TreeDiff.Status {
        switch status {
        case GIT_DELTA_ADDED: .added
        case GIT_DELTA_DELETED: .deleted
        case GIT_DELTA_MODIFIED: .modified
        case GIT_DELTA_RENAMED: .renamed
        case GIT_DELTA_COPIED: .copied
        case GIT_DELTA_TYPECHANGE: .typechange
        case GIT_DELTA_UNREADABLE: .unreadable
        default: .other
        }
    }
}

/// An owned `git_diff`, freed when it goes out of scope.
private struct DiffHandle: ~Copyable {
    let pointer: OpaquePointer?
    init(_ pointer: OpaquePointer?) { self.pointer = pointer }
    deinit { git_diff_free(pointer) }
}

/// C copies of pathspec strings, alive for the duration of `withStrarray`.
private struct PathspecArray: ~Copyable {
    private let strings: [UnsafeMutablePointer<CChar>?]

    init(_ pathspecs: [String]) { strings = pathspecs.map { strdup($0) } }

    deinit { for string in strings { free(string) } }

    func withStrarray<T>(_ body: (git_strarray) throws(GitError) -> T) throws(GitError) -> T {
        var copy = strings
        let count = copy.count
        return try copy.withUnsafeMutableBufferPointer { (buffer) throws(GitError) -> T in
            try body(git_strarray(strings: count == 0 ? nil : buffer.baseAddress, count: count))
        }
    }
}
