import Foundation

/// The user's own `git` command, for what libgit2 should not do on its own: talking to
/// remotes with the user's ssh set-up, credential helpers and config.
public struct GitCLI: Sendable {
    /// What a finished `git` left behind.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// The folder git runs in (a worktree root).
    public var workingDirectory: String
    /// The environment git gets (the caller's; PATH decides which git).
    public var environment: [String: String]

    public init(workingDirectory: String, environment: [String: String]) {
        self.workingDirectory = workingDirectory
        self.environment = environment
    }

    /// Runs `git ARGUMENTS` with no input and returns its status and output.
    ///
    /// Throws a `GitError` only when git cannot be started at all (not installed).
    public func run(_ arguments: [String]) throws(GitError) -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory)
        process.environment = environment
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw GitError(
                operation: "could not start git \(arguments.first ?? "")", reason: "\(error.localizedDescription)",
                code: .generic, errorClass: .os)
        }
        // Read both pipes at once so a chatty git never blocks on a full pipe.
        let errorOutput = ErrorBox()
        let reader = Thread {
            errorOutput.data = err.fileHandleForReading.readDataToEndOfFile()
            errorOutput.done.signal()
        }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        errorOutput.done.wait()
        process.waitUntilExit()
        if process.terminationStatus == 127 && errorOutput.data.isEmpty == false
            && String(decoding: errorOutput.data, as: UTF8.self).contains("git: No such file")
        {
            throw GitError(
                operation: "could not run git", reason: "git is not on PATH; install git", code: .generic,
                errorClass: .os)
        }
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errorOutput.data, as: UTF8.self))
    }
}

/// stderr of a child, filled by a reader thread.
private final class ErrorBox: @unchecked Sendable {
    var data = Data()
    let done = DispatchSemaphore(value: 0)
}
