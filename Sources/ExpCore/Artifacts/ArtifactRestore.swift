import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `exp artifacts RUN --restore` was asked to do.
public struct ArtifactRestoreRequest: Sendable {
    public var run: RunRef
    /// Only these artifacts (paths relative to the context's folder, or to the root); all when
    /// empty. A folder selects the artifacts under it.
    public var paths: [String]
    /// Write under this folder instead of the worktree root (relative to the context's folder).
    public var into: String?
    /// Replace existing different files, keeping each as `NAME.exp-backup-<n>`.
    public var force: Bool

    public init(run: RunRef, paths: [String] = [], into: String? = nil, force: Bool = false) {
        self.run = run
        self.paths = paths
        self.into = into
        self.force = force
    }
}

/// What happened to one artifact on restore.
public struct RestoredArtifact: Sendable, Equatable {
    public var artifact: Artifact
    /// Where it was written (absolute).
    public var destination: String
    public var outcome: Outcome

    public enum Outcome: Sendable, Equatable {
        /// The file was missing and is now written.
        case written
        /// An identical file was already there; nothing was written.
        case unchanged
        /// A different file was there; it was renamed to this path first (`--force`).
        case replaced(backup: String)
        /// Not restored: it was never stored (the reason says why).
        case notStored(String)
    }
}

/// The artifacts of one run, restored.
public struct ArtifactRestoreResult: Sendable {
    public var run: StoredRun
    /// The folder artifact paths were written under.
    public var folder: String
    public var artifacts: [RestoredArtifact]
}

extension Workspace {
    /// Writes a run's stored artifacts back to their paths, verifying each against its hash.
    ///
    /// Refuses, writing nothing, when a different file is in the way (unless `force`: then it is
    /// renamed to `NAME.exp-backup-<n>` once the new content is verified) or an object is
    /// missing. A corrupt object is an error that leaves its destination as it was.
    public func restoreArtifacts(
        _ request: ArtifactRestoreRequest, progress: ((ArtifactProgress) -> Void)? = nil
    ) throws -> ArtifactRestoreResult {
        let store = try RunStore.forReadingWorkspace(self)
        let run = try store.resolve(request.run, includeAutosaves: true)
        let folder = request.into.map { absolute($0) } ?? repository.workingDirectory
        let all = try store.artifacts(of: run).artifacts
        let chosen = try select(all, paths: request.paths, run: run)
        return try restoreArtifacts(chosen, of: run, into: folder, force: request.force, progress: progress)
    }

    /// Restores `artifacts` of `run` under `folder` (see `restoreArtifacts(_:progress:)`).
    func restoreArtifacts(
        _ artifacts: [Artifact], of run: StoredRun, into folder: String, force: Bool,
        progress: ((ArtifactProgress) -> Void)?
    ) throws -> ArtifactRestoreResult {
        let plan = try planRestore(artifacts, of: run, into: folder, force: force)
        let objects = ArtifactStore(workspace: self)
        var results: [RestoredArtifact] = []
        for var item in plan {
            guard case .written = item.outcome, let digest = item.artifact.sha256 else {
                results.append(item)
                continue
            }
            let destination = item.destination
            var backup: String?
            try objects.restore(
                digest, to: item.artifact.path, under: folder, name: item.artifact.path, mtime: item.artifact.mtime,
                progress: progress,
                beforeReplacing: {
                    var info = stat()
                    guard lstat(destination, &info) == 0 else { return }
                    let name = Self.backupName(for: destination)
                    guard rename(destination, name) == 0 else {
                        throw ArtifactStore.failure("could not rename \(destination) to \(name)", errno)
                    }
                    backup = name
                })
            if let backup { item.outcome = .replaced(backup: backup) }
            results.append(item)
        }
        return ArtifactRestoreResult(run: run, folder: folder, artifacts: results)
    }

