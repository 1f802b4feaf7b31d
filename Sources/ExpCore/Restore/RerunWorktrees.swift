import ExpGit
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The exp process that owns a temporary `exp rerun` worktree, written next to it as
/// `<git common dir>/exp/rerun/<id>.owner` before the worktree is made.
struct RerunOwner: Codable, Equatable {
    var pid: Int32
    /// The process's start time in clock ticks since boot, to tell a reused pid apart.
    var startTicks: UInt64?
    /// The kernel's boot id.
    var bootID: String?
    /// The inode of the process's PID namespace: its pid means nothing in another one.
    var pidNamespace: UInt64?
    var host: String

    enum CodingKeys: String, CodingKey {
        case pid, host
        case startTicks = "start_ticks"
        case bootID = "boot_id"
        case pidNamespace = "pid_namespace"
    }

    /// This process.
    static var current: RerunOwner {
        let pid = getpid()
        return RerunOwner(
            pid: pid, startTicks: ProcessFacts.startTicks(of: pid), bootID: ProcessFacts.bootID,
            pidNamespace: ProcessFacts.pidNamespace, host: LocalMachine.hostName)
    }

    /// Whether the owner is certainly gone: the machine rebooted, or (same host, same PID
    /// namespace) its pid is free or now another process's. Anything that cannot be judged
    /// counts as alive.
    var isGone: Bool {
        guard host == LocalMachine.hostName else { return false }
        if let bootID, let current = ProcessFacts.bootID, bootID != current { return true }
        if let pidNamespace, let current = ProcessFacts.pidNamespace, pidNamespace != current { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return true }
        if let startTicks, let current = ProcessFacts.startTicks(of: pid), startTicks != current { return true }
        return false
    }
}

/// A temporary linked worktree holding a given snapshot, where a planned run's command runs
/// (`exp rerun`, sweeps): `<git common dir>/exp/rerun/<id>`, its HEAD detached at the snapshot's
/// base with the snapshot's tree restored on top (so a snapshot taken there is the same tree on
/// the same base), and an owner file beside it so that a killed exp's worktree is cleaned up
/// (`removeStaleRerunWorktrees`).
struct SnapshotWorktree {
    /// The worktree's folder.
    let folder: String
    /// The folder the command runs in (`folder` plus the plan's `cwd`).
    let directory: String
    /// The name git knows the worktree by.
    let name: String
    private let ownerFile: String

    /// Makes the worktree of `snapshot`, with the folder `cwd` (relative, already checked safe) in it.
    static func make(_ snapshot: RunPlan.GivenSnapshot, cwd: String, in workspace: Workspace) throws
        -> SnapshotWorktree
    {
        let repository = workspace.repository
        let tree = try translatingGitErrors { try repository.tree(ofCommit: snapshot.commit) }
        let subject = "snapshot \(snapshot.commit.short())"
        _ = try verifiedTreeFiles(repository, tree, subject: subject)
        let baseTree = try translatingGitErrors { try repository.tree(ofCommit: snapshot.base) }
        _ = try verifiedTreeFiles(repository, baseTree, subject: subject, what: "its base commit")
        let rerunFolder = workspace.stateDirectory + "/" + Workspace.rerunFolderName
        let folder =
            rerunFolder + "/" + RunID.generate(at: workspace.context.now(), random: workspace.context.random).rawValue
        try? FileManager.default.createDirectory(atPath: rerunFolder, withIntermediateDirectories: true)
        // Written before the worktree exists, so a killed exp's worktree is always found stale.
        let owner = folder + ".owner"
        do {
            try FileReplacement.write(
                try JSONEncoder().encode(RerunOwner.current), to: owner, what: "the owner of a rerun worktree")
        } catch let error as ExpError {
            throw ExpError(error.message, hint: "nothing was run")
        }
        var name = URL(fileURLWithPath: folder).lastPathComponent
        let taken = Set((try? repository.worktreeNames()) ?? [])
        if taken.contains(name) || ReferenceName("refs/heads/exp-worktree-" + name) == nil {
            name = "exp-" + snapshot.commit.short()
        }
        let worktree = SnapshotWorktree(folder: folder, directory: folder, name: name, ownerFile: owner)
        do {
            try translatingGitErrors {
                try repository.addWorktree(name: name, path: folder, branch: nil, commit: snapshot.base)
            }
            var inner = workspace.context  // the same clock, environment and notices, in the worktree
            inner.workingDirectory = folder
            let linked = try Workspace(context: inner)
            let root = linked.repository.workingDirectory
            let plan = try RestorePlan.make(
                repository: linked.repository, current: baseTree, target: tree, head: baseTree, root: root, only: nil)
            let failed = RestoreExecutor(repository: linked.repository, root: root).apply(plan, target: tree)
            let notRestored = plan.blocked + failed
            if !notRestored.isEmpty {
                let paths = notRestored.map(\.path).joined(separator: ", ")
                throw ExpError(.io, "could not restore the code of \(subject): \(paths)")
            }
            guard cwd != "." else { return worktree }
            let parts = cwd.split(separator: "/").map(String.init)
            do throws(NoFollowFolder.Failure) {
                _ = try NoFollowFolder.under(root: root, components: parts, create: true)
            } catch {
                throw ExpError(.io, "could not make the folder the run goes in (\(cwd)): \(error.reason)")
            }
            return SnapshotWorktree(folder: folder, directory: folder + "/" + cwd, name: name, ownerFile: owner)
        } catch {
            worktree.remove(repository)
            throw error
        }
    }

