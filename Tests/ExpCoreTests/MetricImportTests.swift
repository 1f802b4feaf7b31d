import ExpCore
import ExpTestSupport
import Foundation
import Testing

/// The folder of the committed fixture files (made by the `make_fixtures.py` beside them).
private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures"

private func values(_ points: [MetricPoint], _ key: String) -> [Double] {
    points.filter { $0.key == key }.map(\.value)
}

private func copy(_ from: String, to: String) throws {
    let data = try #require(FileManager.default.contents(atPath: from))
    try data.write(to: URL(fileURLWithPath: to))
}

@Suite("Lightning metrics.csv")
struct LightningCSVTests {
    @Test("the final file: union of columns, sparse rows, step from the step column")
    func finalFile() throws {
        let points = CSVMetricsReader.read(path: fixtures + "/lightning/lightning_logs/version_0/metrics.csv")
        #expect(points.allSatisfy { $0.source == .csv })
        let loss = points.filter { $0.key == "train_loss_step" }
        #expect(loss.map(\.step) == [49, 99, 149, 199, 249, 299])
        #expect(abs(loss[0].value - 0.5478931767693077) < 1e-15)
        #expect(values(points, "val/loss") == [0.65, 0.55])
        #expect(points.filter { $0.key == "val/acc" }.map(\.step) == [149, 299])
        #expect(values(points, "train_loss_epoch") == [0.66, 0.56])
        #expect(values(points, "lr-Adam").count == 6)
        // `epoch` is kept as logged; `step` is not a metric.
        // `epoch` is kept once per step (rows of one step each repeat it).
        #expect(values(points, "epoch") == [0, 0, 0, 1, 1, 1])
        #expect(!points.contains { $0.key == "step" })
        #expect(values(points, "test_loss").count == 1 && values(points, "test_loss")[0].isNaN)
        #expect(values(points, "grad_norm") == [.infinity])
        #expect(points.count == 6 * 3 + 3 * 2 + 2)
    }

    @Test("a file read while Lightning appends and rewrites it ends as one read of the final file")
    func incremental() throws {
        let folder = TemporaryFolder()
        let path = folder.path + "/metrics.csv"
        var reader = CSVMetricsReader(path: path)
        let missing = reader.update()
        #expect(missing == false)  // not there yet
        try copy(fixtures + "/lightning/metrics-1.csv", to: path)
        let first = reader.update()
        #expect(first)
        #expect(values(reader.points, "train_loss_step").count == 2)
        let again = reader.update()
        #expect(again == false)  // nothing new

        // A row half written: read up to the last newline only.
        let second = try #require(FileManager.default.contents(atPath: fixtures + "/lightning/metrics-2.csv"))
        let third = try #require(FileManager.default.contents(atPath: fixtures + "/lightning/metrics-3.csv"))
        // metrics-2 is a rewrite with a new header (same size or more, different first line).
        try second.write(to: URL(fileURLWithPath: path))
        let rewritten = reader.update()
        #expect(rewritten)
        #expect(values(reader.points, "val/loss") == [0.65])
        #expect(values(reader.points, "train_loss_step").count == 4)
        // metrics-3 appends to metrics-2; feed it in two halves, the cut inside a row.
        let cut = second.count + (third.count - second.count) / 2
        try third.prefix(cut).write(to: URL(fileURLWithPath: path))
        reader.update()
        #expect(values(reader.points, "train_loss_step").count == 5)
        try third.write(to: URL(fileURLWithPath: path))
        reader.update()
        #expect(values(reader.points, "train_loss_step").count == 6)
        // Lightning's rewrite truncates the file first: a reader may see it empty.
        try Data().write(to: URL(fileURLWithPath: path))
        reader.update()
        #expect(reader.points.isEmpty)
        try copy(fixtures + "/lightning/metrics-4.csv", to: path)
        reader.update()
        #expect(reader.points == CSVMetricsReader.read(path: fixtures + "/lightning/metrics-4.csv"))
        #expect(values(reader.points, "grad_norm") == [.infinity])
    }

