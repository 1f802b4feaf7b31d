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
