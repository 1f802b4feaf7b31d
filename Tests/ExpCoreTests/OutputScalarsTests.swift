import ExpCore
import Foundation
import Testing

/// One line of real-looking output and the (key, value, step) points it must yield.
struct ScalarCase: CustomTestStringConvertible, Sendable {
    var line: String
    var expected: [Expected]
    /// The step in force before the line.
    var stepBefore: Double? = nil

    struct Expected: Equatable, Sendable {
        var key: String
        var value: Double
        var step: Double?
    }

    var testDescription: String { line }
}

private func p(_ key: String, _ value: Double, _ step: Double? = nil) -> ScalarCase.Expected {
    ScalarCase.Expected(key: key, value: value, step: step)
}

@Suite("Metrics from output")
struct OutputScalarsTests {
    static let cases: [ScalarCase] = [
        // Plain prints.
        ScalarCase(line: "loss: 0.42", expected: [p("loss", 0.42)]),
        ScalarCase(line: "val_loss=0.123", expected: [p("val_loss", 0.123)]),
        ScalarCase(line: "epoch 3 | loss=0.52 acc: 0.91", expected: [p("loss", 0.52, 3), p("acc", 0.91, 3)]),
        ScalarCase(line: "epoch=3 loss=0.52 acc=0.91", expected: [p("loss", 0.52, 3), p("acc", 0.91, 3)]),
        ScalarCase(line: "step: 100, loss: 1e-3, lr: 5E-05", expected: [p("loss", 0.001, 100), p("lr", 5e-5, 100)]),
        ScalarCase(line: "Epoch 1: loss: 0.3", expected: [p("loss", 0.3, 1)]),
        ScalarCase(line: "Step 120 loss=2.5", expected: [p("loss", 2.5, 120)]),
        ScalarCase(line: "loss: nan", expected: [p("loss", .nan)]),
        ScalarCase(line: "grad_norm: inf loss: -inf", expected: [p("grad_norm", .infinity), p("loss", -.infinity)]),
        ScalarCase(line: "acc: 91.2%", expected: [p("acc", 91.2)]),
        ScalarCase(line: "val/loss: 0.25 train/acc=0.75", expected: [p("val/loss", 0.25), p("train/acc", 0.75)]),
        ScalarCase(
            line: "train_loss_step=0.693, train_loss_epoch=0.7",
            expected: [p("train_loss_step", 0.693), p("train_loss_epoch", 0.7)]),
        ScalarCase(line: "delta: -0.5", expected: [p("delta", -0.5)]),
        ScalarCase(line: "iter 7: loss=3", expected: [p("loss", 3, 7)]),
        ScalarCase(line: "iteration=7 loss=3", expected: [p("loss", 3, 7)]),
        ScalarCase(line: "global_step=250 reward=12.5", expected: [p("reward", 12.5, 250)]),
        ScalarCase(line: "loss: 0.4 (step 3)", expected: [p("loss", 0.4, 3)]),
        ScalarCase(line: "loss = 0.4", expected: [p("loss", 0.4)]),
        ScalarCase(line: "[train] loss: 0.1; acc: 0.99", expected: [p("loss", 0.1), p("acc", 0.99)]),
        ScalarCase(line: "(loss=0.1)", expected: [p("loss", 0.1)]),
        // Steps carry over to later lines.
        ScalarCase(line: "loss: 0.5", expected: [p("loss", 0.5, 4)], stepBefore: 4),
        // tqdm / Lightning progress bars.
        ScalarCase(
            line: "Epoch 0: 100%|██████████| 50/50 [00:01<00:00, 30.1it/s, v_num=0, train_loss=0.693]",
            expected: [p("train_loss", 0.693)]),
        ScalarCase(
            line: "Epoch 2:  40%|████      | 20/50 [00:00<00:01, 28.54it/s, loss=0.512, v_num=3]",
            expected: [p("loss", 0.512)]),
        ScalarCase(
            line: "Validation DataLoader 0: 100%|██████████| 10/10 [00:00<00:00, 80.00it/s]", expected: []),
        ScalarCase(line: " 45%|████▌     | 450/1000 [00:12<00:15, 36.50it/s]", expected: []),
        ScalarCase(
            line: "100%|██████████| 938/938 [00:10<00:00, 91.2it/s, loss=0.0312, acc=99.1]",
            expected: [p("loss", 0.0312), p("acc", 99.1)]),
        // Keras.
        ScalarCase(line: "Epoch 3/10", expected: []),
        ScalarCase(
            line:
                "469/469 [==============================] - 2s 4ms/step - loss: 0.2345 - accuracy: 0.9312 - val_loss: 0.1987 - val_accuracy: 0.9421",
            expected: [p("loss", 0.2345), p("accuracy", 0.9312), p("val_loss", 0.1987), p("val_accuracy", 0.9421)]),
        // Hugging Face Trainer dict lines.
        ScalarCase(
            line: "{'loss': 0.5, 'learning_rate': 5e-05, 'epoch': 0.1}",
            expected: [p("loss", 0.5, 0.1), p("learning_rate", 5e-05, 0.1)]),
        ScalarCase(
            line: "{'eval_loss': 0.41, 'eval_runtime': 3.2, 'epoch': 1.0}",
            expected: [p("eval_loss", 0.41, 1), p("eval_runtime", 3.2, 1)]),
        ScalarCase(line: "{\"loss\": 0.25, \"step\": 10}", expected: [p("loss", 0.25, 10)]),
        // Colours.
        ScalarCase(line: "\u{1B}[32mloss: 0.3\u{1B}[0m", expected: [p("loss", 0.3)]),
        // Lines that must yield nothing.
        ScalarCase(line: "12:30:01 starting training", expected: []),
        ScalarCase(line: "time: 12:30:01", expected: []),
        ScalarCase(line: "torch: 2.5.1", expected: []),
        ScalarCase(line: "python: 3.11.7 cuda: 12.1.0", expected: []),
        ScalarCase(line: "date: 2024-01-02", expected: []),
        ScalarCase(line: "host: 10.0.0.1", expected: []),
        ScalarCase(line: "Saving to /home/user/runs/loss=0.5/model.ckpt", expected: []),
        ScalarCase(line: "url: http://localhost:6006/", expected: []),
        ScalarCase(line: "GPU available: True (cuda), used: True", expected: []),
        ScalarCase(line: "model: resnet50 optimizer: adam", expected: []),
        ScalarCase(line: "took 5ms/step", expected: []),
        ScalarCase(line: "batch_size: 32x2", expected: []),
        ScalarCase(line: "Epoch 00012: reducing learning rate", expected: []),
        // `key value` on lines whose shape says they report metrics (issue 15).
        ScalarCase(line: "it 120 loss 2.3107 lr 0.0003", expected: [p("loss", 2.3107, 120), p("lr", 0.0003, 120)]),
        ScalarCase(
            line: "epoch 3: train loss 0.412, valid loss 0.455",
            expected: [p("train_loss", 0.412, 3), p("valid_loss", 0.455, 3)]),
        ScalarCase(line: "step 15: loss 0.5", expected: [p("loss", 0.5, 15)]),
        ScalarCase(line: "loss 0.25, acc 0.75", expected: [p("loss", 0.25), p("acc", 0.75)]),
        ScalarCase(line: "loss 0.25 | acc 0.75", expected: [p("loss", 0.25), p("acc", 0.75)]),
        ScalarCase(line: "Epoch [3/10] loss: 0.5", expected: [p("loss", 0.5, 3)]),
        ScalarCase(line: "Epoch 2 [1280/50000 (3%)]  loss: 0.31", expected: [p("loss", 0.31)]),
        ScalarCase(line: "[10]\ttrain's auc: 0.91", expected: [p("train_auc", 0.91, 10)]),
        ScalarCase(line: "7:\tlearn: 0.5\ttotal: 3.2s\tremaining: 1m 2s", expected: [p("learn", 0.5, 7)]),
        ScalarCase(line: "iteration 10/ 500 | lm loss: 1.08E+01 |", expected: [p("lm_loss", 10.8, 10)]),
        ScalarCase(line: "global step 40 reward 12.5", expected: [p("reward", 12.5, 40)]),
        // Running averages, units, percentages, scientific notation.
        ScalarCase(line: "Loss 0.6931 (0.7012)  Acc 0.5 (0.49)", expected: [p("loss", 0.6931), p("acc", 0.5)]),
        ScalarCase(line: "iter 3: time 31.5ms, acc 91.2%", expected: [p("time", 31.5, 3), p("acc", 91.2, 3)]),
        ScalarCase(line: "step 1 lr 3e-4 grad -1.5E+2", expected: [p("lr", 3e-4, 1), p("grad", -150, 1)]),
        ScalarCase(line: "elapsed time per iteration (ms): 12.5", expected: [p("elapsed_time_per_iteration_ms", 12.5)]),
        ScalarCase(line: "Test set: Average loss: 0.1", expected: [p("test_set_average_loss", 0.1)]),
        ScalarCase(line: "\u{1B}[1mstep 3:\u{1B}[0m loss 0.2", expected: [p("loss", 0.2, 3)]),
        // Counts, rates, ETAs, times, versions and sentences are not metrics.
        ScalarCase(line: "Downloading 100 files", expected: []),
        ScalarCase(line: "Training until validation scores don't improve for 5 rounds", expected: []),
        ScalarCase(line: "Processed 1280/50000 samples", expected: []),
        ScalarCase(line: "ETA: 0:01:23  eta 5s", expected: []),
        ScalarCase(line: "transformers version 4.41.2, torch 2.3.0", expected: []),
        ScalarCase(line: "started at 12:30:05, 2024-01-02", expected: []),
        ScalarCase(line: "best: 0.62 (40)\ttotal: 1.5s", expected: []),
        ScalarCase(line: "Validation DataLoader 0: 100%|##| 10/10 [00:00<00:00, 80.00it/s]", expected: []),
        ScalarCase(line: "Train: 3 [ 50/1251 (  4%)]", expected: []),
    ]

