import ExpGit
import ExpTestSupport
import Foundation
import Testing

@testable import ExpCore

@Suite("Series cache")
struct SeriesCacheTests {
    /// A run's points as a record holds them, long enough (up to 30,000 of a key) for the
    /// summaries to keep fine slices rather than every point: keys only some points have,
    /// NaN and infinities, missing steps and times, repeated steps, time out of order.
    static func longPoints(_ generator: inout SeededGenerator) -> [MetricPoint] {
        let keys = ["loss", "acc", "epoch", "rare"]
        var points: [MetricPoint] = []
        var step = Double(Int.random(in: -5...5, using: &generator))
        var time = 1_700_000_000.0
        let count = [0, 1, 3, 500, 9_000, 30_000][Int.random(in: 0..<6, using: &generator)]
        let spread = Bool.random(using: &generator) ? 1.0 : 1e-9
        for _ in 0..<count {
            step += Double(Int.random(in: 0...2, using: &generator))
            time += Double.random(in: -1...3, using: &generator) * spread
            let roll = Int.random(in: 0..<200, using: &generator)
            let value =
                roll == 0
                ? Double.nan
                : roll == 1
                    ? -Double.infinity
                    : roll == 2
                        ? Double.random(in: -1e300...1e300, using: &generator)
                        : Double(Int.random(in: -50...50, using: &generator)) / 8
            let key =
                Int.random(in: 0..<100, using: &generator) == 0
                ? "rare" : keys[Int.random(in: 0...2, using: &generator)]
            points.append(
                MetricPoint(
                    key: key, step: Int.random(in: 0..<300, using: &generator) == 0 ? nil : step,
                    time: Int.random(in: 0..<100, using: &generator) == 0 ? nil : time,
                    value: key == "epoch" ? (step / 100).rounded(.down) : value, source: .file))
        }
        return points
    }

    static func recordedRun(_ repo: TestRepo, name: String, lines: String) throws -> StoredRun {
        try repo.write("points-\(name).jsonl", lines)
        try repo.write("copy.sh", "cat \"$1\" >> \"$EXP_METRICS_FILE\"\n")
        try repo.commitAll()
        let result = try repo.exp(["run", "--name", name, "--", "sh", "copy.sh", "points-\(name).jsonl"])
        #expect(result.status == 0, "\(result.stderr)")
        return try RunStore(workspace: try Workspace(context: repo.context())).resolve(try RunRef(parsing: name))
    }

    @Test(
        "the cached summaries give exactly the points of the full series, for any width, along step, epoch and time (seeded property)"
    )
    func cachedEqualsFullScan() throws {
        let repo = try TestRepo()
        let run = try Self.recordedRun(repo, name: "one", lines: "{\"step\": 1, \"loss\": 1}\n")
        var generator = SeededGenerator(seed: 2026)
        var fine = 0
        for round in 0..<60 {
            let bytes = try MetricsFile.encode(Self.longPoints(&generator))
            let points = MetricsFile.decode(bytes)
            let axis = SeriesAxis.allCases[round % 3]
            let kept = RunStore.summaries(of: bytes, keys: [], axis: axis)
            let decoded = try #require(SeriesCache.decode(SeriesCache.encode(kept, axis: axis), axis: axis))
            #expect(decoded == kept, "round \(round)")
            fine += kept.filter { $0.all == nil }.count
            for buckets in [1, 2, 7, 80, 160, 400, 1_000, 4_095, 4_096, Int.random(in: 1...4_096, using: &generator)] {
                let keys = [[], ["loss"], ["rare", "nope", "acc"]][buckets % 3]
                let request = SeriesRequest(runs: [run], keys: keys, axis: axis, buckets: buckets)
                let full = RunStore.series(of: run, points: points, request: request)
                let cached = RunStore.series(of: run, summaries: decoded, request: request)
                #expect(cached.map(\.key) == full.map(\.key), "round \(round)")
                for (got, want) in zip(cached, full) {
                    let same = got.points == want.points
                    #expect(same, "round \(round) \(axis) \(buckets) buckets, key \(want.key)")
                    #expect(got.fullCount == want.fullCount && got.nonFinite == want.nonFinite, "round \(round)")
                    #expect(got.withoutX == want.withoutX, "round \(round)")
                }
            }
        }
        #expect(fine > 20)
    }

