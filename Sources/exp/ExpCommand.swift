import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A subcommand whose body is: build the context from global options, make one ExpCore call,
/// render. Errors become `exp: error: …` / `hint: …` on stderr and exit 1.
protocol ExpCommand: ParsableCommand {
    var global: GlobalOptions { get }
    /// The command body, given the context built from the global options.
    func run(_ context: ExpContext, _ terminal: Terminal) throws
}

extension ExpCommand {
    func run() throws {
        let environment = ProcessInfo.processInfo.environment
        var cwd = FileManager.default.currentDirectoryPath
        if let directory = global.directory {
            cwd = directory.hasPrefix("/") ? directory : cwd + "/" + directory
        }
        let context = ExpContext(workingDirectory: cwd, environment: environment)
        let terminal = Terminal(color: global.color, environment: environment)
        do {
            try run(context, terminal)
        } catch let error as ExpError {
            terminal.error(error)
            throw ExitCode(error.exitCode)
        }
    }
}

/// Where output goes, and whether it may use colour.
struct Terminal {
    /// Colours on stdout.
    let useColor: Bool
    /// Colours on stderr (exp's own notes).
    let useColorOnStderr: Bool

    init(color: ColorChoice, environment: [String: String]) {
        let allowed = (environment["NO_COLOR"].map(\.isEmpty) ?? true) && environment["TERM"] != "dumb"
        switch color {
        case .always:
            useColor = true
            useColorOnStderr = true
        case .never:
            useColor = false
            useColorOnStderr = false
        case .auto:
            useColor = allowed && isatty(STDOUT_FILENO) == 1
            useColorOnStderr = allowed && isatty(STDERR_FILENO) == 1
        }
    }

    /// Writes a line to stdout.
    func print(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes text to stdout as it is (one write for a whole table).
    func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// Writes a line to stderr.
    func note(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Prints `exp: error: …` and the hint, if any, to stderr.
    func error(_ error: ExpError) {
        note("exp: error: \(error.message)")
        if let hint = error.hint { note("hint: \(hint)") }
    }

    /// Prints a value as pretty, key-sorted JSON on stdout.
    func printJSON<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    /// Wraps `text` in an ANSI colour when colour is on for stdout.
    func paint(_ text: String, _ code: String) -> String {
        useColor ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    /// Wraps `text` in an ANSI colour when colour is on for stderr.
    func paintNote(_ text: String, _ code: String) -> String {
        useColorOnStderr ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}
