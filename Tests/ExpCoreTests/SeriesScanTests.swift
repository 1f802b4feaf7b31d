import ExpTestSupport
import Foundation
import Testing

@testable import ExpCore

@Suite("Series scanned from metrics.jsonl bytes")
struct SeriesScanTests {
    /// A run's points as a record holds them: step-less first, then by step; some keys
    /// escaped (read by JSONDecoder), NaN and infinities, missing times, repeated steps.
    static func randomPoints(_ generator: inout SeededGenerator) -> [MetricPoint] {
        let keys = ["loss", "acc", "l\u{1}r", "x"]
        var points: [MetricPoint] = []
        for _ in 0..<Int.random(in: 0...3, using: &generator) {
            points.append(
                MetricPoint(
                    key: keys.randomElement(using: &generator) ?? "x", step: nil,
                    time: Bool.random(using: &generator) ? Double.random(in: 0...100, using: &generator) : nil,
                    value: Double.random(in: -1...1, using: &generator), source: .file))
        }
        var step = Double(Int.random(in: -5...5, using: &generator))
        let ordered = Bool.random(using: &generator)
        var time = 1_700_000_000.0
        for _ in 0..<Int.random(in: 0...2_000, using: &generator) {
            step += Double(Int.random(in: 0...2, using: &generator))
            time += ordered ? Double.random(in: 0...2, using: &generator) : Double.random(in: -3...3, using: &generator)
            let roll = Int.random(in: 0..<100, using: &generator)
            let value =
                roll == 0
                ? Double.nan
                : roll == 1
                    ? Double.infinity
                    : roll == 2
                        ? Double.random(in: -1e9...1e9, using: &generator)
                        : Double(Int.random(in: -50...50, using: &generator)) / 8
            points.append(
                MetricPoint(
                    key: keys[Int.random(in: 0..<keys.count, using: &generator)],
                    step: Int.random(in: 0..<200, using: &generator) == 0 ? nil : step,
                    time: Int.random(in: 0..<50, using: &generator) == 0 ? nil : time, value: value,
                    source: [MetricSource.file, .stdout][Int.random(in: 0...1, using: &generator)]))
        }
        return points
    }

    @Test(
        "the scan keeps exactly the points the full series keeps, along step and time, smoothed or not (seeded property)"
    )
    func scanMatchesTheFullSeries() throws {
        let repo = try TestRepo()
        try repo.write("one.sh", "echo '{\"step\": 1, \"loss\": 1}' >> \"$EXP_METRICS_FILE\"\n")
        try repo.commitAll()
        #expect(try repo.exp(["run", "--name", "one", "--", "sh", "one.sh"]).status == 0)
        let workspace = try Workspace(context: repo.context())
        let run = try RunStore(workspace: workspace).resolve(try RunRef(parsing: "one"))
        var generator = SeededGenerator(seed: 7)
        var scanned = 0
        for round in 0..<200 {
            var bytes = try MetricsFile.encode(Self.randomPoints(&generator))
            // A line in another spelling (read by JSONDecoder) and one that is not a point.
            if round % 3 == 0 { bytes += Array("{\"value\": 2, \"key\": \"x\", \"source\": \"file\"}\n".utf8) }
            if round % 5 == 0 { bytes += Array("{\"key\":\"x\",\"source\":\"nope\",\"value\":1}\nnot json\n".utf8) }
            let points = MetricsFile.decode(bytes)
            let keys = [[], ["loss"], ["acc", "nope", "l\u{1}r"]][round % 3]
            let request = SeriesRequest(
                runs: [run], keys: keys, axis: round % 2 == 0 ? .step : .time,
                buckets: Int.random(in: 1...60, using: &generator),
                smoothing: round % 4 == 0 ? 0.6 : 0)
            let expected = RunStore.series(of: run, points: points, request: request)
            guard let found = SeriesScan.series(of: run, bytes: bytes, request: request) else {
                // Only smoothing a series out of axis order is left to the points.
                #expect(request.smoothing > 0)
                continue
            }
            scanned += 1
            #expect(found.map(\.key) == expected.map(\.key), "round \(round)")
            for (got, want) in zip(found, expected) {
                #expect(got.points == want.points, "round \(round) key \(want.key)")
                #expect(got.fullCount == want.fullCount && got.nonFinite == want.nonFinite, "round \(round)")
                #expect(got.withoutX == want.withoutX, "round \(round)")
            }
        }
        #expect(scanned > 150)
        // Along epochs the points are read.
        #expect(
            SeriesScan.series(of: run, bytes: [], request: SeriesRequest(runs: [run], keys: [], axis: .epoch)) == nil)
    }
}
