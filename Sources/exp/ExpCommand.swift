import ArgumentParser
import ExpCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A subcommand whose body is: build the context from global options, make one ExpCore call,
/// render. Errors become `exp: error: …` / `hint: …` on stderr and exit 1 (2 for usage errors).
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
        // Whatever the command did, say which shared settings it did not honour.
        defer { terminal.ignoredSettings(context.notices.takeIgnoredSettings()) }
        do {
            try run(context, terminal)
        } catch let error as ExpError {
            terminal.error(error)
            throw ExitCode(error.exitCode)
        }
    }
}

extension Terminal {
    /// Warns once per key that a committed `.expconfig` tried to set what only the user's own
    /// git config may, and says how to set it for real.
    func ignoredSettings(_ settings: [IgnoredSharedSetting]) {
        for setting in settings {
            let file = URL(fileURLWithPath: setting.file).lastPathComponent
            let shown = setting.values.count == 1 ? " = \(setting.values[0])" : ""
            if let limit = setting.sharedLimit {
                note(
                    "exp: warning: ignored \(setting.key)\(shown) from \(file): a file committed with the code may "
                        + "lower this limit (\(ByteCountText.format(limit))) but not raise it")
            } else {
                note(
                    "exp: warning: ignored \(setting.key)\(shown) from \(file): a file committed with the code may "
                        + "not widen what exp records or sends")
            }
            let commands = setting.values.enumerated().map { index, value in
                "git config \(index == 0 ? "" : "--add ")\(setting.key) \(ShellQuoting.quote(value))"
            }
            note("hint: to use it, set it in your own git config: " + commands.prefix(3).joined(separator: "; "))
        }
    }
}

/// Where output goes, and whether it may use colour. Everything exp writes goes through it,
/// and it escapes control characters (see `TerminalText`) in all of it: a record pulled from
/// someone else can hold anything in any field, and no command has to remember that. Only
/// `exp log`, which shows a command's own output as it was, writes bytes unescaped
/// (`write(unescaped:)`). Nothing else in exp writes to stdout or stderr.
struct Terminal {
    /// Colours on stdout.
    let useColor: Bool
    /// Colours on stderr (exp's own notes).
    let useColorOnStderr: Bool
    /// This process's colour marks (see `StyleMarks`).
    let marks = StyleMarks()
    /// Whether exp's own notes are shown; `exp run --json` turns them off, leaving its warnings
    /// (`exp: warning: …`) and errors.
    var showsNotes = true

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

    /// Writes a line to stdout. The line is one line: a newline inside it is escaped too.
    func print(_ line: String) {
        var bytes = safe(line, keeping: [])
        bytes.append(0x0A)
        FileHandle.standardOutput.write(bytes)
    }

    /// Writes lines to stdout in one write (a whole table), each escaped as `print` does.
    func print(lines: [String]) {
        var bytes = Data()
        for line in lines {
            bytes += safe(line, keeping: [])
            bytes.append(0x0A)
        }
        FileHandle.standardOutput.write(bytes)
    }

    /// Writes a frame of lines over the previous one (`exp plot --follow`): the cursor goes up
    /// the `previous` lines written last, the screen below it is cleared, then the lines are
    /// written, each escaped as `print` does. Only exp writes these cursor moves.
    func redraw(lines: [String], replacing previous: Int) {
        var bytes = Data(previous > 0 ? "\u{1B}[\(previous)A\r\u{1B}[J".utf8 : "".utf8)
        for line in lines {
            bytes += safe(line, keeping: [])
            bytes.append(0x0A)
        }
        FileHandle.standardOutput.write(bytes)
    }

    /// Writes text made of whole lines (CSV, JSON lines) to stdout: newlines kept, every other
    /// control character escaped.
    func write(_ text: String) {
        FileHandle.standardOutput.write(safe(text, keeping: .newlines))
    }

    /// Writes JSON lines (`--follow --json`) to stdout, escaped as `printJSON` escapes JSON.
    func write(jsonLines text: String) {
        var text = text
        let ascii = text.withUTF8 { buffer in
            for byte in buffer where byte >= 0x7F { return false }
            return true
        }
        FileHandle.standardOutput.write(ascii ? Data(text.utf8) : Data(TerminalText.escapeJSON(Array(text.utf8))))
    }

    /// Writes the bytes of a file's content (a code patch) to stdout: newlines, tabs and CRLF
    /// line ends kept, every other control character escaped, exp's colour marks turned into
    /// colours.
    func write(content: [UInt8]) {
        FileHandle.standardOutput.write(
            Data(TerminalText.escape(content, keeping: [.newlines, .tabs, .lineEndCarriageReturns], style: marks)))
    }

    /// Writes a note to stderr (several lines for a message that has them).
    func note(_ line: String) {
        guard showsNotes || line.hasPrefix("exp: warning:") else { return }
        writeNote(line)
    }

    /// Prints `exp: error: …` and the hint, if any, to stderr, in the CLI's words (see
    /// `ErrorHints.swift`).
    func error(_ error: ExpError) {
        writeNote("exp: error: \(error.cliMessage)")
        if let hint = error.cliHint { writeNote("hint: \(hint)") }
    }

    /// Writes a line to stderr, whether notes are shown or not.
    private func writeNote(_ line: String) {
        var bytes = safe(line, keeping: .newlines)
        bytes.append(0x0A)
        FileHandle.standardError.write(bytes)
    }

    /// Writes bytes to stdout exactly as they are, control characters included: only for
    /// `exp log`, which shows a command's output as the command wrote it.
    func write(unescaped bytes: [UInt8]) {
        FileHandle.standardOutput.write(Data(bytes))
    }

    /// Draws a progress line on stderr (`ProgressBar`): `text` is written as it is, so the
    /// caller escapes what it did not write itself and adds the cursor moves.
    func progress(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Prints a value as pretty, key-sorted JSON on stdout, in run.json's form: dates in
    /// ISO 8601 UTC, NaN and infinities as the strings "NaN", "Infinity", "-Infinity" (so the
    /// output is always valid JSON), and control characters escaped.
    func printJSON<T: Encodable>(_ value: T) throws {
        let data = try RunJSON.encoder(pretty: true).encode(value)
        FileHandle.standardOutput.write(Data(TerminalText.escapeJSON([UInt8](data)) + [0x0A]))
    }

    /// Marks `text` to be shown in an ANSI colour when colour is on for stdout.
    func paint(_ text: String, _ code: String) -> String {
        useColor ? marks.mark(code) + text + marks.mark("0") : text
    }

    /// Marks `text` to be shown in an ANSI colour when colour is on for stderr.
    func paintNote(_ text: String, _ code: String) -> String {
        useColorOnStderr ? marks.mark(code) + text + marks.mark("0") : text
    }

    /// The bytes of `text` with control characters escaped and colour marks made colours.
    private func safe(_ text: String, keeping: TerminalText.Keep) -> Data {
        TerminalText.escapedBytes(text, keeping: keeping, style: marks)
    }
}