    /// What restoring would do to each artifact; throws, having changed nothing, on a
    /// different file in the way (without `force`) or a missing object.
    func planRestore(_ artifacts: [Artifact], of run: StoredRun, into folder: String, force: Bool) throws
        -> [RestoredArtifact]
    {
        let objects = ArtifactStore(workspace: self)
        var plan: [RestoredArtifact] = []
        var conflicts: [String] = []
        var missing: [String] = []
        // One path twice, or a file where another artifact needs a folder, would write one
        // over the other: refused as a whole.
        let paths = Set(artifacts.map(\.path))
        for artifact in artifacts {
            var prefix = ""
            for component in artifact.path.split(separator: "/").dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + component
                if paths.contains(prefix) {
                    throw ExpError(
                        .corrupt,
                        "run \(run.record.name) lists an artifact \(PathRules.quoted(prefix)) and another inside it "
                            + "(\(PathRules.quoted(artifact.path)))",
                        hint: "its artifacts.json was not written by exp; nothing was restored")
                }
            }
        }
        if paths.count != artifacts.count {
            throw ExpError(
                .corrupt, "run \(run.record.name) lists an artifact path twice",
                hint: "its artifacts.json was not written by exp; nothing was restored")
        }
        for artifact in artifacts {
            // Records can come from elsewhere (`git fetch`): never write outside `folder`, into
            // .git, or through a symlink.
            if let problem = PathRules.problem(path: artifact.path, mode: 0o100644) {
                throw ExpError(
                    .corrupt,
                    "run \(run.record.name) lists an artifact at an unsafe path: \(PathRules.quoted(artifact.path)) "
                        + "(\(problem))",
                    hint: "its artifacts.json was not written by exp; nothing was restored")
            }
            let destination = folder + "/" + artifact.path
            var existing: stat?
            do throws(NoFollowFolder.Failure) {
                let parent = try NoFollowFolder.openParent(of: artifact.path, root: folder, create: false)
                existing = parent.folder.status(parent.name)
            } catch .missing {
                existing = nil
            } catch {
                throw ExpError(
                    .conflict,
                    "refusing to restore the artifacts of \(run.record.name): \(PathRules.quoted(artifact.path)) "
                        + "would be written where \(error.reason)",
                    hint: "nothing was restored; move it away, or restore into a new folder")
            }
            guard artifact.stored, let digest = artifact.sha256 else {
                plan.append(
                    RestoredArtifact(
                        artifact: artifact, destination: destination,
                        outcome: .notStored(artifact.reason ?? "not stored")))
                continue
            }
            if !objects.contains(digest, size: artifact.size) { missing.append(artifact.path) }
            if let info = existing {
                let same =
                    (info.st_mode & S_IFMT) == S_IFREG && Int64(info.st_size) == artifact.size
                    && (try? ArtifactStore.hash(file: destination))?.digest == digest
                if same {
                    plan.append(RestoredArtifact(artifact: artifact, destination: destination, outcome: .unchanged))
                    continue
                }
                conflicts.append(destination)
            }
            plan.append(RestoredArtifact(artifact: artifact, destination: destination, outcome: .written))
        }
        if !missing.isEmpty {
            throw ExpError(
                .notFound,
                "\(missing.count) artifact\(missing.count == 1 ? " is" : "s are") not in the artifact store: "
                    + missing.prefix(10).joined(separator: ", "),
                hint: "they were removed by a garbage collection or stored on another machine; nothing was written")
        }
        if !conflicts.isEmpty && !force {
            throw ExpError(
                .conflict,
                "restoring the artifacts of \(run.record.name) would overwrite \(conflicts.count) different "
                    + "file\(conflicts.count == 1 ? "" : "s")",
                hint: "replace them (each is kept as NAME.exp-backup-N), or restore into a new folder",
                reason: .artifactsBlocked(run: run.record.name, paths: conflicts))
        }
        return plan
    }

    /// `NAME.exp-backup-<n>` with the first free n from 1.
    static func backupName(for path: String) -> String {
        var n = 1
        var info = stat()
        while lstat("\(path).exp-backup-\(n)", &info) == 0 { n += 1 }
        return "\(path).exp-backup-\(n)"
    }

    /// The artifacts selected by `paths` (relative to the context's folder, or to the root).
    private func select(_ all: [Artifact], paths: [String], run: StoredRun) throws -> [Artifact] {
        guard !paths.isEmpty else { return all }
        let here = relativeWorkingDirectory()
        var chosen: [Artifact] = []
        var unknown: [String] = []
        for path in paths {
            let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
            let candidates = [trimmed, here == "." ? trimmed : here + "/" + trimmed].map {
                $0.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
            }
            let matching = all.filter { artifact in
                candidates.contains { artifact.path == $0 || artifact.path.hasPrefix($0 + "/") }
            }
            if matching.isEmpty { unknown.append(path) }
            for artifact in matching where !chosen.contains(artifact) { chosen.append(artifact) }
        }
        if !unknown.isEmpty {
            throw ExpError(
                .notFound, "run \(run.record.name) has no artifact \(unknown.joined(separator: ", "))",
                reason: .noSuchArtifacts(run: run.record.name, paths: unknown))
        }
        return chosen
    }

    /// A path given by the user, made absolute against the context's folder.
    func absolute(_ path: String) -> String {
        let joined = path.hasPrefix("/") ? path : context.workingDirectory + "/" + path
        return URL(fileURLWithPath: joined).standardizedFileURL.path
    }
}

