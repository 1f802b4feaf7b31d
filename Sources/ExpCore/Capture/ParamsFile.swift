import Foundation
import Yams

/// Params read from files: `--params-file` (YAML, JSON or TOML), Lightning's `hparams.yaml`,
/// Hydra's `.hydra/config.yaml` and `.hydra/overrides.yaml`. Nested tables are flattened to
/// dotted keys (`model.encoder.layers`); numbers, booleans and strings keep their type;
/// lists (and anything else) are kept as their text (`[64, 128]`); nulls as `null`.
public enum ParamsFile {
    /// The file's format, from its extension.
    public enum Format: Sendable {
        case yaml, json, toml
    }

    /// The format of a file, from its name; nil for an unknown extension.
    public static func format(ofPath path: String) -> Format? {
        switch (path as NSString).pathExtension.lowercased() {
        case "yaml", "yml": .yaml
        case "json": .json
        case "toml": .toml
        default: nil
        }
    }

    /// Reads and flattens a params file. Hydra's `overrides.yaml` (a list of `key=value`
    /// words) is read as those words would be on a command line.
    public static func load(path: String) throws -> [String: ParamValue] {
        guard let format = format(ofPath: path) else {
            throw ExpError(
                .usage, "could not read params file \(path): unknown format",
                hint: "use a .yaml, .yml, .json or .toml file")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ExpError(.io, "could not read params file \(path)", hint: "check that it exists and is readable")
        }
        let text = String(decoding: data, as: UTF8.self)
        do {
            switch format {
            case .yaml:
                if (path as NSString).lastPathComponent == "overrides.yaml",
                    (path as NSString).deletingLastPathComponent.hasSuffix(".hydra")
                {
                    return try hydraOverrides(text)
                }
                return try flatten(yaml: text)
            case .json: return try flatten(json: data)
            case .toml: return try flatten(toml: text)
            }
        } catch let error as ExpError {
            throw ExpError(error.kind, "could not read params file \(path): \(error.message)", hint: error.hint)
        } catch {
            throw ExpError(.config, "could not read params file \(path): \(error)", hint: "check its syntax")
        }
    }

    // MARK: YAML

    /// The most YAML nodes one params file may expand to: aliases make a small file stand for
    /// an exponential number of nodes (the "billion laughs"), which exp refuses to walk.
    static let maxYAMLNodes = 100_000

    /// A YAML document flattened. Tags the file may carry (PyYAML's `!!python/object…` in
    /// Lightning's hparams) are ignored: the mapping under them is read as any other.
    /// A document that expands (through aliases) to more than `maxYAMLNodes` nodes is refused.
    public static func flatten(yaml: String) throws -> [String: ParamValue] {
        var result: [String: ParamValue] = [:]
        guard let node = try Yams.compose(yaml: yaml) else { return result }
        var budget = maxYAMLNodes
        try flatten(node, prefix: "", into: &result, budget: &budget)
        return result
    }

    /// Takes one node from the budget, or throws when it is spent.
    private static func spend(_ budget: inout Int) throws {
        budget -= 1
        if budget < 0 {
            throw ExpError(
                .config, "it expands to more than \(maxYAMLNodes) values (aliases repeating aliases?)",
                hint: "params files are configs: write the values out, or use fewer nested aliases")
        }
    }