    @Test(arguments: cases)
    func lineYieldsItsPoints(_ testCase: ScalarCase) throws {
        var parser = try OutputScalarParser()
        if let step = testCase.stepBefore { _ = parser.parse("step=\(Int(step))") }
        let found = parser.parse(testCase.line).map { ScalarCase.Expected(key: $0.key, value: $0.value, step: $0.step) }
        #expect(found.count == testCase.expected.count, "\(found)")
        for (got, want) in zip(found, testCase.expected) {
            #expect(got.key == want.key)
            #expect(got.step == want.step)
            #expect(got.value == want.value || (got.value.isNaN && want.value.isNaN))
        }
    }

    @Test func tableHoldsAtLeastFortyLines() {
        #expect(Self.cases.count >= 40)
        #expect(Self.cases.filter { $0.expected.isEmpty }.count >= 10)
    }

    @Test func streamingCarriageReturnsAndSplitChunks() throws {
        var parser = try OutputScalarParser(clock: { 100 })
        let output =
            "Epoch 0: 10%|#| 1/10 [loss=0.9]\rEpoch 0: 100%|#| 10/10 [loss=0.5]\nEpoch 1: 100%|#| 10/10 [loss=0.25]\nfinal acc: 0.9"
        let bytes = Array(output.utf8)
        // Feed in awkward chunks, splitting inside keys and numbers.
        var start = 0
        for size in [3, 7, 1, 11, 5, 40, 2, 1000] where start < bytes.count {
            let end = min(bytes.count, start + size)
            bytes[start..<end].withUnsafeBytes { parser.consume($0) }
            start = end
        }
        let points = parser.finish()
        // Each report inside an epoch is a point (the epoch with a position is no step).
        #expect(points.map(\.key) == ["loss", "loss", "loss", "final_acc"])
        #expect(points.map(\.value) == [0.9, 0.5, 0.25, 0.9])
        #expect(points.map(\.step) == [nil, nil, nil, nil])
        #expect(points.allSatisfy { $0.source == .stdout && $0.time == 100 })
    }