    @Test("a summary at the fine resolution keeps what downsampling every point keeps (seeded property)")
    func summaryEqualsDownsampling() {
        var generator = SeededGenerator(seed: 4096)
        for round in 0..<40 {
            let count = [10, 8_000, 8_195, 20_000][round % 4]
            var x = Double(Int.random(in: -1_000...1_000, using: &generator))
            let step = [1.0, 1e-7, 1e12][Int.random(in: 0...2, using: &generator)]
            let line = (0..<count).map { _ in
                x += Double(Int.random(in: 0...2, using: &generator)) * step
                return SeriesPoint(x: x, y: Double(Int.random(in: -20...20, using: &generator)))
            }
            let summary = SeriesSummary(
                key: "k", line: line, nonFinite: 0, withoutX: 0, resolution: SeriesDownsampling.resolution)
            for buckets in [1, 3, 240, 4_096, Int.random(in: 1...4_096, using: &generator)] {
                let same = summary.points(buckets: buckets) == SeriesDownsampling.downsample(line, buckets: buckets)
                #expect(same, "round \(round), \(buckets) buckets")
            }
        }
    }

    @Test("a plot fills the cache under the blob id of the record's metrics; a second read gives the same series")
    func filledAndKeyedByBlob() throws {
        let repo = try TestRepo()
        // Large enough to be kept (SeriesCache.smallestKept).
        let lines = (0..<25_000).map { "{\"step\": \($0), \"loss\": \(Double(($0 * 7919) % 1000) / 10)}" }
        let run = try Self.recordedRun(repo, name: "long", lines: lines.joined(separator: "\n") + "\n")
        let workspace = try Workspace(context: repo.context())
        let request = SeriesRequest(runs: [run], keys: ["loss"], buckets: 240)
        let first = try workspace.metricSeries(request)
        let blob = try repo.gitLine(["rev-parse", "refs/exp/runs/\(run.record.id):metrics.jsonl"])
        let file = repo.root + "/.git/exp/series/\(blob).step"
        #expect(FileManager.default.fileExists(atPath: file))
        let second = try workspace.metricSeries(request)
        #expect(second.map(\.points) == first.map(\.points))
        #expect(first.first?.fullCount == 25_000)
        let size = try #require(Int(try repo.gitLine(["cat-file", "-s", blob])))
        #expect(size >= SeriesCache.smallestKept)
        // Along time, another file; smoothed, no cache is read or written.
        _ = try workspace.metricSeries(SeriesRequest(runs: [run], keys: ["loss"], axis: .time, buckets: 240))
        #expect(FileManager.default.fileExists(atPath: repo.root + "/.git/exp/series/\(blob).time"))
        let smoothed = try workspace.metricSeries(
            SeriesRequest(runs: [run], keys: ["loss"], buckets: 240, smoothing: 0.5))
        #expect(smoothed.first?.points != first.first?.points)

        // The record replaced by one whose metrics differ: a fresh file, the new values.
        let recorded = try repo.git(["cat-file", "blob", blob])
        try repo.write("changed.jsonl", recorded.replacingOccurrences(of: "\"value\":", with: "\"value\":-"))
        let newBlob = try repo.gitLine(["hash-object", "-w", "changed.jsonl"])
        let index = ["GIT_INDEX_FILE": repo.folder.path + "/record-index"]
        try repo.git(["read-tree", run.commit.hex], env: index)
        try repo.git(["update-index", "--cacheinfo", "100644,\(newBlob),metrics.jsonl"], env: index)
        let tree = try repo.gitLine(["write-tree"], env: index)
        let parent = try repo.gitLine(["rev-parse", "\(run.commit.hex)^"])
        let commit = try repo.gitLine(["commit-tree", tree, "-p", parent, "-m", "changed"])
        try repo.git(["update-ref", "refs/exp/runs/\(run.record.id)", commit, run.commit.hex])
        let store = RunStore(workspace: try Workspace(context: repo.context()))
        let replaced = try store.resolve(try RunRef(parsing: "long"))
        #expect(replaced.commit.hex == commit)
        let after = try store.series(SeriesRequest(runs: [replaced], keys: ["loss"], buckets: 240))
        let full = RunStore.series(
            of: replaced, points: try store.metricPoints(of: replaced),
            request: SeriesRequest(runs: [replaced], keys: ["loss"], buckets: 240))
        #expect(after.map(\.points) == full.map(\.points))
        #expect(after.first?.points.allSatisfy { $0.y <= 0 } == true)
        #expect(FileManager.default.fileExists(atPath: repo.root + "/.git/exp/series/\(newBlob).step"))

        // gc: the files of the replaced record go (both axes); the new one and a write in
        // progress stay; a dry run only counts.
        let folder = repo.root + "/.git/exp/series/"
        try repo.write(".git/exp/series/\(newBlob).step.exp-tmp-1", "being written")
        let workspace2 = try Workspace(context: repo.context())
        let dry = try workspace2.pruneSeriesCache(dryRun: true)
        #expect(dry.files == 2 && dry.bytes > 0)
        #expect(FileManager.default.fileExists(atPath: folder + "\(blob).time"))
        #expect(try workspace2.pruneSeriesCache(dryRun: false) == dry)
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(left == ["\(newBlob).step", "\(newBlob).step.exp-tmp-1"])
        #expect(try workspace2.pruneSeriesCache(dryRun: false).files == 0)
    }

