internal import CLibGit2
import Foundation

extension Repository {
    /// Adds a linked worktree named `name` at `path`, on the existing branch `branch` (short
    /// name) or, when nil, detached at `commit`, and checks its files out.
    ///
    /// libgit2 can only add a worktree on a branch, so a detached one is added on a
    /// short-lived branch `exp-worktree-<name>` that is deleted again before returning.
    public func addWorktree(name: String, path: String, branch: String?, commit: ObjectID) throws(GitError) {
        let branchName = branch ?? "exp-worktree-\(name)"
        if branch == nil { try createBranch(branchName, at: commit) }
        var reference: OpaquePointer?
        try check(
            git_reference_lookup(&reference, pointer, "refs/heads/" + branchName),
            "could not read branch \(branchName)")
        defer { git_reference_free(reference) }
        var options = git_worktree_add_options()
        try check(
            git_worktree_add_options_init(&options, UInt32(GIT_WORKTREE_ADD_OPTIONS_VERSION)),
            "could not start a worktree")
        options.ref = reference
        var worktree: OpaquePointer?
        let rc = git_worktree_add(&worktree, pointer, name, path, &options)
        let added = rc < 0 ? lastError(rc, "could not add a worktree at \(path)") : nil
        git_worktree_free(worktree)
        if branch == nil {
            defer { _ = git_branch_delete(reference) }
            if added == nil {
                let linked = try Repository.open(at: path)
                try linked.setHeadDetached(at: commit)
            }
        }
        if let added { throw added }
    }

    /// Removes the linked worktree `name`: its files and its admin folder under `.git/worktrees`.
    public func removeWorktree(name: String) throws(GitError) {
        var worktree: OpaquePointer?
        try check(git_worktree_lookup(&worktree, pointer, name), "could not find worktree \(name)")
        defer { git_worktree_free(worktree) }
        var options = git_worktree_prune_options()
        try check(
            git_worktree_prune_options_init(&options, UInt32(GIT_WORKTREE_PRUNE_OPTIONS_VERSION)),
            "could not start pruning")
        options.flags = GIT_WORKTREE_PRUNE_VALID.rawValue | GIT_WORKTREE_PRUNE_WORKING_TREE.rawValue
        try check(git_worktree_prune(worktree, &options), "could not remove worktree \(name)")
    }

    /// The folder of the linked worktree `name` as its admin folder records it (it may no
    /// longer exist); nil when there is no such worktree.
    public func worktreePath(name: String) -> String? {
        var worktree: OpaquePointer?
        guard git_worktree_lookup(&worktree, pointer, name) == 0 else { return nil }
        defer { git_worktree_free(worktree) }
        return git_worktree_path(worktree).map { String(cString: $0) }
    }

    /// Names of the linked worktrees (`git worktree list` without the main one).
    public func worktreeNames() throws(GitError) -> [String] {
        var names = git_strarray()
        try check(git_worktree_list(&names, pointer), "could not list worktrees")
        defer { git_strarray_dispose(&names) }
        return (0..<names.count).compactMap { names.strings[$0].map { String(cString: $0) } }
    }
}