    /// Output fed whole, then finished: every point.
    static func points(_ output: String) throws -> [MetricPoint] {
        var parser = try OutputScalarParser(clock: { 0 })
        Array(output.utf8).withUnsafeBytes { parser.consume($0) }
        return Array(parser.finish())
    }

    @Test func tablesUnderAHeaderRow() throws {
        let fastai = try Self.points(
            "epoch     train_loss  valid_loss  accuracy  time\n0         0.65        0.41        0.84      00:03\n"
                + "1         0.51        0.44        0.81      00:02\nsaving model\n2  3\n")
        #expect(fastai.map(\.key) == ["train_loss", "valid_loss", "accuracy", "train_loss", "valid_loss", "accuracy"])
        #expect(fastai.map(\.step) == [0, 0, 0, 1, 1, 1])
        #expect(fastai.map(\.value) == [0.65, 0.41, 0.84, 0.51, 0.44, 0.81])
        let markdown = try Self.points(
            "| step | loss | top1 acc |\n|---|---|---|\n| 10 | 0.5 | 71.5 |\n| 20 | 0.4 | 72 |\n")
        #expect(markdown.map(\.key) == ["loss", "top1_acc", "loss", "top1_acc"])
        #expect(markdown.map(\.step) == [10, 10, 20, 20])
    }

