import ExpCore
import Foundation
import Testing

/// A command line and the params exp should guess from it.
struct CommandLineCase: CustomTestStringConvertible, Sendable {
    var argv: [String]
    var expected: [String: ParamValue]
    var testDescription: String { argv.joined(separator: " ") }

    init(_ argv: [String], _ expected: [String: ParamValue]) {
        self.argv = argv
        self.expected = expected
    }
}

@Suite("Params")
struct ParamsTests {
    static let commandLines: [CommandLineCase] = [
        .init(["python", "train.py", "--lr", "0.01", "--epochs", "20"], ["lr": .double(0.01), "epochs": .int(20)]),
        .init(["python3", "train.py", "--lr=1e-3"], ["lr": .double(0.001)]),
        .init(["python", "train.py", "--use-amp"], ["use-amp": .bool(true)]),
        .init(["python", "train.py", "--amp", "--lr", "0.1"], ["amp": .bool(true), "lr": .double(0.1)]),
        .init(
            ["python", "train.py", "model=resnet", "trainer.max_epochs=10", "+exp=fast", "~logger"],
            ["model": .string("resnet"), "trainer.max_epochs": .int(10), "exp": .string("fast")]),
        .init(
            ["python", "train.py", "+trainer.devices=2", "++optim.lr=3e-4", "~callbacks.early_stop=x"],
            ["trainer.devices": .int(2), "optim.lr": .double(0.0003)]),
        .init(
            ["python", "-u", "-m", "pkg.train", "--batch-size", "32"], ["batch-size": .int(32)]),
        .init(
            ["python3", "-X", "dev", "-W", "ignore", "-O", "train.py", "--seed", "7"], ["seed": .int(7)]),
        .init(["python", "-mpkg.train", "fit", "--max-steps", "100"], ["max-steps": .int(100)]),
        .init(
            ["python", "-c", "import sys; print(sys.argv)", "--flag"], ["flag": .bool(true)]),
        .init(
            ["python", "train.py", "--lr", "-0.5", "--offset", "-3", "--eps=-1e-8"],
            ["lr": .double(-0.5), "offset": .int(-3), "eps": .double(-1e-8)]),
        .init(
            ["python", "train.py", "--lr", "0.1", "--", "--epochs", "5", "x=1"], ["lr": .double(0.1)]),
        .init(["python", "train.py", "--name", "my run"], ["name": .string("my run")]),
        .init(
            ["torchrun", "--nproc_per_node", "4", "train.py", "--lr", "0.1"],
            ["nproc_per_node": .int(4), "lr": .double(0.1)]),
        .init(["python", "train.py", "-k", "v", "-b", "32", "--lr", "0.1"], ["lr": .double(0.1)]),
        .init(["python", "train.py", "--lr", "0.1", "--lr", "0.2"], ["lr": .double(0.2)]),
        .init(["python", "train.py", "lr=0.1", "--lr=0.3"], ["lr": .double(0.3)]),
        .init(
            ["python", "train.py", "--no-augment", "--verbose"], ["no-augment": .bool(true), "verbose": .bool(true)]),
        .init(
            ["python", "train.py", "--optimizer", "adam", "--pretrained", "True", "--dropout", ".5"],
            ["optimizer": .string("adam"), "pretrained": .bool(true), "dropout": .double(0.5)]),
        .init(
            ["python", "train.py", "--multirun", "lr=0.1,0.01", "model=vit"],
            ["multirun": .bool(true), "lr": .string("0.1,0.01"), "model": .string("vit")]),
        .init(["python", "main.py", "fit", "--config", "configs/base.yaml"], ["config": .string("configs/base.yaml")]),
        .init(
            ["./train.sh", "--gpus", "0,1", "--dry-run"], ["gpus": .string("0,1"), "dry-run": .bool(true)]),
        .init(["/usr/bin/python3.11", "scripts/train.py", "--steps=1000"], ["steps": .int(1000)]),
        .init(
            ["accelerate", "launch", "--num_processes=2", "train.py", "--lr", "1e-4"],
            ["num_processes": .int(2), "lr": .double(1e-4)]),
        .init(["python", "train.py", "--input", "-", "--out", "-o"], ["input": .string("-"), "out": .bool(true)]),
        .init(["python", "train.py", "--lr=", "--tag=a=b"], ["lr": .string(""), "tag": .string("a=b")]),
        .init(["python", "train.py", "--", "--lr", "0.1"], [:]),
        .init(["python"], [:]),
        .init(["python", "-u"], [:]),
        .init([], [:]),
        .init(["make", "train", "EPOCHS=3", "V=1"], ["EPOCHS": .int(3), "V": .int(1)]),
        .init(
            ["python", "train.py", "--url", "http://host/x?a=b", "http://y?c=d", "data/x=1"],
            ["url": .string("http://host/x?a=b"), "data/x": .int(1)]),
        .init(
            ["python", "train.py", "+db@backup=mysql", "model/encoder=vit"],
            ["db@backup": .string("mysql"), "model/encoder": .string("vit")]),
        .init(["sh", "-c", "python train.py --lr 0.1"], [:]),
        .init(["python", "train.py", "--seed", "12345678901234567890"], ["seed": .string("12345678901234567890")]),
        .init(["python", "train.py", "--", "x"], [:]),
        .init(["python", "train.py", "---weird", "1", "--=3"], [:]),
    ]

