import Foundation
import Testing

@testable import ExpCore

@Suite("Live output scalars: the parser's batches, the watcher's log and its files")
struct LiveScalarFileTests {
    /// A folder removed when the test ends.
    final class Folder {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exp-live-\(UUID())").path
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Output fed to a parser in pieces, with a batch taken between pieces as the watcher does.
    static func batches(_ pieces: [String]) throws -> [MetricPoints] {
        var parser = try OutputScalarParser(clock: { 1_700_000_000.1234 })
        var batches: [MetricPoints] = []
        for piece in pieces {
            Array(piece.utf8).withUnsafeBytes { parser.consume($0) }
            batches.append(parser.takeNew())
        }
        batches.append(parser.finish())
        return batches
    }

    @Test func aKeysLastPointAtTheSameStepIsReplacedAcrossBatches() throws {
        let batches = try Self.batches([
            "epoch 0 | loss=0.9\rEpoch 0: loss=0.8 acc: 0.5\n", "Epoch 0: loss=0.7\n", "Epoch 1: loss=0.6\n",
            "step=0 loss=0.1\n",
        ])
        // Within a batch the redrawn progress line replaced the first; the keys keep their numbers.
        #expect(Array(batches[0]).map(\.value) == [0.8, 0.5])
        #expect(batches.allSatisfy { $0.isEmpty || Array($0.keys.prefix(2)) == ["loss", "acc"] })
        var log = PointLog(exact: false)
        for batch in batches { log.add(batch) }
        let points = Array(log.points)
        #expect(points.map(\.key) == ["loss", "acc", "loss", "loss"])
        #expect(points.map(\.value) == [0.7, 0.5, 0.6, 0.1])  // step 0 again after step 1: a new point
        #expect(points.map(\.step) == [0, 0, 1, 0])
        #expect(points.allSatisfy { $0.time == 1_700_000_000.123 && $0.source == .stdout })
    }

    @Test func aFullBatchIsHandedOverAtOnceAndAllReachTheResult() throws {
        let folder = try Folder()
        let watcher = MetricsWatcher(
            roots: [folder.path], repositoryRoot: folder.path, since: 0, liveDirectory: folder.path,
            metricsFile: folder.path + "/metrics.jsonl", publish: { _ in })
        var parser = try OutputScalarParser(clock: { 5 })
        var taken = 0
        func feed(_ lines: Range<Int>) {
            let text = lines.map { "step \($0) loss=\(1.0 / Double($0 + 1))\n" }.joined()
            Array(text.utf8).withUnsafeBytes { parser.consume($0) }
            watcher.collect(pending: parser.pending) {
                taken += 1
                return parser.takeNew()
            }
        }
        feed(0..<10)  // the first collect takes what there is
        feed(10..<20)  // within the second, and not full: kept by the parser
        #expect(taken == 1 && parser.pending == 10)
        feed(20..<(20 + MetricsWatcher.batchLimit))  // full: handed over at once
        #expect(taken == 2 && parser.pending == 0)
        let result = watcher.finish(lastOutput: parser.finish())
        #expect(result.points.count == 20 + MetricsWatcher.batchLimit)
        #expect(result.points.map(\.step) == (0..<(20 + MetricsWatcher.batchLimit)).map { Double($0) })
    }

    @Test func filesGiveBackWhatWasWrittenAndSkipWhatIsNotWholeYet() throws {
        let folder = try Folder()
        var log = PointLog(exact: false)
        var file = LiveScalarFile(folder: LiveFolder(path: folder.path))
        for batch in try Self.batches(["step 1 loss: 0.5\n", "step 1 loss: 0.4 val/acc=91.5%\n", "step 2 lr: 1e-3\n"]) {
            log.add(batch)
            let changed = log.takeChanged()
            file.append(log.points, positions: changed.replaced)
            file.append(log.points, positions: changed.added)
        }
        // Read as `exp show` reads a live run: a later copy of a (key, step) wins.
        var read = PointLog()
        read.add(LiveScalarFile.read(folder: LiveFolder(path: folder.path)))
        #expect(Array(read.points) == Array(log.points))
        #expect(Array(log.points).map(\.key) == ["loss", "val/acc", "lr"])
        #expect(Array(log.points).map(\.value) == [0.4, 91.5, 0.001])

        // A record cut short, and one whose key is not written yet, are left out.
        let points = folder.path + "/" + LiveFolder.stdoutPointsFile
        let handle = try #require(FileHandle(forWritingAtPath: points))
        try handle.seekToEnd()
        var orphan = MetricPoints.Record(key: 7, step: 3, time: nil, value: 1, source: .stdout)
        try handle.write(contentsOf: Data(bytes: &orphan, count: MemoryLayout<MetricPoints.Record>.stride))
        try handle.write(contentsOf: Data(repeating: 1, count: 10))
        try handle.close()
        let keys = try #require(FileHandle(forWritingAtPath: folder.path + "/" + LiveFolder.stdoutKeysFile))
        try keys.seekToEnd()
        try keys.write(contentsOf: Data("half-written".utf8))
        try keys.close()
        var again = PointLog()
        again.add(LiveScalarFile.read(folder: LiveFolder(path: folder.path)))
        #expect(Array(again.points) == Array(log.points))
    }
}
