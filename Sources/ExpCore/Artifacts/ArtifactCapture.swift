import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Linking the files a run writes to the run: the scan before the command starts (kept in the
/// live folder, so a run sealed `lost` can still be linked), and the capture when it is sealed.
enum ArtifactCapture {
    /// The rules for a run in the folder `cwd` (relative to the root): `--artifact` globs plus
    /// `exp.artifacts` values, or the Lightning default when there are none.
    static func rules(_ workspace: Workspace, cliPatterns: [String], cwd: String) throws -> ArtifactRules {
        let configured = try translatingGitErrors { try workspace.config.all("exp.artifacts") }
        // A bad exp.artifactMaxSize is an error now, not a surprise when the run ends.
        _ = try translatingGitErrors(hint: "fix it with: git config exp.artifactMaxSize 10g") {
            try workspace.config.size("exp.artifactMaxSize")
        }
        return try ArtifactRules.resolve(
            cliPatterns: cliPatterns, configPatterns: configured, cwd: cwd)
    }

    /// Scans what exists now and keeps it in the live folder.
    static func begin(_ workspace: Workspace, rules: ArtifactRules, folder: LiveFolder) throws -> ArtifactScan {
        let scan = ArtifactScan.take(root: workspace.repository.workingDirectory, rules: rules)
        let data = try RunJSON.encoder(pretty: false).encode(scan)
        try folder.write(data, to: LiveFolder.artifactsBeforeFile, what: "the files before the run")
        return scan
    }

    /// The before-scan a live run left, if it had one.
    static func saved(in folder: LiveFolder) -> ArtifactScan? {
        guard let bytes = folder.contents(LiveFolder.artifactsBeforeFile) else { return nil }
        return try? RunJSON.decoder().decode(ArtifactScan.self, from: Data(bytes))
    }

    /// Scans again, and stores every file created or changed since `before` (unless over
    /// `exp.artifactMaxSize`). A file that cannot be stored is listed with the reason; it never
    /// fails the run.
    static func capture(
        _ workspace: Workspace, since before: ArtifactScan, progress: ((ArtifactProgress) -> Void)?
    ) -> ArtifactsFile {
        let root = workspace.repository.workingDirectory
        let after = ArtifactScan.take(root: root, rules: before.rules)
        let maxSize = (try? workspace.config.size("exp.artifactMaxSize")) ?? nil
        let store = ArtifactStore(workspace: workspace)
        var artifacts: [Artifact] = []
        for path in after.changed(since: before) {
            guard let stamp = after.files[path] else { continue }
            let mtime = Date(timeIntervalSince1970: Double(stamp.mtime) / 1e9)
            if let maxSize, stamp.size > maxSize {
                artifacts.append(
                    Artifact(
                        path: path, size: stamp.size, sha256: nil, mtime: mtime, stored: false,
                        reason: "larger than exp.artifactMaxSize (\(maxSize) bytes)"))
                continue
            }
            do {
                let object = try store.store(file: root + "/" + path, name: path, progress: progress)
                artifacts.append(
                    Artifact(path: path, size: object.size, sha256: object.digest, mtime: mtime, stored: true))
            } catch let error as ExpError {
                // Deleted meanwhile (Lightning keeps only the top-k checkpoints): not an artifact.
                if access(root + "/" + path, F_OK) != 0 { continue }
                artifacts.append(
                    Artifact(
                        path: path, size: stamp.size, sha256: nil, mtime: mtime, stored: false, reason: error.message))
            } catch {
                artifacts.append(
                    Artifact(path: path, size: stamp.size, sha256: nil, mtime: mtime, stored: false, reason: "\(error)")
                )
            }
        }
        let patterns =
            before.rules.lightningBase.map { base in
                ArtifactRules.lightningDefaults.map { base == "." ? $0 : base + "/" + $0 }
            } ?? before.rules.patterns
        return ArtifactsFile(
            artifacts: artifacts, patterns: patterns, lightningDefault: before.rules.lightningBase != nil ? true : nil)
    }

    /// Captures a live run's artifacts into the record: `artifacts.json` among `files` and the
    /// summary in `record`. Does nothing when the run was started with `--no-artifacts` (no
    /// before-scan) or found nothing.
    static func link(
        _ workspace: Workspace, before: ArtifactScan?, record: inout RunRecord,
        files: inout [String: RunStore.BlobSource], progress: ((ArtifactProgress) -> Void)?
    ) {
        guard let before else { return }
        let captured = capture(workspace, since: before, progress: progress)
        guard !captured.artifacts.isEmpty, let bytes = try? captured.encoded() else { return }
        files[LiveFolder.artifactsFile] = .bytes(bytes)
        record.artifacts = ArtifactSummary(captured.artifacts)
    }
}

extension RunStore {
    /// The artifacts a run linked (empty when it has none, or while it runs).
    public func artifacts(of run: StoredRun) throws -> ArtifactsFile {
        let bytes = try translatingGitErrors {
            try repository.fileContents(atPath: LiveFolder.artifactsFile, inCommit: run.commit)
        }
        guard let bytes else { return ArtifactsFile(artifacts: [], patterns: []) }
        do {
            return try ArtifactsFile.decode(bytes)
        } catch {
            throw ExpError(
                "could not read artifacts.json of run \(run.record.name) (record \(run.commit.short())): \(error)",
                hint: "the record may come from a newer exp; update exp")
        }
    }
}
