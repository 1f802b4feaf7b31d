import ExpCore
import Foundation
import Testing

@Suite("Compact metric points")
struct MetricPointsTests {
    /// Points of every shape: each source, with and without step and time, NaN and infinite
    /// values, across several chunks.
    static func sample(count: Int) -> [MetricPoint] {
        let sources: [MetricSource] = [.file, .tensorboard, .csv, .stdout]
        return (0..<count).map { index in
            let values = [Double(index) / 7, .nan, .infinity, -.infinity, -0.5]
            return MetricPoint(
                key: ["loss", "acc", "val/loss", "lr"][index % 4], step: index % 3 == 0 ? nil : Double(index),
                time: index % 5 == 0 ? nil : 1_700_000_000 + Double(index) / 3, value: values[index % 5],
                source: sources[index % 4])
        }
    }

    @Test func holdsEveryPointAsGiven() {
        let points = Self.sample(count: 40_000)
        let store = MetricPoints(points)
        #expect(store.count == points.count)
        #expect(Array(store) == points)
        #expect(store[39_999] == points[39_999])
    }

    @Test func replacingAPointKeepsTheOthers() {
        var points = Self.sample(count: 20_000)
        var store = MetricPoints(points)
        let replacement = MetricPoint(key: "acc", step: points[17_001].step, time: 5, value: 0.99, source: .stdout)
        store[17_001] = replacement
        points[17_001] = replacement
        #expect(Array(store) == points)
    }

    @Test func pointsSpilledToAFileReadAndReplaceAsInMemory() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("exp-spill-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var points = Self.sample(count: 100_000)
        var store = MetricPoints(spillingTo: folder + "/points")
        for point in points { store.append(point) }
        #expect(!FileManager.default.fileExists(atPath: folder + "/points"), "the file is unlinked at once")
        for position in [3, 40_000, 99_999] {
            let replacement = MetricPoint(
                key: "new", step: points[position].step, time: nil, value: Double(position), source: .csv)
            store[position] = replacement
            points[position] = replacement
        }
        #expect(store.count == points.count)
        #expect(Array(store) == points)
        #expect(store[40_000] == points[40_000] && store[2] == points[2])
    }

    @Test func knowsWhenMergeWouldLeaveThemAsTheyAre() {
        let ordered = [nil, 1, 1, 2, 5].map { MetricPoint(key: "loss", step: $0, time: nil, value: 1, source: .stdout) }
        #expect(MetricPoints(ordered).isInStepOrder)
        #expect(MetricPoint.merge([ordered]) == ordered)
        let unordered = [2, 1].map { MetricPoint(key: "loss", step: $0, time: nil, value: 1, source: .stdout) }
        #expect(!MetricPoints(unordered).isInStepOrder)
        #expect(MetricPoint.merge([unordered]) != unordered)
    }

    @Test func aKeyLongerThanTheEncodingBufferIsWrittenWhole() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("exp-points-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let long = String(repeating: "k\"", count: 700_000)  // 1.4 MB, 2.1 MB escaped
        let points = (0..<5).map {
            MetricPoint(key: $0 % 2 == 0 ? long : "loss", step: Double($0), time: nil, value: 0.5, source: .stdout)
        }
        try MetricsFile.write(MetricPoints(points), toFile: folder + "/a.jsonl")
        try MetricsFile.write(points, toFile: folder + "/b.jsonl")
        let written = try #require(FileManager.default.contents(atPath: folder + "/a.jsonl"))
        #expect(written == FileManager.default.contents(atPath: folder + "/b.jsonl"))
        #expect(MetricsFile.decode([UInt8](written)).map(\.key) == points.map(\.key))
    }

    @Test func summaryAndFileAreTheSameAsFromAnArray() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("exp-points-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // Enough points to be encoded in several pieces at once, most of them spilled.
        let points = MetricPoint.merge([Self.sample(count: 150_000)])
        var store = MetricPoints(spillingTo: folder + "/spill")
        for point in points { store.append(point) }
        // Described, since a NaN `last` is not equal to itself.
        func described(_ summary: [String: MetricSummary]) -> [String] {
            summary.keys.sorted().map { "\($0) \(summary[$0]!)" }
        }
        #expect(described(MetricSummary.summarize(store)) == described(MetricSummary.summarize(points)))
        #expect(MetricSummary.summarize(store).count == 4)
        try MetricsFile.write(store, toFile: folder + "/a.jsonl")
        try MetricsFile.write(points, toFile: folder + "/b.jsonl")
        let written = FileManager.default.contents(atPath: folder + "/a.jsonl")
        #expect(written != nil && written == FileManager.default.contents(atPath: folder + "/b.jsonl"))
    }
}
