public import ExpGit
import Foundation

/// What `exp run` was asked to do.
public struct RunRequest: Sendable {
    /// The command and its arguments.
    public var argv: [String]
    /// `--name`; a generated name (`brave-otter`) when nil.
    public var name: String?
    /// `-m`: free text kept in the record.
    public var message: String?
    /// `-p key=value` assignments, in order; they win over params guessed from `argv`.
    public var params: [String]
    /// Give the command a pseudo-terminal (when exp's stdout is one).
    public var usePseudoTerminal: Bool
    /// exp's own standard streams.
    public var stdinFD: Int32 = 0
    public var stdoutFD: Int32 = 1
    public var stderrFD: Int32 = 2
    /// The run this one reproduces (`exp rerun`).
    public var reproduces: RunID?
    /// `--artifact` globs: relative to the command's folder (`/` anchors them at the root).
    public var artifactPatterns: [String] = []
    /// False for `--no-artifacts`: link no files to the run.
    public var linkArtifacts = true
    /// Told how storing large artifacts goes when the run ends (for a progress bar).
    public var artifactProgress: (@Sendable (ArtifactProgress) -> Void)?
    /// `--params-file` paths (YAML, JSON, TOML): params the command line overrides.
    public var paramsFiles: [String] = []
    /// The folder the command runs in, relative to the repository root; nil: the context's
    /// working folder.
    public var cwd: String?

    public init(
        argv: [String], name: String? = nil, message: String? = nil, params: [String] = [], usePseudoTerminal: Bool
    ) {
        self.argv = argv
        self.name = name
        self.message = message
        self.params = params
        self.usePseudoTerminal = usePseudoTerminal
    }

    /// How this request's command meets the terminal.
    public var terminal: RunTerminal {
        RunTerminal(
            usePseudoTerminal: usePseudoTerminal, stdinFD: stdinFD, stdoutFD: stdoutFD, stderrFD: stderrFD,
            artifactProgress: artifactProgress)
    }
}

/// How a started run's command meets exp's terminal: not part of a plan, since it belongs to
/// the process that starts it.
public struct RunTerminal: Sendable {
    /// Give the command a pseudo-terminal (when exp's stdout is one).
    public var usePseudoTerminal: Bool
    /// exp's own standard streams.
    public var stdinFD: Int32
    public var stdoutFD: Int32
    public var stderrFD: Int32
    /// Told how storing large artifacts goes when the run ends (for a progress bar).
    public var artifactProgress: (@Sendable (ArtifactProgress) -> Void)?

    public init(
        usePseudoTerminal: Bool = false, stdinFD: Int32 = 0, stdoutFD: Int32 = 1, stderrFD: Int32 = 2,
        artifactProgress: (@Sendable (ArtifactProgress) -> Void)? = nil
    ) {
        self.usePseudoTerminal = usePseudoTerminal
        self.stdinFD = stdinFD
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.artifactProgress = artifactProgress
    }
}

/// A run to start, now or later, here or in another process: everything `LiveRun.start` needs
/// besides the terminal, as a value that can be written to a file (JSON) and read back.
///
/// `Workspace.plan(_:)` makes one without side effects. The command line is kept as given (the
/// command must get its real arguments); params and message are kept as they will be recorded,
/// with credentials masked.
public struct RunPlan: Codable, Sendable, Equatable {
    /// A snapshot to run instead of the working tree: the command runs in a temporary worktree
    /// holding `commit`'s tree on top of `base`.
    public struct GivenSnapshot: Codable, Sendable, Equatable {
        /// The snapshot commit whose tree the command runs on.
        public var commit: ObjectID
        /// The commit the worktree's HEAD is at (the snapshot's HEAD when it was taken; equal
        /// to `commit` for a clean snapshot).
        public var base: ObjectID

        public init(commit: ObjectID, base: ObjectID) {
            self.commit = commit
            self.base = base
        }
    }

