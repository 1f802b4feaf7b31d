public import ExpGit
public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What `exp sweep` was asked to do.
public struct SweepRequest: Sendable {
    /// The command, with `{KEY}` where each param's value goes.
    public var argv: [String]
    /// `KEY=SPEC` for each param, in order (the first varies slowest in a grid).
    public var params: [String]
    /// Sample this many random points instead of the grid.
    public var randomCount: Int?
    /// The seed of the random points; nil: drawn from the context (and kept in the sweep).
    public var seed: UInt64?
    /// The sweep's name, also the prefix of its runs' names (`NAME-1`, `NAME-2`…); nil: a
    /// generated one.
    public var name: String?
    /// How many runs go at once (nil: one per device set, or one).
    public var concurrency: Int?
    /// The devices the runs share; nil: none.
    public var devices: DeviceChoice?
    /// Devices each run gets.
    public var devicesPerRun = 1
    /// Stop starting runs once this many have failed.
    public var maxFailures: Int?

    public init(argv: [String], params: [String]) {
        self.argv = argv
        self.params = params
    }
}

/// A sweep as it is kept in the queue (`sweep.json`).
public struct SweepInfo: Codable, Sendable, Equatable {
    public var format = 1
    public var name: String
    public var createdAt: Date
    /// The one snapshot every run of the sweep runs.
    public var snapshot: RunPlan.GivenSnapshot
    /// The command as given, with its `{KEY}` placeholders.
    public var argv: [String]
    public var params: [SweepParam]
    /// For random search: the number of points and the seed that drew them.
    public var randomCount: Int?
    public var seed: UInt64?
    public var concurrency: Int?
    public var devices: DeviceChoice?
    public var devicesPerRun: Int
    public var maxFailures: Int?

    enum CodingKeys: String, CodingKey {
        case format, name, snapshot, argv, params, seed, concurrency, devices
        case createdAt = "created_at"
        case randomCount = "random_count"
        case devicesPerRun = "devices_per_run"
        case maxFailures = "max_failures"
    }
}

/// A sweep just queued.
public struct QueuedSweep: Sendable {
    public var info: SweepInfo
    public var plans: [RunPlan]
    /// The snapshot taken for it (what the runs will run).
    public var snapshot: Snapshot
}

/// Where a planned run of the queue stands.
public enum QueuedRunState: Sendable, Equatable {
    /// Waiting for a worker.
    case queued
    /// Claimed by a live process that has not made the run yet.
    case starting
    /// The run exists; its status.
    case run(RunStatus)
    /// Its process could not make the run: why (the end of its log).
    case notStarted(String)

    /// Whether the run is over and not successful (what `retry` plans again).
    public var isUnsuccessful: Bool {
        switch self {
        case .notStarted: true
        case .run(let status): [.failed, .lost, .interrupted].contains(status)
        default: false
        }
    }
}

/// One planned run of the queue and where it stands.
public struct QueuedRun: Sendable {
    public var plan: RunPlan
    public var state: QueuedRunState
    /// The run's process log (what it said before its run existed), under the queue folder.
    public var logPath: String
}

/// A sweep of the queue with its runs, in plan order.
public struct SweepStatus: Sendable {
    public var info: SweepInfo
    public var runs: [QueuedRun]
}

/// A live queue worker.
public struct QueueWorkerInfo: Codable, Sendable, Equatable {
    public var pid: Int32
    public var concurrency: Int
    public var startedAt: Date
    /// Only these sweeps, or all when nil.
    public var sweeps: [String]?
    var owner: RerunOwner

    enum CodingKeys: String, CodingKey {
        case pid, concurrency, sweeps, owner
        case startedAt = "started_at"
    }
}

/// The queue's files under `<git common dir>/exp/queue/`: one folder per sweep
/// (`sweeps/<name>/` with `sweep.json`, `plans/<id>.json`, `claims/<id>.<n>`, `logs/<id>.log`,
/// `failed/<id>`), `workers/<pid>.json` for live workers and `devices/<n>.lease` for device
/// leases. Every file is written whole under a temp name and renamed (or linked) into place.
struct RunQueue {
    let root: String

