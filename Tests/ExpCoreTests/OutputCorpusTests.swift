import ExpCore
import Foundation
import Testing

/// The training-log corpus (`Fixtures/logs`): every `NAME.txt` read by the output parser as
/// `exp run` reads a command's output, and compared with `NAME.expected`.
///
/// An expected point is found when a point with its key, its value (as a number, so `0.50`
/// and `0.5` agree) and its step was read; a step written `-` is not checked (the corpus
/// leaves it open). Each read point is matched at most once; read points left unmatched are
/// spurious. The thresholds are issue 15's.
@Suite("Metrics from real training logs")
struct OutputCorpusTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures/logs")

    /// One line of `NAME.expected`.
    struct ExpectedPoint {
        var key: String
        var value: Double
        var step: Double?
    }

    /// What one program's log gave.
    struct Score {
        var name: String
        var expected: Int
        var found: Int
        var read: Int
        var spurious: [String]
        var forbidden: [String]
        var missed: [String]

        var recall: Double { expected == 0 ? 1 : Double(found) / Double(expected) }
    }

    /// The corpus' programs: every `NAME.txt` that has a `NAME.expected`.
    static func programs() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { $0.hasSuffix(".txt") }
            .map { String($0.dropLast(4)) }
            .filter { FileManager.default.fileExists(atPath: folder.appendingPathComponent("\($0).expected").path) }
            .sorted()
    }

    static func expected(_ name: String) throws -> (points: [ExpectedPoint], forbidden: [String]) {
        let text = try String(contentsOf: folder.appendingPathComponent("\(name).expected"), encoding: .utf8)
        var points: [ExpectedPoint] = []
        var forbidden: [String] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(separator: " ")
            guard let first = fields.first else { continue }
            if first.hasPrefix("!") {
                forbidden.append(String(first.dropFirst()))
                continue
            }
            try #require(fields.count == 3, "\(name).expected: \(line)")
            let value = try #require(Double(fields[1]), "\(name).expected: \(line)")
            points.append(ExpectedPoint(key: String(fields[0]), value: value, step: Double(fields[2])))
        }
        return (points, forbidden)
    }

    /// The log through the parser in uneven chunks, as output arrives.
    static func read(_ name: String) throws -> [MetricPoint] {
        let bytes = Array(try Data(contentsOf: folder.appendingPathComponent("\(name).txt")))
        var parser = try OutputScalarParser(clock: { 0 })
        var start = 0
        var size = 1
        while start < bytes.count {
            let end = min(bytes.count, start + size)
            bytes[start..<end].withUnsafeBytes { parser.consume($0) }
            start = end
            size = size * 3 % 257 + 1
        }
        return Array(parser.finish())
    }

    static func same(_ a: Double, _ b: Double) -> Bool {
        if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
        return a == b || abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    }

    static func score(_ name: String) throws -> Score {
        let (want, forbidden) = try expected(name)
        let read = try Self.read(name)
        var used = [Bool](repeating: false, count: read.count)
        var missed: [String] = []
        for point in want {
            let match = read.indices.first { index in
                !used[index] && read[index].key == point.key && same(read[index].value, point.value)
                    && (point.step == nil || read[index].step == point.step)
            }
            if let match {
                used[match] = true
            } else {
                missed.append("\(point.key) \(point.value) \(point.step.map { "\($0)" } ?? "-")")
            }
        }
        let spurious = read.indices.filter { !used[$0] }.map {
            "\(read[$0].key)=\(read[$0].value)@\(read[$0].step.map { "\($0)" } ?? "-")"
        }
        let keys = Set(read.map(\.key))
        return Score(
            name: name, expected: want.count, found: want.count - missed.count, read: read.count, spurious: spurious,
            forbidden: forbidden.filter { keys.contains($0) }, missed: missed)
    }

    /// Programs whose forms the parser does not read yet, with what is missing; each is a known
    /// issue (the test fails when one of them passes, so that it leaves this list).
    static let notReadYet: [String: String] = [
        "fairseq": "the split named in a cell (`valid on 'valid' subset`) does not prefix the keys yet",
        "haiku-mnist": "`[Step N]` and paired keys (`Train / Test accuracy: a / b`) are not read yet",
        "ultralytics-yolo": "table rows that end in a progress bar, and the `Box(P` header, are not read yet",
        "sklearn-sgd": "`T: 150` (samples seen) is read as a metric",
        "spacy-train":
            "a setting printed before training (`Initial learn rate: 0.001`) is read as a metric (issue 15 item 3)",
    ]

    @Test func corpusMeetsTheThresholds() throws {
        let names = try Self.programs()
        #expect(names.count >= 13)
        let scores = try names.map(Self.score)
        for score in scores {
            let check = {
                #expect(
                    score.recall >= 0.9,
                    "\(score.name): recall \(score.found)/\(score.expected), missed \(score.missed)")
                #expect(score.forbidden.isEmpty, "\(score.name): must-not keys read: \(score.forbidden)")
            }
            if let reason = Self.notReadYet[score.name] {
                withKnownIssue("\(score.name): \(reason)") { check() }
            } else {
                check()
            }
        }
        let expected = scores.reduce(0) { $0 + $1.expected }
        let found = scores.reduce(0) { $0 + $1.found }
        let read = scores.reduce(0) { $0 + $1.read }
        let spurious = scores.reduce(0) { $0 + $1.spurious.count }
        #expect(expected > 0)
        let overall = {
            #expect(Double(found) >= 0.97 * Double(expected), "recall \(found)/\(expected)")
            #expect(
                Double(spurious) <= 0.02 * Double(read),
                "spurious \(spurious)/\(read): \(scores.filter { !$0.spurious.isEmpty }.map { "\($0.name): \($0.spurious)" })"
            )
        }
        if Self.notReadYet.isEmpty {
            overall()
        } else {
            withKnownIssue("issue 15's overall thresholds wait for the programs not read yet") { overall() }
        }
    }

    /// The scoring itself: a wrong step or value is a miss and a spurious point, a must-not key is caught.
    @Test func scoringCountsMissesAndSpuriousPoints() throws {
        let names = try Self.programs()
        let name = try #require(names.first)
        let score = try Self.score(name)
        #expect(score.read >= score.found)
        #expect(score.found + score.missed.count == score.expected)
        #expect(Self.same(0.653680, 0.65368) && !Self.same(0.1, 0.2) && Self.same(.nan, .nan))
    }
}
