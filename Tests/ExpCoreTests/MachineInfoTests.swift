import ExpTestSupport
import Foundation
import Testing

@testable import ExpCore

@Suite("Machine info")
struct MachineInfoTests {
    let environment = ProcessInfo.processInfo.environment

    /// Fixed facts for `collect`, so no assertion depends on the machine the tests run on.
    static let fixedSystem = MachineInfo.SystemFacts(
        osRelease: "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
        kernelName: "Linux", release: "6.1.0-18-amd64", machine: "x86_64", cpus: 8, memoryBytes: 16 << 30)

    /// A folder of fake commands (`nvidia-smi`, `python3`), first on the returned PATH.
    static func fakeCommands(_ scripts: [String: String], in folder: TemporaryFolder) throws -> String {
        for (name, body) in scripts {
            let path = folder.path + "/" + name
            try ("#!/bin/sh\n" + body).write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        }
        return folder.path + ":/usr/bin:/bin"
    }

    @Test func recordsTheGivenFactsHostAndUser() throws {
        let folder = TemporaryFolder()
        let path = try Self.fakeCommands(
            [
                "nvidia-smi": "echo 'NVIDIA H100 80GB HBM3, 81559, 550.54.15'\n",
                "python3": "echo 3.11.7\n",
            ], in: folder)
        let info = MachineInfo.collect(
            argv: ["python3", "x.py"], environment: ["PATH": path, "CUDA_VISIBLE_DEVICES": "1,3", "USER": "real"],
            host: "h", user: "u", system: Self.fixedSystem)
        #expect(
            info
                == MachineInfo(
                    os: "Debian GNU/Linux 12 (bookworm)", kernel: "6.1.0-18-amd64", architecture: "x86_64", cpus: 8,
                    memoryBytes: 16 << 30, hostname: "h", user: "u", python: "3.11.7",
                    gpus: [.init(name: "NVIDIA H100 80GB HBM3", memoryMiB: 81559, driver: "550.54.15")],
                    cudaVisibleDevices: "1,3"))
    }

    @Test func withoutOSReleaseTheKernelNameStandsForTheOS() throws {
        var system = Self.fixedSystem
        system.osRelease = nil
        let folder = TemporaryFolder()
        let path = try Self.fakeCommands([:], in: folder)
        let info = MachineInfo.collect(argv: ["sh"], environment: ["PATH": path], host: "h", user: "u", system: system)
        #expect(info.os == "Linux")
        #expect(info.gpus == [])
        #expect(info.cudaVisibleDevices == nil)
    }

    @Test func readsThisMachinesFacts() {
        // Only what holds on every machine: the values themselves are the machine's.
        let system = MachineInfo.SystemFacts.current()
        #expect(system.cpus >= 1)
        #expect(system.memoryBytes > 0)
        #expect(!system.release.isEmpty && !system.machine.isEmpty && !system.kernelName.isEmpty)
    }

    @Test func noPythonForOtherCommands() {
        let info = MachineInfo.collect(
            argv: ["sh"], environment: environment, host: "h", user: "u", system: Self.fixedSystem)
        #expect(info.python == nil)
        #expect(
            MachineInfo.collect(argv: [], environment: environment, host: "h", user: "u", system: Self.fixedSystem)
                .python == nil)
    }

    @Test func theUserComesFromUSERThenLOGNAMEThenTheAccount() {
        #expect(LocalMachine.userName(environment: ["USER": "ada", "LOGNAME": "grace"]) == "ada")
        #expect(LocalMachine.userName(environment: ["USER": "", "LOGNAME": "grace"]) == "grace")
        let account = LocalMachine.userName(environment: [:])
        #expect(!account.isEmpty, "falls back to getpwuid")
        #expect(LocalMachine.userName(environment: ["LOGNAME": ""]) == account)
    }

    @Test func findsThePythonInterpreter() throws {
        let python3 = try #require(MachineInfo.pythonInterpreter(argv: ["python3", "x.py"], environment: environment))
        #expect(python3.hasSuffix("/python3"))
        #expect(FileManager.default.isExecutableFile(atPath: python3))
        #expect(MachineInfo.pythonInterpreter(argv: [python3, "-m", "x"], environment: environment) == python3)
        #expect(MachineInfo.pythonInterpreter(argv: ["sh", "-c", "python3 x.py"], environment: environment) == nil)
        #expect(MachineInfo.pythonInterpreter(argv: ["torchrun", "x.py"], environment: environment) == nil)
        #expect(MachineInfo.pythonInterpreter(argv: ["pythonista"], environment: environment) == nil)
        #expect(MachineInfo.pythonInterpreter(argv: [], environment: environment) == nil)
        #expect(MachineInfo.pythonInterpreter(argv: ["python3"], environment: ["PATH": "/nonexistent"]) == nil)
        #expect(MachineInfo.pythonInterpreter(argv: ["/nonexistent/python3"], environment: environment) == nil)
    }

    @Test func resolvesThroughTheGivenPATH() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("exp-path-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("python3.99").path
        try "#!/bin/sh\necho 3.99.1\n".write(toFile: script, atomically: true, encoding: .utf8)
        #expect(
            MachineInfo.pythonInterpreter(argv: ["python3.99"], environment: ["PATH": folder.path]) == nil,
            "not executable")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        #expect(
            MachineInfo.pythonInterpreter(argv: ["python3.99"], environment: ["PATH": "/nonexistent:" + folder.path])
                == script)
        // A fake interpreter that prints a version is asked, with the given PATH.
        var given = environment
        given["PATH"] = folder.path + ":" + (environment["PATH"] ?? "/usr/bin:/bin")
        #expect(
            MachineInfo.collect(
                argv: ["python3.99", "x.py"], environment: given, host: "h", user: "u", system: Self.fixedSystem
            ).python == "3.99.1")
    }

    /// The time box itself is measured by `bench/time-boxes.sh`; here only the outcome, with a
    /// limit that fails a hung test.
    @Test(.timeLimit(.minutes(1))) func killsAnInterpreterThatHangs() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("exp-hang-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let script = folder.appendingPathComponent("python").path
        // Prints a version but keeps stdout open in a child that outlives the time box.
        try "#!/bin/sh\necho 3.0.0\nsleep 30 &\nsleep 30\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let info = MachineInfo.collect(
            argv: [script], environment: ["PATH": "/usr/bin:/bin"], host: "h", user: "u", system: Self.fixedSystem)
        #expect(info.python == nil)
        #expect(MachineInfo.pipFreeze(python: script, environment: ["PATH": "/usr/bin:/bin"], timeout: 0.3) == nil)
    }

    @Test func pipFreezeListsPackages() throws {
        let python3 = try #require(MachineInfo.pythonInterpreter(argv: ["python3"], environment: environment))
        let frozen = try #require(MachineInfo.pipFreeze(python: python3, environment: environment, timeout: 20))
        #expect(frozen.contains("=="))
        #expect(MachineInfo.pipFreeze(python: "/nonexistent/python", environment: environment, timeout: 5) == nil)
        #expect(MachineInfo.pipFreeze(python: "/bin/false", environment: environment, timeout: 5) == nil)
    }

    @Test func parsesNvidiaSmiOutput() {
        let output = """
            NVIDIA H100 80GB HBM3, 81559, 550.54.15
            NVIDIA GeForce RTX 4090, 24564, 550.54.15
            Tesla V100-SXM2-16GB, [N/A], [N/A]
            Odd, Name, With Comma, 1024, 535.1

            """
        #expect(
            MachineInfo.parseNvidiaSmi(output) == [
                .init(name: "NVIDIA H100 80GB HBM3", memoryMiB: 81559, driver: "550.54.15"),
                .init(name: "NVIDIA GeForce RTX 4090", memoryMiB: 24564, driver: "550.54.15"),
                .init(name: "Tesla V100-SXM2-16GB", memoryMiB: nil, driver: nil),
                .init(name: "Odd, Name, With Comma", memoryMiB: 1024, driver: "535.1"),
            ])
        #expect(MachineInfo.parseNvidiaSmi("") == [])
        #expect(MachineInfo.parseNvidiaSmi("\r\n") == [])
        #expect(MachineInfo.parseNvidiaSmi("A100\n") == [.init(name: "A100")])
    }

    @Test func parsesOSRelease() {
        let text = """
            NAME="Debian GNU/Linux"
            PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
            VERSION_ID="12"
            """
        #expect(MachineInfo.parseOSRelease(text) == "Debian GNU/Linux 12 (bookworm)")
        #expect(MachineInfo.parseOSRelease("PRETTY_NAME=Alpine\n") == "Alpine")
        #expect(MachineInfo.parseOSRelease("NAME=x\n") == nil)
        #expect(MachineInfo.parsePythonVersion("3.11.7\n") == "3.11.7")
        #expect(MachineInfo.parsePythonVersion("Python 3.11.7") == nil)
        #expect(MachineInfo.parsePythonVersion("") == nil)
    }

    @Test func recordsOnlyChosenNonSecretVariables() {
        let environment = [
            "CUDA_VISIBLE_DEVICES": "0", "PATH": "/bin", "HOME": "/root",
            "WANDB_PROJECT": "p", "WANDB_API_KEY": "k", "WANDB_MODE": "offline",
            "HF_TOKEN": "t", "MY_SECRET": "s", "DB_PASSWORD": "p", "FTP_PASSWD": "p", "AWS_CREDENTIALS": "c",
            "api_key": "k", "github_token": "t", "OMP_NUM_THREADS": "8", "NCCL_DEBUG": "INFO",
        ]
        #expect(MachineInfo.recordedEnvironment(environment, extraNames: []) == ["CUDA_VISIBLE_DEVICES": "0"])
        #expect(
            MachineInfo.recordedEnvironment(
                environment,
                extraNames: [
                    "WANDB_*", "OMP_NUM_THREADS", "HF_TOKEN", "MY_SECRET", "DB_PASSWORD", "FTP_PASSWD",
                    "AWS_CREDENTIALS", "api_key", "github_token", "MISSING", "NCCL_DEBU?", "",
                ])
                == [
                    "CUDA_VISIBLE_DEVICES": "0", "WANDB_PROJECT": "p", "WANDB_MODE": "offline",
                    "OMP_NUM_THREADS": "8", "NCCL_DEBUG": "INFO",
                ])
        #expect(
            MachineInfo.recordedEnvironment(environment, extraNames: ["*"]).keys.sorted() == [
                "CUDA_VISIBLE_DEVICES", "HOME", "NCCL_DEBUG", "OMP_NUM_THREADS", "PATH", "WANDB_MODE", "WANDB_PROJECT",
            ])
        #expect(MachineInfo.recordedEnvironment(["PATH": "/bin"], extraNames: []) == [:])
    }

    @Test func roundTripsThroughJSON() throws {
        let info = MachineInfo(
            os: "Debian", kernel: "6.1", architecture: "x86_64", cpus: 8, memoryBytes: 1 << 34, hostname: "h",
            user: "u", python: "3.11.7", gpus: [.init(name: "A100", memoryMiB: 40960, driver: "550")],
            cudaVisibleDevices: "0")
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(info)
        #expect(try JSONDecoder().decode(MachineInfo.self, from: data) == info)
        // Keys as docs/run-format.md spells them.
        #expect(
            String(decoding: data, as: UTF8.self)
                == #"{"architecture":"x86_64","cpus":8,"cuda_visible_devices":"0","#
                + #""gpus":[{"driver":"550","memory_mib":40960,"name":"A100"}],"hostname":"h","kernel":"6.1","#
                + #""memory_bytes":17179869184,"os":"Debian","python":"3.11.7","user":"u"}"#)
        var bare = info
        bare.python = nil
        bare.cudaVisibleDevices = nil
        let bareJSON = String(decoding: try encoder.encode(bare), as: UTF8.self)
        #expect(!bareJSON.contains("python") && !bareJSON.contains("cuda"))
    }
}