    @Test("a file without a step column takes the step from epoch; text and quoted cells")
    func epochAndText() throws {
        let folder = TemporaryFolder()
        let path = folder.path + "/metrics.csv"
        try Data("epoch,\"a,b\",note,loss\n0,1.5,hello,0.5\n1,,\"x\",0.25\n2".utf8).write(
            to: URL(fileURLWithPath: path))
        let points = CSVMetricsReader.read(path: path)
        #expect(points.map(\.key) == ["a,b", "loss", "loss"])
        #expect(points.map(\.step) == [0, 0, 1])
    }

    @Test("hparams.yaml next to metrics.csv flattens to dotted keys")
    func hparams() throws {
        let params = try ParamsFile.load(path: fixtures + "/lightning/lightning_logs/version_0/hparams.yaml")
        #expect(
            params == [
                "batch_size": .int(32), "data.name": .string("mnist"), "data.num_workers": .int(4),
                "lr": .double(0.001), "model.hidden": .string("[64, 128]"), "model.dropout": .double(0.1),
                "model.use_bn": .bool(true), "optimizer": .string("adam"),
            ])
    }
}

@Suite("TensorBoard event files")
struct TensorBoardTests {
    static let base = fixtures + "/tensorboard/events.out.tfevents.1700000000.fixture"

    @Test("scalars from simple_value and from float and double scalar tensors, with step and wall time")
    func scalars() throws {
        let (points, warnings) = TensorBoardEventReader.read(path: Self.base + ".scalars")
        #expect(warnings.isEmpty)
        #expect(points.allSatisfy { $0.source == .tensorboard })
        let loss = points.filter { $0.key == "train/loss" }
        #expect(loss.map(\.step) == [0, 1, 2, 3, 4, 40])
        #expect(loss.prefix(5).map(\.value) == [1, 0.5, Double(Float(1.0 / 3)), 0.25, 0.2].map { Double(Float($0)) })
        #expect(loss.last?.value.isNaN == true)
        #expect(
            loss.map(\.time) == [
                1_700_000_000, 1_700_000_001, 1_700_000_002, 1_700_000_003, 1_700_000_004,
                1_700_000_040,
            ])
        let accuracy = points.filter { $0.key == "val/acc" }
        #expect(accuracy.map(\.step) == [0, 10, 20])
        #expect(accuracy.map(\.value) == [0.5, 0.6, 0.7].map { Double(Float($0)) })
        #expect(points.filter { $0.key == "lr" }.map(\.value) == [0.125, 0.0625])
        #expect(values(points, "grad_norm") == [.infinity])
        // A vector, a string tensor and a histogram are no scalars.
        #expect(Set(points.map(\.key)) == ["train/loss", "val/acc", "lr", "grad_norm"])
    }

    @Test("a torn last record is waited for, then read when complete")
    func torn() throws {
        let folder = TemporaryFolder()
        let path = folder.path + "/events.out.tfevents.1.host"
        let whole = try #require(FileManager.default.contents(atPath: Self.base + ".scalars"))
        try copy(Self.base + ".torn", to: path)
        var reader = TensorBoardEventReader(path: path)
        reader.update()
        #expect(reader.warnings.isEmpty)
        #expect(!reader.points.contains { $0.key == "grad_norm" })
        let before = reader.points.count
        // The writer finishes the record, one byte at a time at first.
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: whole[whole.count - 7..<whole.count - 6])
        let oneByte = reader.update()
        #expect(oneByte == false)
        try handle.write(contentsOf: whole[(whole.count - 6)...])
        try handle.close()
        let completed = reader.update()
        #expect(completed)
        #expect(reader.points.count == before + 2)
        #expect(reader.points == TensorBoardEventReader.read(path: Self.base + ".scalars").points)
        #expect(reader.warnings.isEmpty)
    }

    @Test("bad CRCs skip their record with a warning, and reading goes on")
    func badCRC() throws {
        let (points, warnings) = TensorBoardEventReader.read(path: Self.base + ".badcrc")
        let good = TensorBoardEventReader.read(path: Self.base + ".scalars").points
        #expect(warnings.count == 2)
        #expect(warnings.contains { $0.contains("bad data CRC") })
        #expect(warnings.contains { $0.contains("bad record length CRC") })
        // Records 3 and 6 (train/loss at steps 1 and 4) are gone; everything else is there.
        #expect(points.filter { $0.key == "train/loss" }.map(\.step) == [0, 2, 3, 40])
        #expect(points.count == good.count - 2)
    }

    @Test("garbage never crashes the reader")
    func garbage() throws {
        let folder = TemporaryFolder()
        let path = folder.path + "/events.out.tfevents.x"
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: 4096)
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        let whole = try #require(FileManager.default.contents(atPath: Self.base + ".scalars"))
        try Data(bytes + Array(whole)).write(to: URL(fileURLWithPath: path))
        let (points, warnings) = TensorBoardEventReader.read(path: path)
        #expect(!warnings.isEmpty)
        #expect(points == TensorBoardEventReader.read(path: Self.base + ".scalars").points)
    }
}

