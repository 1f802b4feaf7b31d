/// A parameter value, typed as the command line suggests. Encodes as a plain JSON scalar
/// (`1`, `0.01`, `true`, `"adam"`).
///
/// JSON does not tell `1.0` from `1`: a `.double` with an integral value (`1.0`, `1e3`) is
/// written as `1` / `1000` and reads back as `.int`.
public enum ParamValue: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "a param value must be a number, a boolean or a string")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        }
    }

    /// The value as a user would type it: `32`, `0.01`, `true`, `adam`.
    public var description: String {
        switch self {
        case .int(let value): return String(value)
        case .double(let value): return value.description
        case .bool(let value): return value ? "true" : "false"
        case .string(let value): return value
        }
    }
}

/// Guessing params from a command line, and `-p key=value` assignments.
public enum Params {
    /// Typed value of a command-line word: `Int64` (`"32"`, `"-3"`, `"+3"`), `Double` (`"0.01"`,
    /// `"1e-3"`, `"-0.5"`, `".5"`, `"5."`), `Bool` (`"true"`, `"false"`, `"True"`, `"False"`), else
    /// the string itself.
    ///
    /// Only plain decimal notation counts as a number: `"inf"`, `"nan"`, `"0x10"` and values
    /// that overflow (`"1e999"`, an integer beyond `Int64`) stay strings, so nothing is lost.
    public static func typed(_ text: String) -> ParamValue {
        switch text {
        case "true", "True": return .bool(true)
        case "false", "False": return .bool(false)
        default: break
        }
        guard let kind = numberKind(text) else { return .string(text) }
        if kind == .integer, let value = Int64(text) { return .int(value) }
        if kind == .decimal, let value = Double(text), value.isFinite { return .double(value) }
        return .string(text)
    }

    /// Params guessed from a command's argv (`argv[0]` is the program).
    ///
    /// Only long options and `key=value` words count:
    /// - `--lr 0.01` and `--lr=0.01`; a bare `--use-amp` is `true` (also when the next word is
    ///   another option, or a `key=value` word, as in Hydra's `--multirun lr=0.1,0.01`);
    ///   `--no-x` is just the key `no-x` = `true`.
    /// - Hydra/`key=value` words: `lr=0.01`; `+trainer.devices=2` and `++key=v` give the key
    ///   without the pluses; `~key` (a deletion) is ignored.
    /// - Short options (`-k v`) are not guessed. A value that starts with `-` is only taken
    ///   when it is a number (`--lr -0.5`) or a lone `-`.
    /// - Other words (script names like `train.py`, subcommands like `fit`, positional
    ///   arguments) are skipped. For `python [interpreter options] script.py …` and
    ///   `python -m module …` the interpreter's own options (`-u`, `-O`, `-X dev`, `-W ignore`)
    ///   are skipped too.
    /// - `--` ends option parsing. Keys keep dashes as written (`batch-size`). The last
    ///   occurrence of a key wins.
    ///
    /// Launchers are not special: in `torchrun --nproc_per_node 4 train.py --lr 0.1`,
    /// torchrun's own options become params too (`nproc_per_node` = 4), which is usually what
    /// a user wants to see anyway.
    public static func fromCommandLine(_ argv: [String]) -> [String: ParamValue] {
        guard let program = argv.first else { return [:] }
        var params: [String: ParamValue] = [:]
        var index = isPythonProgram(program) ? firstScriptArgument(ofPython: argv) : 1
        while index < argv.count {
            let word = argv[index]
            index += 1
            if word == "--" { break }
            if word.hasPrefix("--") {
                let body = word.dropFirst(2)
                if let equals = body.firstIndex(of: "=") {
                    let key = String(body[..<equals])
                    if isOptionKey(key) { params[key] = typed(String(body[body.index(after: equals)...])) }
                } else if isOptionKey(String(body)) {
                    if index < argv.count, isOptionValue(argv[index]) {
                        params[String(body)] = typed(argv[index])
                        index += 1
                    } else {
                        params[String(body)] = .bool(true)
                    }
                }
            } else if let (key, value) = assignment(word) {
                params[key] = value
            }
            // Anything else (short options, positional words) is skipped.
        }
        return params
    }

    /// Params from files (applied in path order) under the command line's, which win.
    public static func merging(files: [String: [String: ParamValue]], into commandLine: [String: ParamValue])
        -> [String: ParamValue]
    {
        var result: [String: ParamValue] = [:]
        for path in files.keys.sorted() { result.merge(files[path] ?? [:]) { _, later in later } }
        result.merge(commandLine) { _, given in given }
        return result
    }