    init(_ workspace: Workspace) { root = workspace.stateDirectory + "/queue" }

    /// Where each queued sweep's snapshot is kept reachable (`refs/exp/sweeps/<name>`), so
    /// `git gc` never prunes the code of runs that have not started yet. Local only: `exp push`
    /// pushes runs' refs, never these.
    static let refPrefix = "refs/exp/sweeps/"

    /// The ref that keeps `sweep`'s snapshot; nil for a name git would refuse.
    static func reference(_ sweep: String) -> ReferenceName? { ReferenceName(refPrefix + sweep) }

    var sweepsFolder: String { root + "/sweeps" }
    var workersFolder: String { root + "/workers" }
    var devicesFolder: String { root + "/devices" }
    func sweepFolder(_ name: String) -> String { sweepsFolder + "/" + name }
    func planPath(_ sweep: String, _ id: RunID) -> String { sweepFolder(sweep) + "/plans/" + id.rawValue + ".json" }
    func logPath(_ sweep: String, _ id: RunID) -> String { sweepFolder(sweep) + "/logs/" + id.rawValue + ".log" }
    func failedPath(_ sweep: String, _ id: RunID) -> String { sweepFolder(sweep) + "/failed/" + id.rawValue }
    func claimsFolder(_ sweep: String) -> String { sweepFolder(sweep) + "/claims" }

