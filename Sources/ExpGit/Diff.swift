internal import CLibGit2

extension Repository {
    /// Counts the paths added, modified (content, mode or type) and deleted between two
    /// trees. Identical subtrees are skipped without being read. A nil `old` is the empty tree.
    public func diffCounts(from old: ObjectID?, to new: ObjectID) throws(GitError)
        -> (modified: Int, added: Int, deleted: Int)
    {
        var options = git_diff_options()
        try check(git_diff_options_init(&options, UInt32(GIT_DIFF_OPTIONS_VERSION)), "could not set up diff")
        options.flags = GIT_DIFF_IGNORE_SUBMODULES.rawValue | GIT_DIFF_SKIP_BINARY_CHECK.rawValue
        var diff: OpaquePointer?
        try check(
            try diffTreeToTree(&diff, from: old, to: new, options: &options),
            "could not compare tree \(old?.short() ?? "(empty)") with \(new.short())")
        defer { git_diff_free(diff) }
        var counts = (modified: 0, added: 0, deleted: 0)
        for index in 0..<git_diff_num_deltas(diff) {
            guard let delta = git_diff_get_delta(diff, index) else { continue }
            switch delta.pointee.status {
            case GIT_DELTA_ADDED: counts.added += 1
            case GIT_DELTA_DELETED: counts.deleted += 1
            default: counts.modified += 1
            }
        }
        return counts
    }
}