    /// The plan format; a reader refuses a newer one.
    public var format: Int = 1
    public var id: RunID
    public var name: String
    /// The command and its arguments, as they are run.
    public var argv: [String]
    /// The folder the command runs in, relative to the repository root (`.` for the root).
    public var cwd: String
    /// Params from the command line and `-p` (credentials masked), typed.
    public var params: [String: ParamValue]
    /// Params from `--params-file` files, per file (path relative to the root; masked).
    public var paramFiles: [String: [String: ParamValue]]
    /// Which files the command writes are linked to the run; nil: none (`--no-artifacts`).
    public var artifactRules: ArtifactRules?
    /// Variables the command gets on top of the starting process's environment.
    public var environment: [String: String]
    /// `-m`, masked.
    public var message: String?
    /// Run this snapshot rather than the working tree (`exp rerun`, sweeps, cluster jobs).
    public var snapshot: GivenSnapshot?
    /// The group (sweep) the run belongs to.
    public var group: String?
    /// The run this one reproduces.
    public var reproduces: RunID?

    public init(
        id: RunID, name: String, argv: [String], cwd: String, params: [String: ParamValue] = [:],
        paramFiles: [String: [String: ParamValue]] = [:], artifactRules: ArtifactRules? = nil,
        environment: [String: String] = [:], message: String? = nil, snapshot: GivenSnapshot? = nil,
        group: String? = nil, reproduces: RunID? = nil
    ) {
        self.id = id
        self.name = name
        self.argv = argv
        self.cwd = cwd
        self.params = params
        self.paramFiles = paramFiles
        self.artifactRules = artifactRules
        self.environment = environment
        self.message = message
        self.snapshot = snapshot
        self.group = group
        self.reproduces = reproduces
    }

    enum CodingKeys: String, CodingKey {
        case format, id, name, argv, cwd, params, environment, message, snapshot, group, reproduces
        case paramFiles = "param_files"
        case artifactRules = "artifact_rules"
    }

    /// The plan as JSON (sorted keys), for a file that another process starts later.
    public func encoded() throws -> [UInt8] {
        [UInt8](try RunJSON.encoder().encode(self)) + [UInt8(ascii: "\n")]
    }

    /// Reads a plan written by `encoded()`.
    public static func decode(_ bytes: [UInt8]) throws -> RunPlan {
        let plan: RunPlan
        do {
            plan = try RunJSON.decoder().decode(RunPlan.self, from: Data(bytes))
        } catch {
            throw ExpError(.corrupt, "could not read the run plan: \(error)")
        }
        guard plan.format <= 1 else {
            throw ExpError(
                .corrupt, "the run plan has format \(plan.format), newer than this exp reads", hint: "update exp")
        }
        return plan
    }
}

extension Workspace {
    /// Makes the plan of a run from a request, changing nothing: checks the command and the
    /// name, reads the params from the command line, `-p` and params files (credentials
    /// masked), resolves the artifact rules, and picks the id and (unless given) the name.
    public func plan(_ request: RunRequest) throws -> RunPlan {
        guard let program = request.argv.first, !program.isEmpty else {
            throw ExpError(.usage, "no command to run", hint: "give the command to run", reason: .noCommand)
        }
        var params = Params.fromCommandLine(request.argv)
        for assignment in request.params {
            let (key, value) = try Params.parseAssignment(assignment)
            params[key] = value
        }
        let root = resolvedRoot
        var paramFiles: [String: [String: ParamValue]] = [:]
        for path in request.paramsFiles {
            let absolute = path.hasPrefix("/") ? path : resolvedWorkingDirectory + "/" + path
            paramFiles[MetricFileFinder.relative(absolute, to: root)] = try ParamsFile.load(path: absolute)
        }
        let cwd = request.cwd ?? relativeWorkingDirectory()
        let artifactRules =
            request.linkArtifacts
            ? try ArtifactCapture.rules(self, cliPatterns: request.artifactPatterns, cwd: cwd) : nil
        let taken = try RunStore(workspace: self).runNames()
        let name: String
        if let requested = request.name {
            try RunName.validate(requested)
            if taken.contains(requested) {
                throw ExpError(
                    .conflict, "a run named '\(requested)' already exists", hint: "choose another name",
                    reason: .runNameTaken(requested))
            }
            name = requested
        } else {
            name = RunName.generate(avoiding: taken, random: context.random)
        }
        // Credentials never enter the record (it travels with `git push`): the command runs
        // with its real arguments, the record keeps them masked.
        return RunPlan(
            id: try RunStore(workspace: self).newRunID(at: context.now()), name: name, argv: request.argv, cwd: cwd,
            params: CredentialMask.masking(params: params),
            paramFiles: paramFiles.mapValues { CredentialMask.masking(params: $0) },
            artifactRules: artifactRules, message: request.message.map(CredentialMask.masking),
            reproduces: request.reproduces)
    }
}
