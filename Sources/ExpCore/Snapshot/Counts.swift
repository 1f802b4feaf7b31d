import ExpGit

extension Repository {
    /// Paths that differ between `old` (nil: the empty tree) and `new`, as `ChangeCounts`.
    func changeCounts(from old: ObjectID?, to new: ObjectID) throws -> ChangeCounts {
        let counts: (modified: Int, added: Int, deleted: Int) = try diffCounts(from: old, to: new)
        return ChangeCounts(modified: counts.modified, added: counts.added, deleted: counts.deleted)
    }
}