    /// Parses the text of `-p key=value`: the key is what comes before the first `=`, the
    /// value (typed as on the command line) what follows it, possibly empty.
    ///
    /// Throws when there is no `=`, the key is empty, or the key holds white space.
    public static func parseAssignment(_ text: String) throws -> (key: String, value: ParamValue) {
        guard let equals = text.firstIndex(of: "="),
            case let key = trimmed(text[..<equals]),
            !key.isEmpty, !key.contains(where: \.isWhitespace)
        else {
            throw ExpError(.usage, "bad param '\(text)': expected key=value", hint: "e.g. lr=0.01")
        }
        return (String(key), typed(String(text[text.index(after: equals)...])))
    }

    // MARK: - Command-line details

    /// Whether `program` (a name or a path) is a Python interpreter: `python`, `python3`,
    /// `python3.11`, `/usr/bin/python3`.
    static func isPythonProgram(_ program: String) -> Bool {
        let name = program.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        guard name.hasPrefix("python") else { return false }
        return name.dropFirst("python".count).allSatisfy { $0 == "." || ("0"..."9").contains($0) }
    }

    /// Index of the first argument the Python program sees (`sys.argv[1]`), past the
    /// interpreter's own options and the script, `-m module` or `-c code`.
    private static func firstScriptArgument(ofPython argv: [String]) -> Int {
        // Interpreter options that take the next word as their value.
        let withValue: Set<String> = ["-X", "-W", "-Q", "--check-hash-based-pycs"]
        var index = 1
        while index < argv.count {
            let word = argv[index]
            if word == "-m" || word == "-c" { return index + 2 }
            if word == "--" { return index + 2 }  // `python -- script.py args`
            if word == "-" || !word.hasPrefix("-") { return index + 1 }  // stdin or the script
            if withValue.contains(word) {
                index += 2
            } else if word.hasPrefix("-m") || word.hasPrefix("-c") {
                return index + 1  // `-mpkg.train`, `-c'code'`
            } else {
                index += 1  // `-u`, `-OO`, `-Xdev`, `-Wignore`, `-uB`, `--version`
            }
        }
        return argv.count
    }

    /// A Hydra-style `key=value` word as a param; nil for other words and for `~key` deletions.
    private static func assignment(_ word: String) -> (String, ParamValue)? {
        guard let equals = word.firstIndex(of: "=") else { return nil }
        var key = word[..<equals]
        if key.hasPrefix("~") { return nil }
        if key.hasPrefix("++") {
            key = key.dropFirst(2)
        } else if key.hasPrefix("+") {
            key = key.dropFirst()
        }
        guard isAssignmentKey(key) else { return nil }
        return (String(key), typed(String(word[word.index(after: equals)...])))
    }

    /// Keys of `key=value` words: a letter, digit or `_`, then those or `. - / @` (Hydra config
    /// groups `model/encoder=x`, packages `db@backup=x`). Rules out URLs, paths and shell text.
    private static func isAssignmentKey(_ key: Substring) -> Bool {
        guard let first = key.first, first.isASCII, first.isLetter || first.isNumber || first == "_" else {
            return false
        }
        return key.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_.-/@".contains($0)) }
    }

    /// Whether a long option's name is usable as a key (`--` alone and `---x` are not).
    private static func isOptionKey(_ key: String) -> Bool {
        !key.isEmpty && !key.hasPrefix("-")
    }

    /// Whether `word`, following a long option without `=`, is that option's value.
    private static func isOptionValue(_ word: String) -> Bool {
        if word == "-" { return true }
        if word.hasPrefix("-") { return numberKind(word) != nil }
        return assignment(word) == nil && !word.hasPrefix("~")
    }

    private static func trimmed(_ text: Substring) -> Substring {
        guard let start = text.firstIndex(where: { !$0.isWhitespace }),
            let last = text.lastIndex(where: { !$0.isWhitespace })
        else { return "" }
        return text[start...last]
    }

    private enum NumberKind { case integer, decimal }

    /// Whether `text` is a plain decimal number: `[+-]digits`, or with a point and/or an
    /// exponent (`1.5`, `.5`, `5.`, `1e-3`).
    private static func numberKind(_ text: String) -> NumberKind? {
        var chars = Substring(text).utf8[...]
        if let sign = chars.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
            chars = chars.dropFirst()
        }
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        let integerDigits = chars.prefix(while: isDigit).count
        chars = chars.dropFirst(integerDigits)
        var fractionDigits = 0
        var hasPoint = false
        if chars.first == UInt8(ascii: ".") {
            hasPoint = true
            chars = chars.dropFirst()
            fractionDigits = chars.prefix(while: isDigit).count
            chars = chars.dropFirst(fractionDigits)
        }
        guard integerDigits + fractionDigits > 0 else { return nil }
        var hasExponent = false
        if let e = chars.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            hasExponent = true
            chars = chars.dropFirst()
            if let sign = chars.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                chars = chars.dropFirst()
            }
            let exponentDigits = chars.prefix(while: isDigit).count
            guard exponentDigits > 0 else { return nil }
            chars = chars.dropFirst(exponentDigits)
        }
        guard chars.isEmpty else { return nil }
        return hasPoint || hasExponent ? .decimal : .integer
    }
}