    static func makeFolder(_ path: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ExpError(.io, "could not make the queue folder \(path): \(error.localizedDescription)")
        }
    }

    func sweepNames() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: sweepsFolder)) ?? []).filter {
            (try? RunName.validate($0)) != nil
        }.sorted()
    }

    func info(_ sweep: String) throws -> SweepInfo {
        let path = sweepFolder(sweep) + "/sweep.json"
        guard let data = FileManager.default.contents(atPath: path), data.count < 1 << 20 else {
            throw ExpError(
                .notFound, "no sweep named '\(sweep)' in the queue", hint: "list the queue to see its sweeps")
        }
        do {
            return try RunJSON.decoder().decode(SweepInfo.self, from: data)
        } catch {
            throw ExpError(.corrupt, "could not read the sweep \(path): \(error)")
        }
    }

    /// The plans of a sweep, in its order.
    func plans(_ sweep: String) -> [RunPlan] {
        let folder = sweepFolder(sweep) + "/plans"
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter {
            $0.hasSuffix(".json")
        }
        let plans = names.compactMap { name -> RunPlan? in
            guard let data = FileManager.default.contents(atPath: folder + "/" + name), data.count < 1 << 22 else {
                return nil
            }
            return try? RunPlan.decode([UInt8](data))
        }
        // In the sweep's order: NAME-1, NAME-2, … NAME-10 (a retry after its original).
        return plans.sorted { $0.name.compare($1.name, options: .numeric) == .orderedAscending }
    }

    // MARK: Claims

    /// The claim attempts of a planned run, newest last.
    func attempts(_ sweep: String, _ id: RunID) -> [Int] {
        let prefix = id.rawValue + "."
        return ((try? FileManager.default.contentsOfDirectory(atPath: claimsFolder(sweep))) ?? []).compactMap {
            $0.hasPrefix(prefix) ? Int($0.dropFirst(prefix.count)) : nil
        }.sorted()
    }

    /// Whether a live process holds the planned run's newest claim.
    func isClaimedByLiveProcess(_ sweep: String, _ id: RunID) -> Bool {
        guard let last = attempts(sweep, id).last else { return false }
        return !Self.ownerIsGone(claimsFolder(sweep) + "/\(id.rawValue).\(last)")
    }

    static func ownerIsGone(_ path: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: path),
            let owner = try? JSONDecoder().decode(RerunOwner.self, from: data)
        else { return false }
        return owner.isGone
    }

    /// Claims a planned run for this process: creates its next claim file with a hard link of
    /// a file written whole (so a claim is never seen half written), which fails when another
    /// process made the same attempt first. Returns the claim file, or nil when a live process
    /// holds the run or won the race.
    func claim(_ sweep: String, _ id: RunID) throws -> String? {
        let folder = claimsFolder(sweep)
        try Self.makeFolder(folder)
        let last = attempts(sweep, id).last
        if let last, !Self.ownerIsGone(folder + "/\(id.rawValue).\(last)") { return nil }
        let path = folder + "/\(id.rawValue).\((last ?? 0) + 1)"
        let temporary = folder + "/.claim-\(getpid())-\(id.rawValue)"
        try FileReplacement.write(
            try JSONEncoder().encode(RerunOwner.current), to: temporary, what: "the claim of a queued run")
        defer { unlink(temporary) }
        if link(temporary, path) != 0 {
            if errno == EEXIST { return nil }
            throw ExpError(.io, "could not claim a queued run at \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }
}

extension Workspace {
    /// Queues a sweep: takes one snapshot of the working tree for all its runs, expands the
    /// params into points (the grid, or `randomCount` points drawn with the seed), and writes
    /// one plan per point into the queue before anything starts. Each plan runs the command
    /// with `{KEY}` replaced in a worktree of the snapshot, records the point's values as typed
    /// params, and belongs to the sweep (`group`).
    public func queueSweep(_ request: SweepRequest) throws -> QueuedSweep {
        guard let program = request.argv.first, !program.isEmpty else {
            throw ExpError(.usage, "no command to run", hint: "give the command to run", reason: .noCommand)
        }
        let params = try request.params.map(SweepParam.init(parsing:))
        var seen: Set<String> = []
        for param in params where !seen.insert(param.key).inserted {
            throw ExpError(.usage, "the sweep param \(param.key) is given twice")
        }
        try SweepSpace.checkPlaceholders(request.argv, params: params)
        guard request.devicesPerRun >= 1, (request.concurrency ?? 1) >= 1 else {
            throw ExpError(.usage, "the number of runs at once and of devices per run must be at least 1")
        }
        let seed = request.randomCount == nil ? nil : request.seed ?? context.random.next() >> 1
        let points =
            try request.randomCount.map { try SweepSpace.random(params, count: $0, seed: seed ?? 0) }
            ?? SweepSpace.grid(params)
        let queue = RunQueue(self)
        let store = RunStore(workspace: self)
        let taken = try store.runNames().union(queue.sweepNames())
        let name: String
        if let requested = request.name {
            try RunName.validate(requested)
            name = requested
        } else {
            name = RunName.generate(avoiding: taken, random: context.random)
        }
        let runNames = points.indices.map { "\(name)-\($0 + 1)" }
        if let clash = ([name] + runNames).first(where: { taken.contains($0) }) {
            throw ExpError(
                .conflict, "a run or sweep named '\(clash)' already exists", hint: "choose another sweep name",
                reason: .runNameTaken(clash))
        }
        // One snapshot for every run, so editing the code while the sweep goes changes none.
        let snapshot = try takeSnapshot(message: "snapshot of sweep \(name)")
        guard let base = snapshot.parent ?? (snapshot.clean ? snapshot.commit : nil) else {
            throw ExpError(
                .conflict, "the repository has no commit yet; a sweep's runs need one to get their own worktrees",
                hint: "commit once, then start the sweep again")
        }
        let given = RunPlan.GivenSnapshot(commit: snapshot.commit, base: base)
        guard let reference = RunQueue.reference(name) else {
            throw ExpError(.usage, "'\(name)' cannot name a sweep", hint: "choose another sweep name")
        }
        // Made first and expecting none: a sweep of the same name queued meanwhile loses here.
        do {
            try repository.updateReference(
                reference, to: snapshot.commit, expecting: nil, message: "exp: snapshot of sweep \(name)")
        } catch {
            throw ExpError(
                .conflict, "a sweep named '\(name)' is already queued", hint: "choose another sweep name",
                reason: .runNameTaken(name))
        }
        var plans: [RunPlan] = []
        for (index, point) in points.enumerated() {
            var run = RunRequest(
                argv: SweepSpace.substitute(request.argv, point: point), name: runNames[index],
                params: params.compactMap { param in point[param.key].map { "\(param.key)=\($0)" } },
                usePseudoTerminal: false)
            run.cwd = relativeWorkingDirectory()
            var plan = try plan(run)
            plan.snapshot = given
            plan.group = name
            plans.append(plan)
        }
        let info = SweepInfo(
            name: name, createdAt: context.now(), snapshot: given, argv: request.argv, params: params,
            randomCount: request.randomCount, seed: seed, concurrency: request.concurrency, devices: request.devices,
            devicesPerRun: request.devicesPerRun, maxFailures: request.maxFailures)
        // The folder is made last of all, whole: made under a temp name and renamed, so a
        // worker never sees a sweep without all its plans.
        try RunQueue.makeFolder(queue.sweepsFolder)
        let building = queue.sweepsFolder + "/.new-\(name)-\(getpid())"
        try? FileManager.default.removeItem(atPath: building)
        for folder in ["plans", "claims", "logs", "failed"] { try RunQueue.makeFolder(building + "/" + folder) }
        do {
            try FileReplacement.write(
                try RunJSON.encoder().encode(info), to: building + "/sweep.json", what: "the sweep \(name)")
            for plan in plans {
                try FileReplacement.write(
                    try plan.encoded(), to: building + "/plans/" + plan.id.rawValue + ".json",
                    what: "the plan of run \(plan.name)")
            }
            guard rename(building, queue.sweepFolder(name)) == 0 else {
                throw ExpError(
                    .conflict, "a sweep named '\(name)' is already queued", hint: "choose another sweep name",
                    reason: .runNameTaken(name))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: building)
            try? repository.deleteReference(reference, expecting: snapshot.commit)
            throw error
        }
        return QueuedSweep(info: info, plans: plans, snapshot: snapshot)
    }

    /// The sweeps of the queue (all, or those named) with each planned run's state. Runs whose
    /// exp is gone show as `running` until `recoverLostRuns` seals them.
    public func queueStatus(sweeps names: [String]? = nil) throws -> [SweepStatus] {
        let queue = RunQueue(self)
        let store = RunStore(workspace: self)
        return try (names ?? queue.sweepNames()).map { name in
            let info = try queue.info(name)
            let runs = queue.plans(name).map { plan in
                QueuedRun(
                    plan: plan, state: state(of: plan, sweep: name, queue: queue, store: store),
                    logPath: queue.logPath(name, plan.id))
            }
            return SweepStatus(info: info, runs: runs)
        }
    }

    func state(of plan: RunPlan, sweep: String, queue: RunQueue, store: RunStore) -> QueuedRunState {
        if let commit = try? repository.resolve(store.referenceName(plan.id)) {
            return .run((try? store.record(at: commit))?.status ?? .running)
        }
        if let data = FileManager.default.contents(atPath: queue.failedPath(sweep, plan.id)) {
            return .notStarted(String(decoding: data.prefix(4096), as: UTF8.self))
        }
        return queue.isClaimedByLiveProcess(sweep, plan.id) ? .starting : .queued
    }

    /// The live queue workers of this repository.
    public func queueWorkers() -> [QueueWorkerInfo] {
        let folder = RunQueue(self).workersFolder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.sorted().compactMap { name in
            guard name.hasSuffix(".json"), let data = FileManager.default.contents(atPath: folder + "/" + name),
                let worker = try? RunJSON.decoder().decode(QueueWorkerInfo.self, from: data)
            else { return nil }
            if worker.owner.isGone {
                unlink(folder + "/" + name)
                return nil
            }
            return worker
        }
    }

    /// Asks the live workers to stop starting runs (as a first Ctrl-C does); with `interrupt`,
    /// also to interrupt their running runs (as a second one does). Returns the workers told.
    @discardableResult
    public func stopQueueWorkers(interrupt: Bool) -> [QueueWorkerInfo] {
        let workers = queueWorkers()
        for worker in workers {
            kill(worker.pid, SIGINT)
            if interrupt {
                usleep(100_000)
                kill(worker.pid, SIGINT)
            }
        }
        return workers
    }

    /// The planned runs that `names` (sweep names or run names) pick, with their sweep.
    private func pick(_ names: [String], from sweeps: [SweepStatus]) throws -> [(sweep: String, run: QueuedRun)] {
        var picked: [(String, QueuedRun)] = []
        for name in names {
            if let sweep = sweeps.first(where: { $0.info.name == name }) {
                picked += sweep.runs.map { (name, $0) }
                continue
            }
            let matches = sweeps.flatMap { sweep in
                sweep.runs.filter { $0.plan.name == name || $0.plan.id.rawValue == name }.map { (sweep.info.name, $0) }
            }
            guard !matches.isEmpty else {
                throw ExpError(
                    .notFound, "no sweep or queued run named '\(name)'", hint: "list the queue to see its names")
            }
            picked += matches
        }
        return picked
    }

    /// Removes queued runs (not started, or not started because their process failed) of the
    /// sweeps or runs named; a sweep left with no plan is removed whole. Runs that started stay
    /// recorded. Returns the names of the runs removed from the queue.
    public func removeQueued(_ names: [String]) throws -> [String] {
        let queue = RunQueue(self)
        let picked = try pick(names, from: queueStatus())
        var removed: [String] = []
        for (sweep, run) in picked {
            switch run.state {
            case .queued, .notStarted, .run:
                // A started run stays in git; only its plan leaves the queue.
                if case .run(.running) = run.state { continue }
                unlink(queue.planPath(sweep, run.plan.id))
                unlink(queue.failedPath(sweep, run.plan.id))
                if case .run = run.state {} else { removed.append(run.plan.name) }
            case .starting:
                continue
            }
        }
        for sweep in Set(picked.map(\.sweep)) where queue.plans(sweep).isEmpty {
            // The snapshot stays reachable through the refs of the runs that started.
            if let info = try? queue.info(sweep), let reference = RunQueue.reference(sweep) {
                try? repository.deleteReference(reference, expecting: info.snapshot.commit)
            }
            try? FileManager.default.removeItem(atPath: queue.sweepFolder(sweep))
        }
        return removed
    }

    /// Queues again the runs of the sweeps or runs named that failed, were lost or
    /// interrupted, or could not start: each gets a new plan (new id, its name with `-retryN`)
    /// and the old plan leaves the queue (the old run stays recorded). Returns the new plans.
    public func retryQueued(_ names: [String]) throws -> [RunPlan] {
        let queue = RunQueue(self)
        let picked = try pick(names, from: queueStatus())
        let store = RunStore(workspace: self)
        var taken = try store.runNames().union(queue.plans(picked.first?.sweep ?? "").map(\.name))
        var planned: [RunPlan] = []
        for (sweep, run) in picked where run.state.isUnsuccessful {
            var plan = run.plan
            let stem = plan.name.replacingOccurrences(of: #"-retry\d+$"#, with: "", options: .regularExpression)
            var number = 1
            while taken.contains("\(stem)-retry\(number)") { number += 1 }
            plan.name = "\(stem)-retry\(number)"
            taken.insert(plan.name)
            plan.id = try store.newRunID(at: context.now())
            try FileReplacement.write(
                try plan.encoded(), to: queue.planPath(sweep, plan.id), what: "the plan of run \(plan.name)")
            unlink(queue.planPath(sweep, run.plan.id))
            unlink(queue.failedPath(sweep, run.plan.id))
            planned.append(plan)
        }
        return planned
    }
}
