import ExpTestSupport
import Foundation
import Testing

/// The training-log corpus of ExpCoreTests, end to end: a log printed by `exp run -- cat`.
private let corpus =
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("ExpCoreTests/Fixtures/logs")

@Suite("Metrics from real training logs, through exp run", .serialized)
struct OutputCorpusRunTests {
    /// `exp show RUN --json`'s metrics summary of a run that printed the corpus log `name`.
    static func summary(of name: String) throws -> [String: [String: Any]] {
        let repo = try TestRepo()
        try repo.write("f", "x\n")
        try repo.commitAll()
        let log = try #require(FileManager.default.contents(atPath: corpus.appendingPathComponent("\(name).txt").path))
        try repo.write("log.txt", log)
        let run = try repo.exp(["run", "--", "cat", "log.txt"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stdout.utf8.elementsEqual(log))  // the output itself is passed on unchanged
        let show = try repo.exp(["show", "latest", "--json"])
        let record = try #require(try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any])
        return try #require(record["metrics"] as? [String: [String: Any]])
    }

    @Test("nanoGPT's `step N: train loss …` and `iter N: loss …, time …ms, mfu …%` lines")
    func nanoGPT() throws {
        let metrics = try Self.summary(of: "nanogpt")
        #expect(Set(metrics.keys) == ["train_loss", "val_loss", "loss", "time", "mfu"])
        #expect(metrics["loss"]?["count"] as? Int == 3)
        #expect(metrics["loss"]?["last"] as? Double == 7.6543)
        #expect(metrics["loss"]?["last_step"] as? Double == 20)
        #expect(metrics["mfu"]?["min"] as? Double == -100)
        #expect(metrics["time"]?["last"] as? Double == 398.02)
    }

    @Test("Stable-Baselines3's `| key | value |` blocks, stepped by total_timesteps")
    func stableBaselines3() throws {
        let metrics = try Self.summary(of: "stable-baselines3")
        #expect(metrics["rollout/ep_rew_mean"]?["last"] as? Double == 28.8)
        #expect(metrics["rollout/ep_rew_mean"]?["last_step"] as? Double == 4096)
        #expect(metrics["time/fps"]?["count"] as? Int == 2)
        #expect(metrics["rollout"] == nil && metrics["time"] == nil)
    }
}