@Suite("Params files")
struct ParamsFileTests {
    @Test("YAML, JSON and TOML flatten to the same dotted keys")
    func formats() throws {
        let folder = TemporaryFolder()
        let yaml = """
            lr: 0.01
            epochs: 10
            name: "run 1"
            amp: false
            model:
              layers: [1, 2]
              head: {dim: 64}
            """
        let json =
            #"{"lr": 0.01, "epochs": 10, "name": "run 1", "amp": false, "model": {"layers": [1, 2], "head": {"dim": 64}}}"#
        let toml = """
            # comment
            lr = 0.01  # inline comment
            epochs = 10
            name = "run 1"
            amp = false

            [model]
            layers = [
              1, 2,
            ]
            head.dim = 64
            """
        let expected: [String: ParamValue] = [
            "lr": .double(0.01), "epochs": .int(10), "name": .string("run 1"), "amp": .bool(false),
            "model.head.dim": .int(64),
        ]
        for (name, text) in [("p.yaml", yaml), ("p.json", json), ("p.toml", toml)] {
            try Data(text.utf8).write(to: URL(fileURLWithPath: folder.path + "/" + name))
            var params = try ParamsFile.load(path: folder.path + "/" + name)
            let layers = params.removeValue(forKey: "model.layers")
            #expect(params == expected, "\(name)")
            #expect(layers?.description.filter { !$0.isWhitespace && $0 != "," } == "[12]", "\(name)")
        }
    }

    @Test("TOML details: quoted and dotted keys, literal strings, numbers, dates, arrays of tables")
    func tomlDetails() throws {
        let params = try ParamsFile.flatten(
            toml: """
                title = 'C:\\path'
                "quoted key" = "a \\"b\\""
                big = 1_000_000
                mask = 0xff
                tiny = -1e-5
                day = 1979-05-27
                [server."eu west"]
                port = 8080
                [[products]]
                name = "skipped"
                [after]
                x = inf
                """)
        #expect(params["title"] == .string("C:\\path"))
        #expect(params["quoted key"] == .string("a \"b\""))
        #expect(params["big"] == .int(1_000_000))
        #expect(params["mask"] == .int(255))
        #expect(params["tiny"] == .double(-1e-5))
        #expect(params["day"] == .string("1979-05-27"))
        #expect(params["server.eu west.port"] == .int(8080))
        #expect(params["products.name"] == nil)
        #expect(params["after.x"] == .double(.infinity))
    }

    @Test("bad files are errors that name the file and the line")
    func errors() throws {
        let folder = TemporaryFolder()
        let path = folder.path + "/bad.toml"
        try Data("lr = 0.1\nthis is not toml\n".utf8).write(to: URL(fileURLWithPath: path))
        #expect(throws: ExpError.self) { try ParamsFile.load(path: path) }
        do {
            _ = try ParamsFile.load(path: path)
        } catch let error as ExpError {
            #expect(error.message.contains("bad.toml") && error.message.contains("line 2"))
        }
        #expect(throws: ExpError.self) { try ParamsFile.load(path: folder.path + "/missing.yaml") }
        #expect(throws: ExpError.self) { try ParamsFile.load(path: folder.path + "/params.ini") }
    }

    @Test("Hydra's overrides.yaml reads like the command line")
    func hydraOverrides() throws {
        let params = try ParamsFile.hydraOverrides("- lr=0.1\n- +trainer.devices=2\n- ~dropout\n- model=resnet\n")
        #expect(params == ["lr": .double(0.1), "trainer.devices": .int(2), "model": .string("resnet")])
    }
}