    private static func flatten(
        _ node: Node, prefix: String, into result: inout [String: ParamValue], budget: inout Int
    ) throws {
        try spend(&budget)
        switch node {
        case .mapping(let mapping):
            for (key, value) in mapping {
                let name = key.string ?? "\(key)"
                try flatten(value, prefix: prefix.isEmpty ? name : prefix + "." + name, into: &result, budget: &budget)
            }
        case .scalar(let scalar):
            guard !prefix.isEmpty else { return }
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .int: result[prefix] = node.int.map { .int(Int64($0)) } ?? .string(scalar.string)
            case .float: result[prefix] = node.float.map { .double($0) } ?? .string(scalar.string)
            case .bool: result[prefix] = node.bool.map { .bool($0) } ?? .string(scalar.string)
            case .null: result[prefix] = .string("null")
            default: result[prefix] = .string(scalar.string)
            }
        case .sequence(let sequence):
            guard !prefix.isEmpty else { return }
            result[prefix] = .string(
                "[" + (try sequence.map { try text($0, budget: &budget) }).joined(separator: ", ") + "]")
        case .alias:
            break
        }
    }

    /// A YAML node as short text (list items).
    private static func text(_ node: Node, budget: inout Int) throws -> String {
        try spend(&budget)
        switch node {
        case .scalar(let scalar): return scalar.string
        case .sequence(let sequence):
            return "[" + (try sequence.map { try text($0, budget: &budget) }).joined(separator: ", ") + "]"
        case .mapping(let mapping):
            return "{"
                + (try mapping.map { "\($0.key.string ?? ""): \(try text($0.value, budget: &budget))" }).joined(
                    separator: ", ") + "}"
        case .alias: return ""
        }
    }

    /// Hydra's `.hydra/overrides.yaml`: a YAML list of `key=value` words.
    public static func hydraOverrides(_ yaml: String) throws -> [String: ParamValue] {
        guard let node = try Yams.compose(yaml: yaml), case .sequence(let words) = node else { return [:] }
        return Params.fromCommandLine(["hydra"] + words.compactMap(\.string))
    }

    // MARK: JSON

    /// A JSON document flattened (the top level must be an object).
    public static func flatten(json: Data) throws -> [String: ParamValue] {
        let value = try JSONDecoder().decode(AnyJSON.self, from: json)
        guard case .object = value else {
            throw ExpError(.config, "the top level is not an object", hint: "write params as {\"lr\": 0.01, …}")
        }
        var result: [String: ParamValue] = [:]
        flatten(value, prefix: "", into: &result)
        return result
    }

    private static func flatten(_ value: AnyJSON, prefix: String, into result: inout [String: ParamValue]) {
        switch value {
        case .object(let members):
            for (key, member) in members {
                flatten(member, prefix: prefix.isEmpty ? key : prefix + "." + key, into: &result)
            }
        case .scalar(let scalar):
            if !prefix.isEmpty { result[prefix] = scalar }
        case .array(let items):
            if !prefix.isEmpty { result[prefix] = .string("[" + items.map(\.text).joined(separator: ", ") + "]") }
        case .null:
            if !prefix.isEmpty { result[prefix] = .string("null") }
        }
    }

    /// Any JSON value.
    private enum AnyJSON: Decodable {
        case object([String: AnyJSON])
        case array([AnyJSON])
        case scalar(ParamValue)
        case null

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let value = try? container.decode(Bool.self) {
                self = .scalar(.bool(value))
            } else if let value = try? container.decode(Int64.self) {
                self = .scalar(.int(value))
            } else if let value = try? container.decode(Double.self) {
                self = .scalar(.double(value))
            } else if let value = try? container.decode(String.self) {
                self = .scalar(.string(value))
            } else if let value = try? container.decode([String: AnyJSON].self) {
                self = .object(value)
            } else {
                self = .array(try container.decode([AnyJSON].self))
            }
        }

        var text: String {
            switch self {
            case .object(let members):
                "{" + members.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.text)" }.joined(separator: ", ")
                    + "}"
            case .array(let items): "[" + items.map(\.text).joined(separator: ", ") + "]"
            case .scalar(let value): value.description
            case .null: "null"
            }
        }
    }

    // MARK: TOML

    /// A TOML document flattened, for the subset params files use: `[table]` and `[a.b]`
    /// headers, `key = value` with bare, quoted and dotted keys, basic and literal strings,
    /// integers (`1_000`, `0x1F`), floats (`inf`, `nan`), booleans, and arrays and inline
    /// tables kept as their text. Dates stay strings; `[[arrays of tables]]` are skipped.
    public static func flatten(toml: String) throws -> [String: ParamValue] {
        var result: [String: ParamValue] = [:]
        var table = ""
        var skipping = false
        var lines = toml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        var lineNumber = 0
        while var line = lines.popFirst() {
            lineNumber += 1
            line = TOML.stripComment(line).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("[[") {
                skipping = true
                continue
            }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else { throw TOML.error("bad table header", line: lineNumber) }
                table = try TOML.keyPath(String(line.dropFirst().dropLast()), line: lineNumber).joined(separator: ".")
                skipping = false
                continue
            }
            guard let equals = TOML.assignmentIndex(line) else {
                throw TOML.error("expected key = value", line: lineNumber)
            }
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            // Arrays and inline tables may span lines: read on until the brackets balance.
            while TOML.openBrackets(value) > 0, let next = lines.popFirst() {
                lineNumber += 1
                value += " " + TOML.stripComment(next).trimmingCharacters(in: .whitespaces)
            }
            if skipping { continue }
            let key = try TOML.keyPath(String(line[..<equals]), line: lineNumber).joined(separator: ".")
            result[table.isEmpty ? key : table + "." + key] = try TOML.value(value, line: lineNumber)
        }
        return result
    }
}

