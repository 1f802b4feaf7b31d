public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Which GPUs a sweep's runs share.
public enum DeviceChoice: Codable, Sendable, Equatable {
    /// These device indices, as `CUDA_VISIBLE_DEVICES` names them.
    case list([String])
    /// Every device `nvidia-smi` lists.
    case auto

    /// Parses `0,1,2,3` or `auto`.
    public init(parsing text: String) throws {
        if text == "auto" {
            self = .auto
            return
        }
        let devices = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard !devices.isEmpty, devices.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            Set(devices).count == devices.count
        else {
            throw ExpError(.usage, "bad device list '\(text)'", hint: "give device numbers, e.g. 0,1,2,3, or auto")
        }
        self = .list(devices)
    }
}

/// One GPU as `nvidia-smi` reports it.
public struct DeviceMemory: Sendable, Equatable {
    public var index: String
    public var usedMiB: Double
    public var totalMiB: Double

    /// Whether another program already holds most of its memory.
    public var isBusy: Bool { totalMiB > 0 && usedMiB / totalMiB > Devices.busyShare }
}

/// The GPUs runs may use, read from `nvidia-smi`, and the leases that give each to one run.
public enum Devices {
    /// A device whose memory is more than this share used is skipped.
    static let busyShare = 0.5

    /// Parses `nvidia-smi --query-gpu=index,memory.used,memory.total --format=csv,noheader,nounits`.
    static func parseMemory(_ output: String) -> [DeviceMemory] {
        output.split(whereSeparator: \.isNewline).prefix(256).compactMap { line in
            let fields = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 3, !fields[0].isEmpty, fields[0].allSatisfy(\.isNumber),
                let used = Double(fields[1]), let total = Double(fields[2])
            else { return nil }
            return DeviceMemory(index: fields[0], usedMiB: used, totalMiB: total)
        }
    }

    /// The devices `nvidia-smi` (found on the environment's `PATH`) lists, or nil when it is
    /// missing or fails.
    static func query(environment: [String: String]) -> [DeviceMemory]? {
        guard let smi = MachineInfo.resolveExecutable("nvidia-smi", searchPath: environment["PATH"]),
            let process = MachineInfo.Subprocess.start(
                smi, ["--query-gpu=index,memory.used,memory.total", "--format=csv,noheader,nounits"],
                environment: environment),
            let result = process.finish(deadline: .now + .seconds(10)), result.status == 0
        else { return nil }
        return parseMemory(String(decoding: result.output, as: UTF8.self))
    }

    /// The devices of `choice` that runs may use now, and a note for each one skipped because
    /// its memory is mostly used by another program. `auto` without `nvidia-smi` is an error.
    public static func usable(_ choice: DeviceChoice, environment: [String: String]) throws -> (
        devices: [String], notes: [String]
    ) {
        let listed = query(environment: environment)
        var candidates: [String]
        switch choice {
        case .list(let devices): candidates = devices
        case .auto:
            guard let listed, !listed.isEmpty else {
                throw ExpError(
                    .notFound, "no GPU found: nvidia-smi is missing or lists none",
                    hint: "name the devices, or leave them out to run without GPUs")
            }
            candidates = listed.map(\.index)
        }
        var notes: [String] = []
        if let listed {
            candidates.removeAll { index in
                guard let device = listed.first(where: { $0.index == index }), device.isBusy else { return false }
                notes.append(
                    "GPU \(index) skipped: \(Int(device.usedMiB)) of \(Int(device.totalMiB)) MiB already in use")
                return true
            }
        }
        return (candidates, notes)
    }
}

/// Leases on devices held by this process: a lease is a kernel lock (`flock`) on
/// `<queue>/devices/<index>.lease`, so a process that dies, however it dies, never holds one;
/// the file also says who holds it.
final class DeviceLeases {
    private var held: [(device: String, fd: Int32)] = []

    /// The devices leased, in order.
    var devices: [String] { held.map(\.device) }

    /// Takes `count` free devices among `candidates` (first free first), or none when fewer
    /// than `count` are free.
    static func take(_ count: Int, of candidates: [String], folder: String) throws -> DeviceLeases? {
        try RunQueue.makeFolder(folder)
        let leases = DeviceLeases()
        for device in candidates where leases.held.count < count {
            let path = folder + "/" + device + ".lease"
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                throw ExpError(.io, "could not open the device lease \(path): \(String(cString: strerror(errno)))")
            }
            if flock(fd, LOCK_EX | LOCK_NB) == 0 {
                let owner = Array("\(getpid())\n".utf8)
                _ = ftruncate(fd, 0)
                _ = owner.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
                leases.held.append((device, fd))
            } else {
                close(fd)
            }
        }
        return leases.held.count == count ? leases : nil
    }

    /// Gives the leases back.
    func release() {
        for (_, fd) in held { close(fd) }
        held = []
    }

    deinit { release() }
}
