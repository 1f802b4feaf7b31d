import ExpTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// One metric point as compared here: key, step, time, value.
private struct Point: Hashable, CustomStringConvertible {
    var key: String
    var step: Double?
    var time: Double?
    var value: Double

    var description: String { "\(key)@\(step.map { "\($0)" } ?? "-") t=\(time.map { "\($0)" } ?? "-") \(value)" }
}

/// Decodes a live folder's output scalars as documented for `metrics.stdout.keys` and
/// `metrics.stdout.points` (keys one per line, numbered from 0; 32-byte records: value, step,
/// time as doubles, the key number as a 32-bit integer, a flags byte: 1 step set, 2 time set;
/// a (key, step) written again replaces the earlier point), independently of exp's reader.
private func decodeLiveScalars(keys: Data, points: Data) -> [Point] {
    var names = keys.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
        String(decoding: $0, as: UTF8.self)
    }
    if !names.isEmpty { names.removeLast() }
    var decoded: [Point] = []
    var slots: [String: Int] = [:]
    points.withUnsafeBytes { raw in
        for offset in stride(from: 0, to: raw.count - 31, by: 32) {
            let value = raw.loadUnaligned(fromByteOffset: offset, as: Double.self)
            let step = raw.loadUnaligned(fromByteOffset: offset + 8, as: Double.self)
            let time = raw.loadUnaligned(fromByteOffset: offset + 16, as: Double.self)
            let key = Int(raw.loadUnaligned(fromByteOffset: offset + 24, as: UInt32.self))
            let flags = raw[offset + 28]
            guard key < names.count else { continue }
            let point = Point(
                key: names[key], step: flags & 1 != 0 ? step : nil, time: flags & 2 != 0 ? time : nil, value: value)
            let slot = "\(point.key)\u{0}\(point.step.map { "\($0)" } ?? "")"
            if point.step != nil, let index = slots[slot] {
                decoded[index] = point
            } else {
                slots[slot] = decoded.count
                decoded.append(point)
            }
        }
    }
    return decoded
}

/// The points of a record's `metrics.jsonl`, read through git.
private func recordPoints(_ repo: TestRepo, _ ref: String) throws -> [Point] {
    let text = try repo.git(["show", ref + ":metrics.jsonl"])
    return try text.split(separator: "\n").map { line in
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        return Point(
            key: object["key"] as? String ?? "", step: (object["step"] as? NSNumber)?.doubleValue,
            time: (object["time"] as? NSNumber)?.doubleValue, value: (object["value"] as? NSNumber)?.doubleValue ?? .nan
        )
    }
}

@Suite("a killed exp's run is recovered from what it saved", .serialized)
struct LostRunRecoveryTests {
    /// exp itself is killed (SIGKILL, not its command) after the command printed some metrics;
    /// the next exp command seals the run `lost` with exactly the points the watcher had saved
    /// in the live folder: same keys, steps, values and times, one for one, and nothing read
    /// again from the output log.
    @Test func theRecoveredRecordHoldsThePointsTheLiveFolderSaved() throws {
        let repo = try makeRepo()
        let script = """
            i=0
            while [ ! -f stop ]; do
              echo "step $i loss: 0.$i acc=$i"
              i=$((i + 1))
              sleep 0.05
            done
            """
        let exp = try startExp(repo, ["run", "--name", "killed", "--", "sh", "-c", script])
        defer { try? repo.write("stop", "") }
        #expect(try waitUntil(30) { try liveRun(repo) != nil })
        let live = try #require(try liveRun(repo))
        let id = try #require(live["id"] as? String)
        let child = try #require((live["supervisor"] as? [String: Any])?["child_pid"] as? Int)
        let folder = repo.root + "/.git/exp/runs/" + id
        // Some points saved, and the command still printing.
        #expect(
            try waitUntil(30) {
                let size =
                    (try? FileManager.default.attributesOfItem(atPath: folder + "/metrics.stdout.points"))?[
                        .size] as? Int
                return (size ?? 0) >= 32 * 8
            })

        kill(exp.processIdentifier, SIGKILL)
        exp.waitUntilExit()
        try repo.write("stop", "")
        kill(Int32(child), SIGKILL)
        // What the dead exp left, before anything reads it.
        let keys = try Data(contentsOf: URL(fileURLWithPath: folder + "/metrics.stdout.keys"))
        let saved = try Data(contentsOf: URL(fileURLWithPath: folder + "/metrics.stdout.points"))
        let livePoints = decodeLiveScalars(keys: keys, points: saved)
        #expect(livePoints.count >= 8)
        #expect(try runJSON(repo, "refs/exp/runs/" + id)["status"] as? String == "running")

        let list = try repo.expLive(["list", "--all"])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stdout.contains("lost"))
        let record = try runJSON(repo, "refs/exp/runs/" + id)
        #expect(record["status"] as? String == "lost")
        #expect(!FileManager.default.fileExists(atPath: folder))

        let recovered = try recordPoints(repo, "refs/exp/runs/" + id)
        func ordered(_ points: [Point]) -> [Point] {
            points.sorted { ($0.key, $0.step ?? -1) < ($1.key, $1.step ?? -1) }
        }
        #expect(ordered(recovered) == ordered(livePoints))
        #expect(Set(recovered.map(\.key)) == ["loss", "acc"])
        #expect(recovered.allSatisfy { $0.time != nil && $0.step != nil })
        // Each point keeps the time it was read, not the time the run was found dead.
        #expect(Set(recovered.compactMap(\.time)).count > 1)
    }
}
