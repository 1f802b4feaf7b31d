import ExpTestSupport
import Foundation
import Testing

@testable import ExpCore

@Suite("Series followed while a run logs")
struct SeriesFollowerTests {
    /// A folder removed when the test ends.
    final class Folder {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("exp-follow-\(UUID())").path
        init() throws { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
        deinit { try? FileManager.default.removeItem(atPath: path) }

        func append(_ name: String, _ text: String) {
            LiveFolder(path: path).append(name, Array(text.utf8))
        }
    }

    /// A recorded run, to stand as the run of the series (only its identity is used).
    static func someRun() throws -> StoredRun {
        let repo = try TestRepo()
        try repo.write("one.sh", "true\n")
        try repo.commitAll()
        #expect(try repo.exp(["run", "--name", "one", "--", "sh", "one.sh"]).status == 0)
        return try RunStore(workspace: try Workspace(context: repo.context())).resolve(try RunRef(parsing: "one"))
    }

    @Test("only whole appended lines and records are read; each read adds what the files gained")
    func readsWhatWasAppended() throws {
        let run = try Self.someRun()
        let folder = try Folder()
        let live = LiveSeries(directory: folder.path, request: SeriesRequest(runs: [], keys: [], buckets: 100))
        live.read()
        #expect(live.series(of: run).isEmpty)
        folder.append(
            "metrics.jsonl", "{\"step\": 1, \"loss\": 3, \"acc\": 0.5}\n{\"step\": 2, \"loss\": 2}\n{\"step\": 3, \"lo")
        live.read()
        var series = live.series(of: run)
        #expect(series.map(\.key) == ["acc", "loss"])
        #expect(series[1].points == [SeriesPoint(x: 1, y: 3), SeriesPoint(x: 2, y: 2)])
        // The torn line is read once whole; other spellings through JSONDecoder.
        folder.append("metrics.jsonl", "ss\": 1}\n{\"step\": 4, \"loss\": NaN, \"note\": \"text\"}\n")
        live.read()
        series = live.series(of: run)
        #expect(series[1].points.map(\.x) == [1, 2, 3])
        #expect(series[1].nonFinite == 1)
        // Output scalars, as the watcher writes them: drawn where the metrics file has no such key.
        var scalars = LiveScalarFile(folder: LiveFolder(path: folder.path))
        let printed = MetricPoints([
            MetricPoint(key: "lr", step: 1, time: nil, value: 0.1, source: .stdout),
            MetricPoint(key: "loss", step: 9, time: nil, value: 9, source: .stdout),
        ])
        scalars.append(printed, positions: 0..<printed.count)
        live.read()
        series = live.series(of: run)
        #expect(series.map(\.key) == ["acc", "loss", "lr"])
        #expect(series[1].points.map(\.x) == [1, 2, 3], "the metrics file is preferred to the output")
        #expect(series[2].points == [SeriesPoint(x: 1, y: 0.1)])
    }

    @Test("a long series is kept in fixed memory with its first, last, smallest and largest points (seeded)")
    func growingSeriesKeepsExtremes() {
        var generator = SeededGenerator(seed: 3)
        for _ in 0..<20 {
            var grown = GrowingSeries(smoothing: 0)
            var full: [SeriesPoint] = []
            var x = Double(Int.random(in: -100...100, using: &generator))
            for _ in 0..<Int.random(in: 1...50_000, using: &generator) {
                x += Double(Int.random(in: 0...3, using: &generator))
                let y =
                    Int.random(in: 0..<500, using: &generator) == 0
                    ? Double.random(in: -1e6...1e6, using: &generator) : Double.random(in: -1...1, using: &generator)
                full.append(SeriesPoint(x: x, y: y))
                grown.add(x: x, y: y)
            }
            let kept = grown.points()
            #expect(grown.count == full.count)
            #expect(kept.count <= max(full.count, 2 * GrowingSeries.slices + 2))
            #expect(kept.first?.x == full.first?.x && kept.last?.x == full.last?.x)
            #expect(kept.map(\.y).min() == full.map(\.y).min())
            #expect(kept.map(\.y).max() == full.map(\.y).max())
            let all = Set(full.map { "\($0.x) \($0.y)" })
            #expect(kept.allSatisfy { all.contains("\($0.x) \($0.y)") })
            #expect(kept == kept.sorted { $0.x < $1.x })
        }
    }

    @Test("flat JSON lines are read by hand as MetricsFile.parseLine reads them")
    func flatLines() {
        for line in [
            #"{"step": 3, "loss": 0.25, "acc": 1e-3}"#, #" { "iteration" : 7 ,"time": 12.5, "x": -2 } "#,
            #"{"loss": NaN, "b": "Infinity", "c": -Infinity}"#, #"{"step": 1, "step": 2, "a": 1}"#,
            #"{"a": true, "b": 2}"#, #"{"a": "text"}"#, #"{}"#, "not json", #"{"a\u0041": 1}"#,
        ] {
            let bytes = Array(line.utf8)
            let fast = bytes.withUnsafeBufferPointer { FlatMetricLine.points($0) }
            let slow = MetricsFile.parseLine(Data(bytes)) ?? []
            #expect(fast == slow, "\(line)")
        }
    }
}
