import ExpTestSupport
import Foundation
import Testing

@testable import ExpCore

@Suite("Metrics-file lines with Python's bare NaN and Infinity")
struct NonFiniteMetricLineTests {
    /// What Python's `json.dumps` writes for `objects` (a Python expression), a line each.
    func pythonLines(_ objects: String) throws -> [UInt8] {
        let folder = TemporaryFolder()
        let result = try runProcess(
            ["python3", "-c", "import json\nfor o in \(objects): print(json.dumps(o))"], in: folder.path,
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.stderr)")
        return Array(result.stdout.utf8)
    }

    @Test func linesPythonWritesAreReadWithTheirValues() throws {
        let bytes = try pythonLines(
            #"[{"step": 1, "loss": float("nan"), "gain": float("inf"), "drop": float("-inf"), "acc": 0.5}, "#
                + #"{"epoch": float("nan"), "note": "NaN Infinity", "x": [float("nan")], "y": {"z": float("inf")}}]"#)
        #expect(String(decoding: bytes, as: UTF8.self).contains(": NaN"), "Python writes them bare")
        let (points, skipped) = MetricsFile.parse(bytes)
        #expect(skipped == 0)
        let byKey = Dictionary(points.map { ($0.key, $0) }) { first, _ in first }
        #expect(byKey["loss"]?.value.isNaN == true && byKey["loss"]?.step == 1)
        #expect(byKey["gain"]?.value == .infinity)
        #expect(byKey["drop"]?.value == -.infinity)
        #expect(byKey["acc"]?.value == 0.5)
        // Strings that say NaN are text, not numbers, and arrays and objects are not metrics.
        #expect(byKey["note"] == nil && byKey["x"] == nil && byKey["y"] == nil)
        #expect(points.count == 4)
    }

    @Test func onlyTheBareConstantsAreQuotedAndNothingElseIsLoosened() {
        func quoted(_ text: String) -> String? {
            NonFiniteJSON.quotingBareConstants(Data(text.utf8)).map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(
            quoted(#"{"a": NaN, "b": -Infinity, "c": Infinity, "d": +Infinity}"#)
                == #"{"a": "NaN", "b": "-Infinity", "c": "Infinity", "d": "Infinity"}"#)
        #expect(quoted(#"{"a": 1}"#) == nil, "nothing to retry")
        #expect(quoted(#"{"NaN": "Infinity \" NaN"}"#) == nil, "inside strings, escaped quotes included, untouched")
        #expect(quoted(#"{"a": NaNa}"#) == nil, "whole words only")
        // Lines that are not JSON apart from the constants are still skipped and counted.
        for line in ["{'loss': NaN}", "{\"loss\": NaN", "loss: NaN", "[NaN]", "{\"loss\": nan}"] {
            #expect(MetricsFile.parse(Array((line + "\n").utf8)).skippedLines == 1, "\(line)")
        }
    }

    @Test func metricsJSONLLinesWithBareConstantsAreReadBack() {
        let text = """
            {"key":"loss","source":"file","step":1,"value":NaN}
            {"key":"loss","source":"file","step":2,"value":-Infinity}
            {"source": "file", "key": "gain", "value": Infinity}
            {"key":"loss","source":"file","step":3,"value":"NaN"}

            """
        let points = MetricsFile.decode(Array(text.utf8))
        #expect(points.count == 4)
        #expect(points[0].value.isNaN && points[1].value == -.infinity && points[3].value.isNaN)
        #expect(points[2].key == "gain" && points[2].value == .infinity)
    }
}

@Suite("Credentials are masked before they are recorded")
struct CredentialMaskTests {
    @Test func urlPasswordsAreMaskedAndTheRestKept() {
        let cases = [
            "https://user:hunter2@example.com/repo.git": "https://user:***@example.com/repo.git",
            "postgres://ada:p%40ss@db:5432/x?sslmode=require": "postgres://ada:***@db:5432/x?sslmode=require",
            "redis://:secret@cache:6379": "redis://:***@cache:6379",
            "git+https://x-access-token:abc@github.com/o/r": "git+https://x-access-token:***@github.com/o/r",
            "see https://a:b@h.io and http://c:d@i.io/": "see https://a:***@h.io and http://c:***@i.io/",
            "https://user@example.com/": "https://user@example.com/",
            "https://example.com:8080/a@b": "https://example.com:8080/a@b",
            "mailto:ada@example.com": "mailto:ada@example.com",
        ]
        for (text, masked) in cases { #expect(CredentialMask.masking(text) == masked, "\(text)") }
    }

    @Test func tokensOfCommonServicesAreMaskedKeepingTheirPrefix() {
        let cases = [
            "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8": "ghp_***",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz": "github_pat_***",
            "glpat-xYz12AbC34dEf56GhI78j": "glpat-***",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp": "xoxb-***",
            "sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56": "sk-proj-***",
            "sk-ant-api03-Ab12Cd34Ef56Gh78Ij90Kl12": "sk-ant-***",
            "sk-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90Uv12Wx34": "sk-***",
            "AKIAIOSFODNN7EXAMPLE": "AKIA***",
            "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh": "hf_***",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U": "eyJ***",
            "Authorization: Bearer ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 ok":
                "Authorization: Bearer ghp_*** ok",
            "npm_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8": "npm_***",
            "AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q": "AIza***",
        ]
        for (text, masked) in cases { #expect(CredentialMask.masking(text) == masked, "\(text)") }
    }

    @Test func wordsThatOnlyLookAlikeStayAsTheyAre() {
        for text in [
            "sk-learn-baseline-experiment-2", "task-abcdefghijklmnopqrstuvwxyz", "ghp_short",
            "hf_lowercaseonlylettersandmore",
            "AKIA-not-a-key", "eyJ.short", "resnet50", "runs/2026-12-04/ckpt_Epoch10.pt", "desk-A1b2C3d4E5f6G7h8I9j0K1",
        ] {
            #expect(CredentialMask.masking(text) == text, "\(text)")
        }
    }

    @Test func commandLinesMaskValuesOfSecretOptionsAndTheTokensAnywhere() {
        let argv = [
            "python", "train.py", "--api-key", "abc", "--token=xyz", "--hf_token", "t", "--password", "--verbose",
            "db.password=pw", "+auth.secretKey=s", "--tokenizer", "gpt2", "--max-tokens", "512", "--key-frames", "3",
            "--url", "https://u:p@h.io", "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
        ]
        #expect(
            CredentialMask.masking(argv: argv) == [
                "python", "train.py", "--api-key", "***", "--token=***", "--hf_token", "***", "--password",
                "--verbose", "db.password=***", "+auth.secretKey=***", "--tokenizer", "gpt2", "--max-tokens", "512",
                "--key-frames", "3", "--url", "https://u:***@h.io", "ghp_***",
            ])
    }

    @Test func paramsMaskSecretKeysAndCredentialLookingValues() {
        let params: [String: ParamValue] = [
            "lr": .double(0.1), "api_key": .string("abc"), "hfToken": .int(12345), "dataset": .string("s3://bucket/x"),
            "remote": .string("https://u:p@h.io/x"), "tokenizer": .string("gpt2"),
        ]
        #expect(
            CredentialMask.masking(params: params) == [
                "lr": .double(0.1), "api_key": .string("***"), "hfToken": .string("***"),
                "dataset": .string("s3://bucket/x"), "remote": .string("https://u:***@h.io/x"),
                "tokenizer": .string("gpt2"),
            ])
    }

    @Test func recordedEnvironmentValuesAreMasked() {
        let environment = [
            "DATABASE_URL": "postgres://ada:hunter2@db/x", "CI_HELPER": "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
            "GITHUB_TOKEN": "whatever", "PLAIN": "value",
        ]
        #expect(
            MachineInfo.recordedEnvironment(environment, extraNames: ["*"]) == [
                "DATABASE_URL": "postgres://ada:***@db/x", "CI_HELPER": "ghp_***", "PLAIN": "value",
            ])
    }
}