    @Test func stableBaselinesBlocksTakeTheirTimestepsAsStep() throws {
        let block = """
            -----------------------------
            | rollout/           |      |
            |    ep_rew_mean     | 22.1 |
            | time/              |      |
            |    fps             | 2490 |
            |    total_timesteps | 2048 |
            | train/             |      |
            |    entropy_loss    | -0.686 |
            |    policy          | MlpPolicy |
            -----------------------------
            """
        let points = try Self.points(block + "\n" + block.replacingOccurrences(of: "2048", with: "4096"))
        #expect(points.count == 8)
        #expect(
            points.prefix(4).map(\.key) == [
                "rollout/ep_rew_mean", "time/fps", "time/total_timesteps", "train/entropy_loss",
            ])
        #expect(points.map(\.step) == [2048, 2048, 2048, 2048, 4096, 4096, 4096, 4096])
        // A block cut short by the end of the output is still read.
        let cut = try Self.points("| rollout/ | |\n|    ep_rew_mean | 9.5 |")
        #expect(cut.map(\.key) == ["rollout/ep_rew_mean"] && cut.map(\.value) == [9.5])
    }

    @Test func longLinesAndManyPairsAreBounded() throws {
        let many = (0..<500).map { "k\($0)=\($0)" }.joined(separator: " ")
        #expect(try Self.points(many + "\n").count == 64)
        let long = String(repeating: "loss=1 ", count: 4000) + "\n"
        #expect(try Self.points(long).isEmpty)  // past the longest line kept
        let words = String(repeating: "word ", count: 20) + "loss: 0.5"
        #expect(try Self.points(words).map(\.key) == ["loss"])  // a sentence: its last word
    }

    @Test func extraPatternFromConfig() throws {
        var parser = try OutputScalarParser(extraPatterns: [#"(?<key>\w+) -> (?<value>[0-9.]+) @ (?<step>\d+)"#])
        let found = parser.parse("reward -> 12.5 @ 40")
        #expect(found.count == 1)
        #expect(found.first?.key == "reward")
        #expect(found.first?.value == 12.5)
        #expect(found.first?.step == 40)
        #expect(throws: ExpError.self) { try OutputScalarParser(extraPatterns: ["(unclosed"]) }
    }

    @Test func mergeKeepsThePreferredSource() {
        let file = [MetricPoint(key: "loss", step: 1, time: 1, value: 0.5, source: .file)]
        let stdout = [
            MetricPoint(key: "loss", step: 1, time: 1, value: 0.49, source: .stdout),
            MetricPoint(key: "loss", step: 2, time: 2, value: 0.4, source: .stdout),
        ]
        let merged = MetricPoint.merge([stdout, file])
        #expect(merged.map(\.value) == [0.4, 0.5] || merged.map(\.value) == [0.5, 0.4])
        #expect(merged.contains { $0.step == 1 && $0.source == .file })
        #expect(!merged.contains { $0.step == 1 && $0.source == .stdout })
    }
}
