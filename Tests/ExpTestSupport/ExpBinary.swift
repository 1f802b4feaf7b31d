import Foundation

/// Finds the built `exp` binary: `EXP_BINARY` when set, else `.build/debug/exp` (or release)
/// of this package.
public func expBinaryPath(filePath: String = #filePath) -> String {
    if let path = ProcessInfo.processInfo.environment["EXP_BINARY"] { return path }
    var root = URL(fileURLWithPath: filePath)
    for _ in 0..<3 { root.deleteLastPathComponent() }
    for configuration in ["debug", "release"] {
        let candidate = root.path + "/.build/\(configuration)/exp"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return root.path + "/.build/debug/exp"
}

extension TestRepo {
    /// Runs the built `exp` binary with this repo's hermetic environment.
    @discardableResult
    public func exp(_ args: [String], in directory: String? = nil, env extra: [String: String] = [:]) throws
        -> ProcessResult
    {
        try runProcess(
            [expBinaryPath()] + args, in: directory ?? root, environment: environment.merging(extra) { $1 })
    }
}