extension RunStore {
    /// The run store of `workspace` (dead runs are sealed `lost` by the caller's explicit
    /// `Workspace.recoverLostRuns`, never as a side effect of reading).
    static func forReadingWorkspace(_ workspace: Workspace) throws -> RunStore {
        RunStore(workspace: workspace)
    }
}

/// `exp checkout RUN --artifacts`: the code, then the run's artifacts.
public struct CheckoutWithArtifacts: Sendable {
    public var checkout: CheckoutResult
    public var artifacts: ArtifactRestoreResult
}

extension Workspace {
    /// Checks a run out (see `checkout(_:)`) and restores its stored artifacts into the
    /// worktree that now holds its code. Different files in the way of an artifact make it
    /// refuse before anything changes, unless `request.force`.
    public func checkoutWithArtifacts(
        _ request: CheckoutRequest, progress: ((ArtifactProgress) -> Void)? = nil
    ) throws -> CheckoutWithArtifacts {
        let store = try RunStore.forReadingWorkspace(self)
        let run = try store.resolveRunOrAutosave(request.run)
        let artifacts = try store.artifacts(of: run).artifacts
        // A file or symlink of the snapshot where an artifact's folder goes would be made by
        // the checkout and then written through: refuse before the code changes.
        let files = try verifiedFiles(of: run)
        for artifact in artifacts {
            var prefix = ""
            for component in artifact.path.split(separator: "/").dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + component
                guard let entry = files[prefix] else { continue }
                let what = entry.mode == 0o120000 ? "a symlink" : "a file"
                throw ExpError(
                    .corrupt,
                    "refusing to restore the artifacts of \(run.record.name): its snapshot makes \(PathRules.quoted(prefix)) "
                        + "\(what), and its artifact \(PathRules.quoted(artifact.path)) would be written through it; "
                        + "nothing was written",
                    hint: "the run was not recorded by exp or was tampered with; check out its code alone, "
                        + "without its artifacts")
            }
        }
        if request.into == nil {
            // Refuse now, before the code changes, when an artifact would be refused later.
            _ = try planRestore(artifacts, of: run, into: repository.workingDirectory, force: request.force)
        }
        let checkout = try checkout(request)
        let restored: ArtifactRestoreResult
        do {
            restored = try restoreArtifacts(
                artifacts, of: checkout.run, into: checkout.worktree, force: request.force, progress: progress)
        } catch let error as ExpError {
            throw ExpError(
                error.kind, "checked out \(run.record.name), but its artifacts were not all restored: \(error.message)",
                hint: error.hint, reason: error.reason)
        }
        return CheckoutWithArtifacts(checkout: checkout, artifacts: restored)
    }
}