    @Test("a small record is not kept; a corrupt, truncated or foreign cache file is ignored and written again")
    func corruptFileRebuilt() throws {
        let repo = try TestRepo()
        let lines = (0..<9_000).map { "{\"step\": \($0), \"loss\": \(($0 * 31) % 97), \"acc\": 0.5}" }
        let run = try Self.recordedRun(repo, name: "long", lines: lines.joined(separator: "\n") + "\n")
        let store = RunStore(workspace: try Workspace(context: repo.context()))
        let request = SeriesRequest(runs: [run], keys: [], buckets: 100)
        let blob = try repo.gitLine(["rev-parse", "refs/exp/runs/\(run.record.id):metrics.jsonl"])
        let path = repo.root + "/.git/exp/series/\(blob).step"
        // A record this small is read again each time, not kept.
        let uncached = try store.series(request)
        #expect(!FileManager.default.fileExists(atPath: path))
        let expected = try store.series(request, cachingFrom: 0)
        #expect(expected.map(\.points) == uncached.map(\.points))
        #expect(expected.map(\.key) == ["acc", "loss"])
        let good = try #require(FileManager.default.contents(atPath: path))
        var flipped = [UInt8](good)
        flipped[flipped.count / 2] ^= 0x10
        let damaged: [[UInt8]] = [
            [], Array("not a cache".utf8), Array(good.prefix(good.count - 1)), flipped,
            // Sound bytes, but of the other axis; a byte too many.
            [UInt8](SeriesCache.encode(RunStore.summaries(of: [], keys: [], axis: .time), axis: .time)),
            Array(good) + [0],
        ]
        for bytes in damaged {
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let found = try store.series(request, cachingFrom: 0)
            #expect(found.map(\.points) == expected.map(\.points))
            #expect(FileManager.default.contents(atPath: path) == good)
        }
        // Every truncation and every flipped byte of a small file is refused, never a crash.
        let small = SeriesCache.encode(
            RunStore.summaries(
                of: try MetricsFile.encode(
                    (0..<5).map { MetricPoint(key: "k", step: Double($0), time: nil, value: 1, source: .file) }),
                keys: [], axis: .step), axis: .step)
        #expect(SeriesCache.decode(small, axis: .step)?.first?.finite == 5)
        for length in 0..<small.count { #expect(SeriesCache.decode(Array(small.prefix(length)), axis: .step) == nil) }
        for index in small.indices {
            var bytes = small
            bytes[index] ^= 0x01
            #expect(SeriesCache.decode(bytes, axis: .step) == nil)
        }
    }
}
