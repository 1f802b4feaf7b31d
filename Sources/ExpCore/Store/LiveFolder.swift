import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A running run's folder, `<git common dir>/exp/runs/<id>/`, and the files of a record tree:
/// the one owner of their names, their formats and how they are written.
///
/// While a run goes, its folder holds `run.json` (the live record, with the supervisor's pid
/// and host), `output.log` (the command's output as it arrives), `metrics.jsonl` (what the
/// command appends to `EXP_METRICS_FILE`), `metrics.imported.jsonl` (CSV and TensorBoard points
/// read so far), `metrics.stdout.keys`/`.points` (output scalars, see `LiveScalarFile`),
/// `artifacts-before.json` (what the artifact rules matched before the command started) and
/// `heartbeat` (touched every few seconds). A record commit's tree holds `run.json`,
/// `output.log`, `metrics.jsonl` and, when there is one, `artifacts.json` and
/// `requirements.txt`.
public struct LiveFolder: Sendable, Equatable {
    /// The folder's path.
    public let path: String

    public init(path: String) { self.path = path }

    // MARK: File names

    /// The record (`run.json`), in the live folder and in a record tree.
    public static let recordFile = "run.json"
    /// The command's output (`output.log`), in the live folder and in a record tree.
    public static let outputFile = "output.log"
    /// Metric points as JSON lines (`metrics.jsonl`): what the command appends while it runs;
    /// in a record tree, every source merged.
    public static let metricsFile = "metrics.jsonl"
    /// CSV and TensorBoard points read so far, rewritten whole.
    public static let importedMetricsFile = "metrics.imported.jsonl"
    /// Output scalars' keys, one per line (see `LiveScalarFile`).
    static let stdoutKeysFile = "metrics.stdout.keys"
    /// Output scalars' points (see `LiveScalarFile`).
    static let stdoutPointsFile = "metrics.stdout.points"
    /// Where the watcher keeps the output scalars it holds beyond the newest few thousand
    /// (unlinked at once: it lives as long as exp's descriptor).
    static let stdoutSpillFile = "metrics.stdout.spill"
    /// The merged points written when the run is sealed, before they go into git.
    static let sealedMetricsFile = "metrics.sealed.jsonl"
    /// What the artifact rules matched before the command started.
    static let artifactsBeforeFile = "artifacts-before.json"
    /// Touched every few seconds while exp supervises the run.
    static let heartbeatFile = "heartbeat"
    /// The linked artifacts, in a record tree.
    public static let artifactsFile = "artifacts.json"
    /// `pip freeze` of the command's Python, in a record tree.
    static let requirementsFile = "requirements.txt"

    /// The path of the file `name` in this folder.
    func file(_ name: String) -> String { path + "/" + name }

    var recordPath: String { file(Self.recordFile) }
    var outputPath: String { file(Self.outputFile) }
    var metricsPath: String { file(Self.metricsFile) }
    var heartbeatPath: String { file(Self.heartbeatFile) }

    // MARK: Writing

