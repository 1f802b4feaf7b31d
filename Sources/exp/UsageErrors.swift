import ArgumentParser
import ExpCore

/// What ArgumentParser refuses, said as exp says its own errors: `exp: error: …` in lower
/// case, a "did you mean" for a mistyped command, and a hint that names the help of the
/// command that was meant.
enum UsageErrors {
    /// The lines for ArgumentParser's `message`, met while parsing `arguments` (without the
    /// program name).
    static func text(for message: String, arguments: [String]) -> String {
        let path = CommandPath(arguments)
        let help = path.names.count == 1 ? "exp help" : path.names.joined(separator: " ") + " --help"
        if let unknown = path.unknown {
            var hint = "see `\(help)`"
            let close = Suggestions.closest(to: unknown, among: path.subcommandNames)
            if let phrase = Suggestions.phrase(close, quote: "'") { hint = phrase + " " + hint }
            let command = path.names.joined(separator: " ")
            return "exp: error: \(command) has no command '\(TerminalText.escape(unknown))'\nhint: \(hint)"
        }
        var text = TerminalText.escape(message, keeping: .newlines)
        var hint = "see `\(help)`"
        // ArgumentParser's own suggestion for an option (`… '--cvs'. Did you mean '--csv'?`)
        // goes into the hint, worded as exp's.
        if let suggestion = text.range(of: ". Did you mean ") {
            hint = "did you mean " + text[suggestion.upperBound...] + " " + hint
            text = String(text[..<suggestion.lowerBound])
        }
        return "exp: error: \(lowercasingFirstWord(text))\nhint: \(hint)"
    }

    /// ArgumentParser's `Missing expected argument` as exp writes it: `missing expected
    /// argument`. A word in capitals (an acronym) is left as it is.
    static func lowercasingFirstWord(_ text: String) -> String {
        guard let first = text.first, first.isUppercase else { return text }
        let second = text.dropFirst().first
        if let second, second.isUppercase { return text }
        return first.lowercased() + text.dropFirst()
    }
}

/// The commands the arguments name, from `exp` down (`exp hooks install`), and the word that
/// named none where a command was expected (`lsit` in `exp lsit`, `instal` in
/// `exp hooks instal`).
struct CommandPath {
    /// The command names: `["exp", "hooks"]`.
    private(set) var names = ["exp"]
    /// The shown commands under the last one named.
    private(set) var subcommandNames: [String] = []
    /// The word that named no command, if one did not.
    private(set) var unknown: String?

    init(_ arguments: [String]) {
        var subcommands = Exp.configuration.subcommands
        for argument in arguments {
            if argument == "--" || subcommands.isEmpty { break }
            if argument.hasPrefix("-") { continue }
            if names.count == 1 && argument == "help" { break }
            var next: (any ParsableCommand.Type)?
            for command in subcommands where command._commandName == argument { next = command }
            guard let next else {
                unknown = argument
                break
            }
            names.append(argument)
            subcommands = next.configuration.subcommands
        }
        for command in subcommands where command.configuration.shouldDisplay {
            subcommandNames.append(command._commandName)
        }
    }
}