@Suite("Metric points")
struct MetricPointTests {
    @Test("NaN and infinities survive metrics.jsonl and the summary")
    func nanRoundTrip() throws {
        let points = [
            MetricPoint(key: "loss", step: 1, time: 10, value: 0.5, source: .csv),
            MetricPoint(key: "loss", step: 2, time: nil, value: .nan, source: .tensorboard),
            MetricPoint(key: "grad", step: nil, time: nil, value: .infinity, source: .stdout),
            MetricPoint(key: "grad", step: 3, time: nil, value: -.infinity, source: .file),
        ]
        let bytes = try MetricsFile.encode(points)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"value\":\"NaN\"") && text.contains("\"value\":\"Infinity\""))
        #expect(text.contains("\"value\":\"-Infinity\""))
        #expect(MetricsFile.decode(bytes) == points)
        let summary = MetricSummary.summarize(MetricsFile.decode(bytes))
        #expect(summary["loss"]?.last.isNaN == true)
        #expect(summary["loss"]?.min == 0.5 && summary["loss"]?.max == 0.5)
        #expect(summary["grad"]?.min == -.infinity && summary["grad"]?.max == .infinity)
        let json = try RunJSON.encoder().encode(summary)
        #expect(try RunJSON.decoder().decode([String: MetricSummary].self, from: json) == summary)
    }

    @Test("merge keeps one point per key and step, preferring file, tensorboard, csv, stdout")
    func mergeOrder() {
        func point(_ source: MetricSource, _ step: Double?, _ value: Double) -> MetricPoint {
            MetricPoint(key: "m", step: step, time: nil, value: value, source: source)
        }
        let merged = MetricPoint.merge([
            [point(.stdout, 1, 4), point(.stdout, 2, 4), point(.stdout, 3, 4), point(.stdout, 4, 4)],
            [point(.csv, 1, 3), point(.csv, 2, 3), point(.csv, 3, 3)],
            [point(.tensorboard, 1, 2), point(.tensorboard, 2, 2)],
            [point(.file, 1, 1), point(.file, nil, 1)],
            [point(.stdout, nil, 4)],
        ])
        // Points without a step share the (key, no step) slot too.
        #expect(merged.map(\.value) == [1, 1, 2, 3, 4])
        #expect(merged.map(\.source) == [.file, .file, .tensorboard, .csv, .stdout])
        #expect(merged.map(\.step) == [nil, 1, 2, 3, 4])
    }
}

@Suite("Finding metric files")
struct MetricFileFinderTests {
    @Test(
        "files written during the run are found in log folders and new folders; old files and skipped folders are not")
    func finds() throws {
        let folder = TemporaryFolder()
        let root = folder.path
        let fm = FileManager.default
        func write(_ path: String) throws {
            try fm.createDirectory(
                atPath: (root + "/" + path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data("x".utf8).write(to: URL(fileURLWithPath: root + "/" + path))
        }
        try write("lightning_logs/version_0/metrics.csv")
        try write("data/train/metrics.csv")
        try fm.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3600)],
            ofItemAtPath: root + "/lightning_logs/version_0/metrics.csv")
        try fm.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: root + "/data/train")
        try fm.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: root + "/data")
        try fm.setAttributes(
            [.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: root + "/data/train/metrics.csv")
        let since = Date().timeIntervalSince1970 - 1
        let watcher = MetricsWatcher(
            roots: [root], repositoryRoot: root, since: since, liveDirectory: root + "/live", metricsFile: root + "/m",
            publish: { _ in })
        try write("lightning_logs/version_1/metrics.csv")
        try write("lightning_logs/version_1/hparams.yaml")
        try write("results/exp1/tb/events.out.tfevents.1.host")
        try write("node_modules/x/metrics.csv")
        try write(".hidden/metrics.csv")
        try write("outputs/2026/.hydra/config.yaml")
        try write("outputs/2026/.hydra/hydra.yaml")
        try write("notes/metrics.txt")
        let found = watcher.filesFound().map { String($0.dropFirst(root.count + 1)) }
        #expect(
            found == [
                "lightning_logs/version_1/hparams.yaml", "lightning_logs/version_1/metrics.csv",
                "outputs/2026/.hydra/config.yaml", "results/exp1/tb/events.out.tfevents.1.host",
            ])
    }
}

