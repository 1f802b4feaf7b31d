public import Foundation

/// One file a run wrote, as listed in its record's `artifacts.json`.
public struct Artifact: Codable, Sendable, Equatable {
    /// Relative to the repository root.
    public var path: String
    public var size: Int64
    /// The content hash; nil when the file was not stored (then it was not read either).
    public var sha256: SHA256Digest?
    /// The file's modification time when it was captured.
    public var mtime: Date
    /// Whether its content is in the artifact store.
    public var stored: Bool
    /// Why it was not stored (over `exp.artifactMaxSize`, a read error).
    public var reason: String?

    public init(path: String, size: Int64, sha256: SHA256Digest?, mtime: Date, stored: Bool, reason: String? = nil) {
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.mtime = mtime
        self.stored = stored
        self.reason = reason
    }
}

/// `artifacts.json` in a record tree, format 1.
public struct ArtifactsFile: Codable, Sendable, Equatable {
    public var format: Int = 1
    public var artifacts: [Artifact]
    /// The globs that chose them (relative to the root), or the Lightning default ones.
    public var patterns: [String]
    /// True when no pattern was configured and Lightning's default layout chose them.
    public var lightningDefault: Bool?

    public init(artifacts: [Artifact], patterns: [String], lightningDefault: Bool? = nil) {
        self.artifacts = artifacts
        self.patterns = patterns
        self.lightningDefault = lightningDefault
    }

    enum CodingKeys: String, CodingKey {
        case format, artifacts, patterns
        case lightningDefault = "lightning_default"
    }

    public func encoded() throws -> [UInt8] {
        Array(try RunJSON.encoder().encode(self)) + Array("\n".utf8)
    }

    public static func decode(_ bytes: [UInt8]) throws -> ArtifactsFile {
        try RunJSON.decoder().decode(ArtifactsFile.self, from: Data(bytes))
    }
}

/// The artifacts line of `run.json`: how many, how big, and the best checkpoint when
/// Lightning's file names carry the monitored value (`epoch=3-val_loss=0.12.ckpt`).
public struct ArtifactSummary: Codable, Sendable, Equatable {
    public var count: Int
    /// Total bytes of all artifacts.
    public var size: Int64
    /// How many are in the store.
    public var stored: Int
    public var best: BestCheckpoint?

    /// The checkpoint with the best value of the metric its file name carries.
    public struct BestCheckpoint: Codable, Sendable, Equatable {
        public var path: String
        public var metric: String
        public var value: Double
        /// `min` for losses and errors, `max` otherwise.
        public var mode: String
    }

    public init(_ artifacts: [Artifact]) {
        count = artifacts.count
        size = artifacts.reduce(0) { $0 + $1.size }
        stored = artifacts.filter(\.stored).count
        best = Self.bestCheckpoint(artifacts.map(\.path))
    }

    /// Names that are counters, not monitored values.
    private static let counters: Set<String> = ["epoch", "step", "global_step", "v"]

    /// The monitored `key=value` pairs in a checkpoint file name.
    static func values(inFileName path: String) -> [String: Double] {
        let name = (path as NSString).lastPathComponent
        guard name.hasSuffix(".ckpt") else { return [:] }
        var result: [String: Double] = [:]
        for part in name.dropLast(5).split(separator: "-") {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, !counters.contains(String(pair[0])), let value = Double(pair[1]), value.isFinite
            else { continue }
            result[String(pair[0])] = value
        }
        return result
    }

    /// The best checkpoint by the metric most checkpoint names carry; lower is better for
    /// losses and errors, higher otherwise.
    static func bestCheckpoint(_ paths: [String]) -> BestCheckpoint? {
        let named = paths.map { ($0, values(inFileName: $0)) }.filter { !$0.1.isEmpty }
        var counts: [String: Int] = [:]
        for (_, values) in named { for key in values.keys { counts[key, default: 0] += 1 } }
        guard let metric = counts.max(by: { ($0.value, $1.key) < ($1.value, $0.key) })?.key else { return nil }
        let lowered = metric.lowercased()
        let lowerIsBetter = ["loss", "err", "mae", "mse", "rmse", "perplexity", "ppl", "wer", "cer", "nll"].contains {
            lowered.contains($0)
        }
        var best: (path: String, value: Double)?
        for (path, values) in named {
            guard let value = values[metric] else { continue }
            if let current = best, lowerIsBetter ? value >= current.value : value <= current.value { continue }
            best = (path, value)
        }
        return best.map {
            BestCheckpoint(path: $0.path, metric: metric, value: $0.value, mode: lowerIsBetter ? "min" : "max")
        }
    }
}

extension Artifact {
    enum CodingKeys: String, CodingKey {
        case path, size, sha256, mtime, stored, reason
    }
}
