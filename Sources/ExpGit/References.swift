internal import CLibGit2

/// A validated full reference name such as `refs/exp/runs/01jf3k…`.
public struct ReferenceName: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String

    /// Validates `name` with git's rules (`git check-ref-format`); nil when invalid.
    public init?(_ name: String) {
        Runtime.ensure()
        var valid: Int32 = 0
        guard git_reference_name_is_valid(&valid, name) == 0, valid == 1, name.hasPrefix("refs/")
        else { return nil }
        self.rawValue = name
    }

    public var description: String { rawValue }
}

extension Repository {
    /// The commit (or other object) `name` points at, peeled through symbolic refs; nil when
    /// the reference does not exist.
    public func resolve(_ name: ReferenceName) throws(GitError) -> ObjectID? {
        var oid = git_oid()
        let rc = git_reference_name_to_id(&oid, pointer, name.rawValue)
        if rc == GIT_ENOTFOUND.rawValue { return nil }
        try check(rc, "could not read \(name)")
        return ObjectID(oid)
    }

    /// Points `name` at `target` only if it currently points at `expected` (nil: only if it
    /// does not exist yet). Throws a `GitError` with `isModifiedConcurrently` or `isExists`
    /// when someone else moved or created it first.
    public func updateReference(
        _ name: ReferenceName, to target: ObjectID, expecting expected: ObjectID?, message: String
    ) throws(GitError) {
        var ref: OpaquePointer?
        var oid = target.raw
        if let expected {
            var old = expected.raw
            try check(
                git_reference_create_matching(&ref, pointer, name.rawValue, &oid, 1, &old, message),
                "could not move \(name) from \(expected.short()) to \(target.short())")
        } else {
            try check(
                git_reference_create(&ref, pointer, name.rawValue, &oid, 0, message),
                "could not create \(name) at \(target.short())")
        }
        git_reference_free(ref)
    }

    /// Deletes `name` if it still points at `expected`.
    public func deleteReference(_ name: ReferenceName, expecting expected: ObjectID) throws(GitError) {
        var ref: OpaquePointer?
        try check(git_reference_lookup(&ref, pointer, name.rawValue), "could not read \(name)")
        defer { git_reference_free(ref) }
        guard let target = git_reference_target(ref), ObjectID(target) == expected else {
            throw GitError(
                operation: "could not delete \(name)", reason: "it moved since it was read",
                code: .modified)
        }
        try check(git_reference_delete(ref), "could not delete \(name)")
    }

    /// All references matching a glob such as `refs/exp/runs/*`, with the ids they point at,
    /// sorted by name. Reads loose and packed references.
    public func references(matching glob: String) throws(GitError) -> [(name: String, target: ObjectID)] {
        var iterator: OpaquePointer?
        try check(git_reference_iterator_glob_new(&iterator, pointer, glob), "could not list \(glob)")
        defer { git_reference_iterator_free(iterator) }
        var result: [(name: String, target: ObjectID)] = []
        var ref: OpaquePointer?
        while true {
            let rc = git_reference_next(&ref, iterator)
            if rc == GIT_ITEROVER.rawValue { break }
            try check(rc, "could not list \(glob)")
            defer { git_reference_free(ref) }
            if let target = git_reference_target(ref) {
                result.append((String(cString: git_reference_name(ref)), ObjectID(target)))
            }
        }
        return result.sorted { $0.name < $1.name }
    }
}
