import ExpCore
import ExpTestSupport
import Foundation
import Testing

@Suite("Metric series")
struct MetricSeriesTests {
    /// A random series: steps with gaps and repeats, values with spikes.
    static func randomSeries(_ generator: inout SeededGenerator) -> [SeriesPoint] {
        let count = Int.random(in: 0...3_000, using: &generator)
        var x = Double(Int.random(in: -50...50, using: &generator))
        return (0..<count).map { _ in
            x += Double(Int.random(in: 0...3, using: &generator))
            let spike = Int.random(in: 0..<100, using: &generator) == 0
            let y =
                spike ? Double.random(in: -1e6...1e6, using: &generator) : Double.random(in: -1...1, using: &generator)
            return SeriesPoint(x: x, y: y)
        }
    }

    @Test("downsampling keeps every bucket's min and max, the first and the last point (seeded property)")
    func downsamplingKeepsExtremes() {
        var generator = SeededGenerator(seed: 17)
        for _ in 0..<300 {
            let full = Self.randomSeries(&generator)
            let buckets = Int.random(in: 1...200, using: &generator)
            let kept = SeriesDownsampling.downsample(full, buckets: buckets)
            #expect(kept.count <= max(full.count, 2 * buckets + 2))
            guard let first = full.first, let last = full.last else {
                #expect(kept.isEmpty)
                continue
            }
            #expect(kept.first == first)
            #expect(kept.last == last)
            // Kept points are points of the series, in its order.
            var cursor = full.startIndex
            for point in kept {
                while cursor < full.endIndex && full[cursor] != point { cursor += 1 }
                #expect(cursor < full.endIndex, "kept \(point) is not in the series in order")
            }
            func extremes(_ points: [SeriesPoint]) -> [Int: (Double, Double)] {
                var result: [Int: (Double, Double)] = [:]
                for point in points {
                    let bucket = SeriesDownsampling.column(of: point.x, from: first.x, to: last.x, buckets: buckets)
                    let old = result[bucket] ?? (point.y, point.y)
                    result[bucket] = (min(old.0, point.y), max(old.1, point.y))
                }
                return result
            }
            let fullExtremes = extremes(full)
            let keptExtremes = extremes(kept)
            for (bucket, range) in fullExtremes {
                #expect(keptExtremes[bucket]?.0 == range.0, "bucket \(bucket) lost its min")
                #expect(keptExtremes[bucket]?.1 == range.1, "bucket \(bucket) lost its max")
            }
        }
    }

    @Test("a short series is kept whole; one bucket keeps first, min, max, last")
    func smallCases() {
        let points = (0..<5).map { SeriesPoint(x: Double($0), y: Double([3, 9, -2, 4, 1][$0])) }
        #expect(SeriesDownsampling.downsample(points, buckets: 10) == points)
        #expect(
            SeriesDownsampling.downsample(points + points.map { SeriesPoint(x: $0.x + 5, y: 0) }, buckets: 1).map(\.y)
                == [3, 9, -2, 0])
    }

    @Test("a run's series along step, epoch and time, from its record and skipping NaN and infinities")
    func seriesOfARecordedRun() throws {
        let repo = try TestRepo()
        try repo.write(
            "train.sh",
            """
            for i in 1 2 3 4; do
              echo "{\\"step\\": $i, \\"loss\\": 0.$((10 - i)), \\"time\\": $((1000 + 10 * i))}" >> "$EXP_METRICS_FILE"
            done
            echo '{"step": 5, "loss": "NaN", "time": 1050}' >> "$EXP_METRICS_FILE"
            echo '{"step": 6, "loss": "Infinity", "acc": 0.5, "time": 1060}' >> "$EXP_METRICS_FILE"
            mkdir -p lightning_logs/version_0
            printf 'epoch,step\\n0,1\\n1,2\\n1,3\\n2,4\\n' > lightning_logs/version_0/metrics.csv

            """)
        try repo.commitAll()
        let result = try repo.exp(["run", "--name", "one", "--", "sh", "train.sh"])
        #expect(result.status == 0, "\(result.stderr)")
        let workspace = try Workspace(context: repo.context())
        let run = try RunStore(workspace: workspace).resolve(try RunRef(parsing: "one"))

        let bySteps = try workspace.metricSeries(SeriesRequest(runs: [run], keys: ["loss", "acc", "nope"]))
        #expect(bySteps.map(\.key) == ["loss", "acc"])
        #expect(bySteps[0].points == [(1, 0.9), (2, 0.8), (3, 0.7), (4, 0.6)].map { SeriesPoint(x: $0, y: $1) })
        #expect(bySteps[0].nonFinite == 2)
        #expect(bySteps[1].points == [SeriesPoint(x: 6, y: 0.5)])

        let byEpoch = try workspace.metricSeries(SeriesRequest(runs: [run], keys: ["loss"], axis: .epoch))
        #expect(byEpoch[0].points.map(\.x) == [0, 1, 1, 2])
        #expect(byEpoch[0].withoutX == 2)

        let byTime = try workspace.metricSeries(SeriesRequest(runs: [run], keys: ["loss"], axis: .time))
        #expect(byTime[0].points.map(\.x) == [0, 10, 20, 30])

        let every = try workspace.metricSeries(SeriesRequest(runs: [run], keys: []))
        #expect(every.map(\.key) == ["acc", "epoch", "loss"])
    }
}

@Suite("Series smoothing")
struct SeriesSmoothingTests {
    @Test("the moving average is debiased: a constant stays constant, a step rises towards the new level")
    func movingAverage() {
        let constant = (0..<10).map { SeriesPoint(x: Double($0), y: 3) }
        for point in SeriesDownsampling.smoothed(constant, weight: 0.9) { #expect(abs(point.y - 3) < 1e-12) }
        let stepUp = (0..<4).map { SeriesPoint(x: Double($0), y: $0 < 2 ? 0 : 1) }
        let smooth = SeriesDownsampling.smoothed(stepUp, weight: 0.5).map(\.y)
        #expect(smooth[0] == 0 && smooth[1] == 0)
        #expect(smooth[2] > 0.5 && smooth[2] < 1)
        #expect(smooth[3] > smooth[2] && smooth[3] < 1)
        #expect(SeriesDownsampling.smoothed(stepUp, weight: 0) == stepUp)
    }
}