    /// Removes the worktree, its files and its owner file.
    func remove(_ repository: Repository) {
        try? repository.removeWorktree(name: name)
        try? FileManager.default.removeItem(atPath: folder)
        unlink(ownerFile)
    }
}

extension Workspace {
    /// `<git common dir>/exp/<this>`: where `exp rerun` makes its temporary worktrees.
    static let rerunFolderName = "rerun"

    /// Removes the temporary worktrees of `exp rerun` processes that are gone (a `kill -9`
    /// leaves them registered): the worktree's admin folder, its files, and a short-lived
    /// `exp-worktree-<name>` branch left by an interrupted `addWorktree`. Only worktrees
    /// under `<git common dir>/exp/rerun/` are looked at, so those the user made are never
    /// touched; one whose owner may still be running is left alone. Costs one `stat` when no
    /// rerun folder exists. Returns the folders removed.
    @discardableResult
    public func removeStaleRerunWorktrees() -> [String] {
        let base = stateDirectory + "/" + Self.rerunFolderName
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { return [] }
        var stale: [String] = []
        for name in names {
            var info = stat()
            guard lstat(base + "/" + name, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFDIR {
                if Self.rerunOwnerIsGone(ownerFile: base + "/" + name + ".owner") { stale.append(name) }
            } else if name.hasSuffix(".owner") {
                // Killed before its worktree was made: only the owner file is left.
                let folder = String(name.dropLast(".owner".count))
                var folderInfo = stat()
                if lstat(base + "/" + folder, &folderInfo) != 0,
                    Self.rerunOwnerIsGone(ownerFile: base + "/" + name)
                {
                    stale.append(folder)
                }
            }
        }
        // The command a killed exp started may still run there (it is not killed with exp):
        // a worktree some process works in is kept.
        stale.removeAll { Self.someProcessWorks(in: base + "/" + $0) }
        guard !stale.isEmpty else { return [] }
        let worktrees = (try? repository.worktreeNames()) ?? []
        let resolvedBase = URL(fileURLWithPath: base).resolvingSymlinksInPath().path
        for folder in stale {
            let path = base + "/" + folder
            let resolved = resolvedBase + "/" + folder
            for worktree in worktrees {
                guard let registered = repository.worktreePath(name: worktree) else { continue }
                let standard = URL(fileURLWithPath: registered).resolvingSymlinksInPath().path
                guard standard == resolved || standard == path else { continue }
                try? repository.removeWorktree(name: worktree)
                removeLeftoverBranch("exp-worktree-" + worktree)
            }
            removeLeftoverBranch("exp-worktree-" + folder)
            try? FileManager.default.removeItem(atPath: path)
            unlink(path + ".owner")
        }
        return stale
    }

    /// Whether the rerun whose owner file is `ownerFile` is over: its owner is gone. A folder
    /// without a readable owner file (made by an older exp, or damaged) is never judged over:
    /// nothing tells whether its command still runs.
    private static func rerunOwnerIsGone(ownerFile: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: ownerFile),
            let owner = try? JSONDecoder().decode(RerunOwner.self, from: data)
        else { return false }
        return owner.isGone
    }

    /// Whether any process of this machine has its working folder at or under `folder`
    /// (read from `/proc/PID/cwd`; processes exp may not look at are not seen).
    static func someProcessWorks(in folder: String) -> Bool {
        let target = URL(fileURLWithPath: folder).resolvingSymlinksInPath().path
        guard let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return false }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        for pid in pids where pid.first?.isNumber == true {
            let count = readlink("/proc/\(pid)/cwd", &buffer, buffer.count - 1)
            guard count > 0 else { continue }
            let cwd = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if cwd == target || cwd.hasPrefix(target + "/") { return true }
        }
        return false
    }

    /// Deletes exp's own short-lived branch `name` when it exists.
    private func removeLeftoverBranch(_ name: String) {
        guard let reference = ReferenceName("refs/heads/" + name),
            let target = try? repository.resolve(reference)
        else { return }
        try? repository.deleteReference(reference, expecting: target)
    }
}