    /// Creates the folder with an empty output log and metrics file.
    func create() throws {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw ExpError(.io, "could not create \(path): \(error.localizedDescription)")
        }
        try FileReplacement.write([], to: metricsPath, what: "the live metrics file")
        try FileReplacement.write([], to: outputPath, what: "the live output log")
    }

    /// Writes the live run.json whole (temp file, then rename).
    func writeRecord(_ record: RunRecord) throws {
        let data = try RunJSON.encoder().encode(record) + Data("\n".utf8)
        try FileReplacement.write(data, to: recordPath, what: "the live record")
    }

    /// Writes the file `name` whole.
    func write(_ bytes: some Collection<UInt8>, to name: String, what: String) throws {
        try FileReplacement.write(bytes, to: file(name), what: what)
    }

    /// Replaces the file `name` whole, best effort (the live view; the sealed record has it all).
    func replace(_ name: String, with bytes: [UInt8]) {
        try? FileReplacement.write(bytes, to: file(name), what: name)
    }

    /// Appends to the file `name`, creating it. A write that fails part way is cut off again,
    /// so the file only ever holds whole appends; returns whether this one was written.
    @discardableResult
    func append(_ name: String, _ bytes: [UInt8]) -> Bool {
        let fd = open(file(name), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let before = lseek(fd, 0, SEEK_END)
        let written = bytes.withUnsafeBytes { buffer in
            buffer.baseAddress.map { writeAll(fd, $0, buffer.count) == 0 } ?? true
        }
        if !written && before >= 0 { _ = ftruncate(fd, before) }
        return written
    }

    /// Removes the folder and everything in it.
    func remove() { try? FileManager.default.removeItem(atPath: path) }

    // MARK: Reading

    /// Whether the folder is there.
    var exists: Bool { FileManager.default.fileExists(atPath: path) }

    /// The bytes of the file `name`, nil when it cannot be read.
    func contents(_ name: String) -> [UInt8]? { FileManager.default.contents(atPath: file(name)).map { [UInt8]($0) } }

    /// The live record, when it is there and readable.
    func readRecord() -> RunRecord? {
        guard let data = FileManager.default.contents(atPath: recordPath) else { return nil }
        return try? RunJSON.decoder().decode(RunRecord.self, from: data)
    }

    /// The metric points saved in the folder so far: the lines of `metrics.jsonl`, the
    /// imported CSV and TensorBoard points and the output scalars, merged
    /// (`MetricPoint.merge`), each with the time it was read; and how many lines of
    /// `metrics.jsonl` were not JSON objects.
    func savedPoints() -> (points: [MetricPoint], skippedLines: Int) {
        let file = MetricsFile.parse(contents(Self.metricsFile) ?? [])
        var stdout = PointLog()
        stdout.add(LiveScalarFile.read(folder: self))
        let points = MetricPoint.merge([
            file.points, MetricsFile.decode(contents(Self.importedMetricsFile) ?? []), Array(stdout.points),
        ])
        return (points, file.skippedLines)
    }

    /// The newest modification time among the heartbeat and the live files: the last time the
    /// run's exp process was known to be alive.
    func lastSignOfLife() -> Date? {
        [Self.heartbeatFile, Self.recordFile, Self.outputFile, Self.metricsFile].compactMap { name -> Date? in
            modificationTime(name)
        }.max()
    }

    /// The last write to the run's own files (output, metrics, record): when a lost run is
    /// taken to have ended.
    func lastWrite() -> Date? {
        [Self.outputFile, Self.metricsFile, Self.recordFile].compactMap(modificationTime).max()
    }

    private func modificationTime(_ name: String) -> Date? {
        var info = stat()
        guard stat(file(name), &info) == 0 else { return nil }
        let time = info.st_mtim
        return Date(timeIntervalSince1970: Double(time.tv_sec) + Double(time.tv_nsec) / 1e9)
    }
}

/// The live folder's output scalars, in exp's own compact form: a second of output may hold
/// hundreds of thousands, too many to write as JSON while the command runs. Two files, only
/// ever appended to: `metrics.stdout.keys` (the keys, one per line, numbered from 0 in
/// order) and `metrics.stdout.points` (`MetricPoints.Record`s as they lie in memory; a
/// replaced point comes again, later). Keys are written before the points that use them,
/// and a reader leaves out a torn last record, so reading while exp writes is safe. Only
/// this machine's exp reads them.
struct LiveScalarFile {
    let folder: LiveFolder
    private var keysWritten = 0
    private var buffer: [MetricPoints.Record] = []

    init(folder: LiveFolder) { self.folder = folder }

    var keysPath: String { folder.file(LiveFolder.stdoutKeysFile) }
    var pointsPath: String { folder.file(LiveFolder.stdoutPointsFile) }

    /// Appends the points at `positions` of `points` (and any keys not written yet).
    mutating func append(_ points: MetricPoints, positions: some Sequence<Int>) {
        if points.keys.count > keysWritten {
            let names = points.keys[keysWritten...].map { $0 + "\n" }.joined()
            // Points are only written after their keys (the live view is best effort: the
            // sealed record has them all).
            guard folder.append(LiveFolder.stdoutKeysFile, Array(names.utf8)) else { return }
            keysWritten = points.keys.count
        }
        for position in positions {
            buffer.append(points.record(at: position))
            if buffer.count == 32 * 1024 { flush() }
        }
        flush()
    }

    private mutating func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { _ = folder.append(LiveFolder.stdoutPointsFile, Array($0)) }
        buffer.removeAll(keepingCapacity: true)
    }

    /// The points written so far in `folder`.
    static func read(folder: LiveFolder) -> MetricPoints {
        let keyBytes = folder.contents(LiveFolder.stdoutKeysFile) ?? []
        var names = keyBytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
            String(decoding: $0, as: UTF8.self)
        }
        if !names.isEmpty { names.removeLast() }  // after the last newline: nothing, or a name being written
        var points = MetricPoints(keys: names)
        guard let bytes = folder.contents(LiveFolder.stdoutPointsFile) else { return points }
        let stride = MemoryLayout<MetricPoints.Record>.stride
        bytes.withUnsafeBytes { raw in
            for offset in Swift.stride(from: 0, to: raw.count - stride + 1, by: stride) {
                let record = raw.loadUnaligned(fromByteOffset: offset, as: MetricPoints.Record.self)
                if Int(record.key) < names.count { points.append(record) }
            }
        }
        return points
    }
}
