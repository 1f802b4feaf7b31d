public import Foundation

/// The values one sweep param takes: `-p KEY=SPEC`.
///
/// A SPEC is a list (`0.1,0.01,0.001`), a range (`range(1,4)`, `range(0,1,0.25)`: the end is
/// left out, as in Python), a log-spaced range (`log(1e-4,1e-1,4)`: four values, both ends
/// included), or, for random search, a distribution: `uniform(a,b)`, `loguniform(a,b)`,
/// `choice(a,b,c)`. In a grid a `choice` is a list; in random search lists and ranges are
/// choices.
public struct SweepParam: Sendable, Equatable, Codable {
    /// How the values are drawn.
    public enum Values: Sendable, Equatable, Codable {
        /// These values, as written (a list, a range, a log range or a choice).
        case list([String])
        /// Uniform between the two numbers (random search only).
        case uniform(Double, Double)
        /// Uniform in the logarithm between the two positive numbers (random search only).
        case logUniform(Double, Double)
    }

    public var key: String
    public var values: Values

    /// The most values one param or one grid may have.
    public static let maxPoints = 10_000

    /// Parses `KEY=SPEC`.
    public init(parsing text: String) throws {
        guard let equals = text.firstIndex(of: "=") else {
            throw ExpError(
                .usage, "bad sweep param '\(text)': expected KEY=SPEC", hint: "e.g. lr=0.1,0.01 or seed=range(1,4)")
        }
        key = String(text[..<equals]).trimmingCharacters(in: .whitespaces)
        let spec = String(text[text.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
        guard !key.isEmpty, key.unicodeScalars.allSatisfy({ Self.keyCharacters.contains($0) }) else {
            throw ExpError(
                .usage, "bad sweep param name '\(key)' in '\(text)'",
                hint: "use letters, digits, '.', '_' and '-', e.g. lr=0.1,0.01")
        }
        values = try Self.parseValues(spec, key: key)
    }

    public init(key: String, values: Values) {
        self.key = key
        self.values = values
    }

    static let keyCharacters = CharacterSet(
        charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")

    private static func parseValues(_ spec: String, key: String) throws -> Values {
        func numbers(_ arguments: [String], _ function: String) throws -> [Double] {
            try arguments.map { word in
                guard let number = Double(word), number.isFinite else {
                    throw ExpError(
                        .usage, "bad \(function)(…) for \(key): '\(word)' is not a number",
                        hint: "e.g. \(key)=\(function)(1,4)")
                }
                return number
            }
        }
        if let open = spec.firstIndex(of: "("), spec.hasSuffix(")") {
            let function = String(spec[..<open])
            let inner = spec[spec.index(after: open)..<spec.index(before: spec.endIndex)]
            let arguments = inner.split(separator: ",", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            switch function {
            case "range":
                guard (2...3).contains(arguments.count) else {
                    throw ExpError(
                        .usage, "range(…) for \(key) takes a start, an end and an optional step",
                        hint: "e.g. \(key)=range(1,4)")
                }
                return .list(try range(arguments, key: key, numbers: numbers(arguments, "range")))
            case "log":
                guard arguments.count == 3, let count = Int(arguments[2]), count >= 1, count <= maxPoints else {
                    throw ExpError(
                        .usage, "log(…) for \(key) takes a start, an end and a number of values",
                        hint: "e.g. \(key)=log(1e-4,1e-1,4)")
                }
                let ends = try numbers(Array(arguments.prefix(2)), "log")
                guard ends[0] > 0, ends[1] > 0 else {
                    throw ExpError(
                        .usage, "log(…) for \(key) needs positive ends", hint: "e.g. \(key)=log(1e-4,1e-1,4)")
                }
                let values = (0..<count).map { index -> Double in
                    count == 1 ? ends[0] : ends[0] * pow(ends[1] / ends[0], Double(index) / Double(count - 1))
                }
                return .list(values.map(format))
            case "uniform", "loguniform":
                guard arguments.count == 2 else {
                    throw ExpError(
                        .usage, "\(function)(…) for \(key) takes two numbers",
                        hint: "e.g. \(key)=\(function)(1e-4,1e-1)")
                }
                let ends = try numbers(arguments, function)
                guard ends[0] < ends[1] else {
                    throw ExpError(
                        .usage, "\(function)(…) for \(key) needs its low end first",
                        hint: "e.g. \(key)=\(function)(1e-4,1e-1)")
                }
                if function == "uniform" { return .uniform(ends[0], ends[1]) }
                guard ends[0] > 0 else {
                    throw ExpError(
                        .usage, "loguniform(…) for \(key) needs positive ends",
                        hint: "e.g. \(key)=loguniform(1e-4,1e-1)")
                }
                return .logUniform(ends[0], ends[1])
            case "choice":
                return .list(try list(arguments, key: key))
            default:
                break  // a list whose values hold parentheses
            }
        }
        return .list(try list(spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init), key: key))
    }

    private static func list(_ values: [String], key: String) throws -> [String] {
        let values = values.map { $0.trimmingCharacters(in: .whitespaces) }
        guard !values.isEmpty, !values.contains(where: \.isEmpty) else {
            throw ExpError(.usage, "the values of \(key) hold an empty one", hint: "e.g. \(key)=0.1,0.01")
        }
        guard values.count <= maxPoints else {
            throw ExpError(.usage, "\(key) has more than \(maxPoints) values")
        }
        return values
    }

    private static func range(_ words: [String], key: String, numbers: [Double]) throws -> [String] {
        let step = numbers.count == 3 ? numbers[2] : 1
        guard step != 0, (numbers[1] - numbers[0]) / step <= Double(maxPoints) else {
            throw ExpError(.usage, "range(…) for \(key) has a zero step or more than \(maxPoints) values")
        }
        let integers = words.allSatisfy { Int($0) != nil }
        var values: [String] = []
        var index = 0.0
        while true {
            let value = numbers[0] + index * step
            if step > 0 ? value >= numbers[1] : value <= numbers[1] { break }
            values.append(integers ? String(Int(value)) : format(value))
            index += 1
        }
        guard !values.isEmpty else {
            throw ExpError(.usage, "range(…) for \(key) is empty", hint: "the end is left out: range(1,4) is 1, 2, 3")
        }
        return values
    }

    /// A computed number as it is written into the command: 12 significant digits, so
    /// `log(1e-4,1e-1,4)` gives 0.001, not 0.0010000000000000002.
    static func format(_ value: Double) -> String {
        let rounded = Double(String(format: "%.12g", value)) ?? value
        if rounded == rounded.rounded(), abs(rounded) < 1e15 { return String(format: "%.1f", rounded) }
        return "\(rounded)"
    }
}

/// The points of a sweep: one value per param for each run.
public enum SweepSpace {
    /// Every combination of the params' values, the first param varying slowest.
    public static func grid(_ params: [SweepParam]) throws -> [[String: String]] {
        var points: [[String: String]] = [[:]]
        for param in params {
            guard case .list(let values) = param.values else {
                throw ExpError(
                    .usage, "\(param.key) is a distribution, which only random search samples",
                    hint: "give a number of random samples, or a list of values for \(param.key)")
            }
            guard points.count * values.count <= SweepParam.maxPoints else {
                throw ExpError(
                    .usage, "the grid has more than \(SweepParam.maxPoints) points",
                    hint: "use fewer values, or random search")
            }
            points = points.flatMap { point in values.map { point.merging([param.key: $0]) { _, new in new } } }
        }
        return points
    }

    /// `count` points drawn from the params with `seed`: the same seed gives the same points.
    public static func random(_ params: [SweepParam], count: Int, seed: UInt64) throws -> [[String: String]] {
        guard count >= 1, count <= SweepParam.maxPoints else {
            throw ExpError(.usage, "the number of random samples must be between 1 and \(SweepParam.maxPoints)")
        }
        var generator = SeededGenerator(seed: seed)
        func unit() -> Double { Double(generator.next() >> 11) * 0x1p-53 }
        return (0..<count).map { _ in
            var point: [String: String] = [:]
            for param in params {
                switch param.values {
                case .list(let values): point[param.key] = values[Int(generator.next() % UInt64(values.count))]
                case .uniform(let low, let high): point[param.key] = round(low + (high - low) * unit())
                case .logUniform(let low, let high):
                    point[param.key] = round(Foundation.exp(log(low) + (log(high) - log(low)) * unit()))
                }
            }
            return point
        }
    }

    /// A sampled number kept to 6 significant digits, as a person would write it.
    private static func round(_ value: Double) -> String {
        "\(Double(String(format: "%.6g", value)) ?? value)"
    }

    /// `argv` with each `{KEY}` replaced by the point's value; every key must appear somewhere.
    public static func substitute(_ argv: [String], point: [String: String]) -> [String] {
        argv.map { word in
            var word = word
            for (key, value) in point { word = word.replacingOccurrences(of: "{\(key)}", with: value) }
            return word
        }
    }

    /// Throws when a param's `{KEY}` appears nowhere in the command.
    public static func checkPlaceholders(_ argv: [String], params: [SweepParam]) throws {
        for param in params where !argv.contains(where: { $0.contains("{\(param.key)}") }) {
            throw ExpError(
                .usage, "the sweep param \(param.key) appears nowhere in the command",
                hint: "put {\(param.key)} in the command where its value goes")
        }
    }
}
