internal import CLibGit2

/// An annotated tag as read from `refs/tags/…`.
public struct AnnotatedTag: Sendable, Equatable {
    /// The full reference name, `refs/tags/exp/brave-otter`.
    public var reference: String
    /// The tag object the reference points at.
    public var tag: ObjectID
    /// The object the tag names (a commit for exp's tags).
    public var target: ObjectID
    public var message: String
    public var taggerName: String?
}

extension Repository {
    /// Creates the annotated tag `refs/tags/<name>` at `commit`, never moving an existing one:
    /// throws a `GitError` with `isExists` when the name is taken.
    @discardableResult
    public func createTag(named name: String, at commit: ObjectID, tagger: Signature, message: String)
        throws(GitError) -> ObjectID
    {
        try writeTag(name, at: commit, tagger: tagger, verb: "create", preposition: "at") {
            result, target, signature in
            git_tag_create(result, pointer, name, target, signature, message, 0)
        }
    }

    /// Writes an annotated tag object named `name` for `commit` without creating a reference
    /// (to move a tag with `updateReference(_:to:expecting:message:)`).
    public func writeTagObject(named name: String, at commit: ObjectID, tagger: Signature, message: String)
        throws(GitError) -> ObjectID
    {
        try writeTag(name, at: commit, tagger: tagger, verb: "write", preposition: "for") {
            result, target, signature in
            git_tag_annotation_create(result, pointer, name, target, signature, message)
        }
    }

    /// Looks up `commit` and calls `create` with it and the tagger's signature: what both ways
    /// of writing a tag share. `verb` and `preposition` word the errors.
    private func writeTag(
        _ name: String, at commit: ObjectID, tagger: Signature, verb: String, preposition: String,
        _ create: (UnsafeMutablePointer<git_oid>, OpaquePointer?, UnsafePointer<git_signature>) -> Int32
    ) throws(GitError) -> ObjectID {
        var object: OpaquePointer?
        var oid = commit.raw
        try check(
            git_object_lookup(&object, pointer, &oid, GIT_OBJECT_COMMIT), "could not read commit \(commit.short())")
        defer { git_object_free(object) }
        var result = git_oid()
        let rc: Int32
        do {
            rc = try tagger.withGitSignature { signature in create(&result, object, signature) }
        } catch let error as GitError {
            throw error
        } catch {
            throw GitError(operation: "could not \(verb) tag \(name)", reason: "\(error)", code: .generic)
        }
        try check(rc, "could not \(verb) tag \(name) \(preposition) \(commit.short())")
        return ObjectID(result)
    }

    /// The annotated tags whose references match `glob` (`refs/tags/exp/*`); lightweight tags
    /// are left out.
    public func annotatedTags(matching glob: String) throws(GitError) -> [AnnotatedTag] {
        var result: [AnnotatedTag] = []
        for reference in try references(matching: glob) {
            var object: OpaquePointer?
            var oid = reference.target.raw
            let rc = git_tag_lookup(&object, pointer, &oid)
            if rc == GIT_ENOTFOUND.rawValue { continue }  // a lightweight tag names a commit
            try check(rc, "could not read tag \(reference.name)")
            defer { git_tag_free(object) }
            let tagger = git_tag_tagger(object).flatMap { $0.pointee.name.map { String(cString: $0) } }
            result.append(
                AnnotatedTag(
                    reference: reference.name, tag: reference.target, target: ObjectID(git_tag_target_id(object)),
                    message: git_tag_message(object).map { String(cString: $0) } ?? "", taggerName: tagger))
        }
        return result
    }

    /// Whether `ancestor` is `commit` itself or reachable from it; false when either is missing.
    public func isAncestor(_ ancestor: ObjectID, ofAny tips: [ObjectID]) throws(GitError) -> Bool {
        if tips.contains(ancestor) { return true }
        guard !tips.isEmpty, contains(ancestor) else { return false }
        var raws = tips.filter { contains($0) }.map(\.raw)
        guard !raws.isEmpty else { return false }
        var oid = ancestor.raw
        let rc = git_graph_reachable_from_any(pointer, &oid, &raws, raws.count)
        try check(rc, "could not tell whether \(ancestor.short()) is in the pushed history")
        return rc == 1
    }
}

extension Repository {
    /// The newest entry of HEAD's reflog (the one that moved HEAD last): old id, new id and
    /// message (`commit (amend): …`); nil when there is no reflog.
    public func lastHeadMove() -> (old: ObjectID, new: ObjectID, message: String)? {
        var reflog: OpaquePointer?
        guard git_reflog_read(&reflog, pointer, "HEAD") == 0 else { return nil }
        defer { git_reflog_free(reflog) }
        guard git_reflog_entrycount(reflog) > 0, let entry = git_reflog_entry_byindex(reflog, 0),
            let old = git_reflog_entry_id_old(entry), let new = git_reflog_entry_id_new(entry)
        else { return nil }
        return (ObjectID(old), ObjectID(new), git_reflog_entry_message(entry).map { String(cString: $0) } ?? "")
    }
}