    @Test(arguments: commandLines)
    func guessesParamsFromCommandLines(_ example: CommandLineCase) {
        #expect(Params.fromCommandLine(example.argv) == example.expected)
    }

    @Test(arguments: [
        ("32", ParamValue.int(32)),
        ("-3", .int(-3)),
        ("+3", .int(3)),
        ("0", .int(0)),
        ("0.01", .double(0.01)),
        ("1e-3", .double(0.001)),
        ("1E3", .double(1000)),
        ("-0.5", .double(-0.5)),
        (".5", .double(0.5)),
        ("5.", .double(5)),
        ("true", .bool(true)),
        ("True", .bool(true)),
        ("false", .bool(false)),
        ("False", .bool(false)),
        ("TRUE", .string("TRUE")),
        ("yes", .string("yes")),
        ("inf", .string("inf")),
        ("-inf", .string("-inf")),
        ("nan", .string("nan")),
        ("infinity", .string("infinity")),
        ("0x10", .string("0x10")),
        ("1e999", .string("1e999")),
        ("9223372036854775807", .int(Int64.max)),
        ("9223372036854775808", .string("9223372036854775808")),
        ("1.2.3", .string("1.2.3")),
        ("1e", .string("1e")),
        (".", .string(".")),
        ("-", .string("-")),
        ("", .string("")),
        (" 1", .string(" 1")),
        ("adam", .string("adam")),
        ("1_000", .string("1_000")),
    ])
    func typesWords(_ text: String, _ expected: ParamValue) {
        #expect(Params.typed(text) == expected)
    }

    @Test(arguments: [
        ("lr=0.01", "lr", ParamValue.double(0.01)),
        ("batch-size=32", "batch-size", .int(32)),
        ("opt=adam", "opt", .string("adam")),
        ("note=a=b", "note", .string("a=b")),
        ("empty=", "empty", .string("")),
        (" lr =1", "lr", .int(1)),
        ("trainer.devices=2", "trainer.devices", .int(2)),
        ("amp=True", "amp", .bool(true)),
    ])
    func parsesAssignments(_ text: String, _ key: String, _ value: ParamValue) throws {
        let parsed = try Params.parseAssignment(text)
        #expect(parsed.key == key)
        #expect(parsed.value == value)
    }

    @Test(arguments: ["lr", "", "=1", " =1", "a b=1", "noequals0.1"])
    func rejectsMalformedAssignments(_ text: String) {
        #expect(throws: ExpError(.usage, "bad param '\(text)': expected key=value", hint: "e.g. lr=0.01")) {
            try Params.parseAssignment(text)
        }
    }

    @Test func encodesAsPlainJSONScalars() throws {
        let params: [String: ParamValue] = [
            "a": .int(1), "b": .double(0.01), "c": .bool(true), "d": .string("adam"), "e": .string("1"),
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(params), as: UTF8.self)
        #expect(json == #"{"a":1,"b":0.01,"c":true,"d":"adam","e":"1"}"#)
        #expect(try JSONDecoder().decode([String: ParamValue].self, from: Data(json.utf8)) == params)
    }

    @Test func integralDoublesReadBackAsInts() throws {
        let data = try JSONEncoder().encode([ParamValue.double(2.0)])
        #expect(try JSONDecoder().decode([ParamValue].self, from: data) == [.int(2)])
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ParamValue.self, from: Data("null".utf8)) }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ParamValue.self, from: Data("[1]".utf8)) }
    }

    @Test func describesValuesAsTyped() {
        #expect(ParamValue.int(-3).description == "-3")
        #expect(ParamValue.double(0.01).description == "0.01")
        #expect(ParamValue.bool(false).description == "false")
        #expect(ParamValue.string("my run").description == "my run")
    }
}