/// The pieces of the TOML subset `ParamsFile` reads.
enum TOML {
    static func error(_ what: String, line: Int) -> ExpError {
        ExpError(
            .usage, "\(what) on line \(line)", hint: "exp reads TOML tables, key = value, strings, numbers and booleans"
        )
    }

    /// The line without a `#` comment outside strings.
    static func stripComment(_ line: String) -> String {
        var quote: Character?
        var escaped = false
        for index in line.indices {
            let char = line[index]
            if let open = quote {
                if escaped {
                    escaped = false
                } else if char == "\\" && open == "\"" {
                    escaped = true
                } else if char == open {
                    quote = nil
                }
            } else if char == "\"" || char == "'" {
                quote = char
            } else if char == "#" {
                return String(line[..<index])
            }
        }
        return line
    }

    /// The `=` of `key = value` (outside quoted keys).
    static func assignmentIndex(_ line: String) -> String.Index? {
        var quote: Character?
        for index in line.indices {
            let char = line[index]
            if let open = quote {
                if char == open { quote = nil }
            } else if char == "\"" || char == "'" {
                quote = char
            } else if char == "=" {
                return index
            }
        }
        return nil
    }

    /// `[` minus `]` outside strings.
    static func openBrackets(_ text: String) -> Int {
        var depth = 0
        var quote: Character?
        for char in text {
            if let open = quote {
                if char == open { quote = nil }
            } else if char == "\"" || char == "'" {
                quote = char
            } else if char == "[" || char == "{" {
                depth += 1
            } else if char == "]" || char == "}" {
                depth -= 1
            }
        }
        return depth
    }

    /// `a.b."c d"` → ["a", "b", "c d"].
    static func keyPath(_ text: String, line: Int) throws -> [String] {
        var parts: [String] = []
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        while !rest.isEmpty {
            rest = rest.drop(while: { $0 == " " || $0 == "\t" })
            if let open = rest.first, open == "\"" || open == "'" {
                guard let close = rest.dropFirst().firstIndex(of: open) else {
                    throw error("unclosed quoted key", line: line)
                }
                parts.append(String(rest[rest.index(after: rest.startIndex)..<close]))
                rest = rest[rest.index(after: close)...]
            } else {
                let end = rest.firstIndex(of: ".") ?? rest.endIndex
                let part = rest[..<end].trimmingCharacters(in: .whitespaces)
                guard !part.isEmpty,
                    part.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") })
                else { throw error("bad key '\(text)'", line: line) }
                parts.append(part)
                rest = rest[end...]
            }
            rest = rest.drop(while: { $0 == " " || $0 == "\t" })
            if rest.first == "." {
                rest = rest.dropFirst()
            } else if !rest.isEmpty {
                throw error("bad key '\(text)'", line: line)
            }
        }
        guard !parts.isEmpty else { throw error("empty key", line: line) }
        return parts
    }

    /// One value.
    static func value(_ text: String, line: Int) throws -> ParamValue {
        guard let first = text.first else { throw error("missing value", line: line) }
        switch first {
        case "\"":
            if text.hasPrefix("\"\"\"") { throw error("multi-line strings are not read", line: line) }
            guard text.count >= 2, text.hasSuffix("\"") else { throw error("unclosed string", line: line) }
            return .string(unescape(String(text.dropFirst().dropLast())))
        case "'":
            guard text.count >= 2, text.hasSuffix("'") else { throw error("unclosed string", line: line) }
            return .string(String(text.dropFirst().dropLast()))
        case "[", "{":
            return .string(text)
        default:
            break
        }
        switch text {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "inf", "+inf": return .double(.infinity)
        case "-inf": return .double(-.infinity)
        case "nan", "+nan", "-nan": return .double(.nan)
        default: break
        }
        let plain = text.replacingOccurrences(of: "_", with: "")
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where plain.hasPrefix(prefix) {
            if let number = Int64(plain.dropFirst(2), radix: radix) { return .int(number) }
        }
        if let number = Int64(plain) { return .int(number) }
        if plain.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let number = Double(plain) {
            return .double(number)
        }
        // Dates and times, and anything else, as written.
        return .string(text)
    }

    /// Basic-string escapes.
    private static func unescape(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var result = ""
        var iterator = text.makeIterator()
        while let char = iterator.next() {
            guard char == "\\", let next = iterator.next() else {
                result.append(char)
                continue
            }
            switch next {
            case "n": result.append("\n")
            case "t": result.append("\t")
            case "r": result.append("\r")
            case "\"": result.append("\"")
            case "\\": result.append("\\")
            default: result.append(next)
            }
        }
        return result
    }
}