@Suite("metrics.jsonl encoding")
struct MetricsEncodingTests {
    @Test("the hand encoder writes what JSONEncoder writes, byte for byte")
    func sameAsJSONEncoder() throws {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [
            0, -0.0, 1, -1, 0.1, 0.42, 1e-5, 5e-05, 1e20, 1e300, 123456789012, 2.5e-300, .pi,
            Double(Float(0.1)), .nan, .infinity, -.infinity, 1_700_000_000.123456, 0x1p53, 0x1p53 - 1, -0x1p53 + 1,
            1e15, 1e16, -1e15, 9_007_199_254_740_000, 1e17, 123.0, -7.0,
            // At most three decimals: exp's times to the millisecond, and the edges of that path.
            0.001, -0.001, 0.5, -0.25, 0.01, 0.099, 1.1, 1_795_937_620.466, 1_795_937_620.4, 1_795_937_620.06,
            0x1p43 - 0.5, 0x1p43 + 0.5, -0x1p43 + 0.125, 8_796_093_022_207.999, 0.0005, 0.0015, 1e-3 / 3,
        ]
        for _ in 0..<2000 {
            values.append(Double(Int64.random(in: -10_000_000_000_000...10_000_000_000_000, using: &generator)) / 1000)
            values.append(1_795_937_620 + Double(Int.random(in: 0..<1_000_000, using: &generator)) / 1000)
            values.append(
                Double(Int.random(in: -99_999...99_999, using: &generator)) / [10, 100, 1000][values.count % 3])
        }
        for _ in 0..<500 {
            values.append(Double.random(in: -1e6...1e6, using: &generator))
            values.append(Double(Int.random(in: -1_000_000...1_000_000, using: &generator)))
            values.append(Double(bitPattern: UInt64.random(in: 0...UInt64.max, using: &generator)))
        }
        let keys = ["loss", "val/acc", "a \"quoted\" key", "back\\slash", "tab\there", "\u{1}ctl", "ünï", "lr-AdamW"]
        var points: [MetricPoint] = []
        for (index, value) in values.enumerated() {
            let source: MetricSource = [.file, .stdout, .csv, .tensorboard][index % 4]
            points.append(
                MetricPoint(
                    key: keys[index % keys.count], step: index % 3 == 0 ? nil : Double(index % 7 == 0 ? -index : index),
                    time: index % 5 == 0 || values[(index + 1) % values.count].isNaN
                        ? nil : values[(index + 1) % values.count],
                    value: value, source: source))
        }
        let encoder = RunJSON.encoder(pretty: false)
        var expected: [UInt8] = []
        for point in points { expected += try encoder.encode(point) + Data("\n".utf8) }
        let fast = try MetricsFile.encode(points)
        #expect(String(decoding: fast, as: UTF8.self) == String(decoding: expected, as: UTF8.self))
        let decoded = MetricsFile.decode(fast)
        #expect(decoded.count == points.count)
        #expect(zip(decoded, points).allSatisfy { $0 == $1 })
        // Lines in another form than exp writes still read (through JSONDecoder); others are left out.
        let other = Array(
            #"""
            {"value": 2, "source": "file", "key": "hand", "step": 1}
            {"key":"x","source":"stdout","value":1e-3}\#r
            {"key":"x","source":"nowhere","value":1}
            {"key":"x","source":"stdout","value":1,"extra":true}
            not json
            {"key":"y","source":"csv","step":-2,"value":"-Infinity"}
            """#.utf8)
        let read = MetricsFile.decode(other)
        #expect(read.map(\.key) == ["hand", "x", "x", "y"])
        #expect(read.map(\.value) == [2, 0.001, 1, -.infinity])
        #expect(read.first?.step == 1 && read.last?.step == -2 && read.last?.source == .csv)
        let folder = TemporaryFolder()
        try MetricsFile.write(points, toFile: folder.path + "/m.jsonl")
        #expect(FileManager.default.contents(atPath: folder.path + "/m.jsonl") == Data(expected))
    }
}
