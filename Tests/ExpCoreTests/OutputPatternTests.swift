import ExpCore
import Foundation
import Testing

/// `exp.outputPattern` is matched by exp's own linear-time matcher; ICU's backtracking engine
/// (`NSRegularExpression`) is the oracle for what a match is.
@Suite("Output patterns (linear-time)")
struct OutputPatternTests {
    /// The groups of every match as ICU finds them, as scalar offsets (the tests use ASCII, so
    /// UTF-16 offsets are scalar offsets).
    static func oracle(_ pattern: String, _ line: String) throws -> [[Range<Int>?]] {
        let regex = try NSRegularExpression(pattern: pattern)
        return regex.matches(in: line, range: NSRange(location: 0, length: (line as NSString).length)).map { match in
            (0..<match.numberOfRanges).map { index in
                let range = match.range(at: index)
                return range.location == NSNotFound ? nil : range.location..<(range.location + range.length)
            }
        }
    }

    static func ours(_ pattern: String, _ line: String) throws -> [[Range<Int>?]] {
        try OutputPattern(pattern).matches(in: Array(line.unicodeScalars)).map(\.groups)
    }

    @Test(
        "named groups, classes, anchors and quantifiers match as ICU does",
        arguments: [
            (#"(?<key>\w+) -> (?<value>[0-9.]+) @ (?<step>\d+)"#, "reward -> 12.5 @ 40 and loss -> 0.1 @ 41"),
            (#"^(?<key>[a-z_]+)\s*=\s*(?<value>-?\d+(\.\d+)?(e-?\d+)?)$"#, "val_loss = 0.25e-3"),
            (#"(?<key>acc|loss)\W+(?<value>\S+)"#, "[acc]: 0.91, loss -- 2"),
            (#"a*?b"#, "aaab ab b"),
            (#"(a|ab)(c|bcd)(d*)"#, "abcd"),
            (#"x{2,3}"#, "x xx xxx xxxx xxxxx"),
            (#"x{2}|y{1,}"#, "xxx yyy"),
            (#"\bword\b"#, "word sword words word"),
            (#"\Bor\B"#, "word or more"),
            (#"[^\s,]+"#, "a, b,c  d"),
            (#"(?i)LOSS=(?<value>[\d.]+)"#, "loss=1 Loss=2 LOSS=3"),
            (#"[\]a-]+"#, "]a-b"),
            (#"(?:a*)*b"#, "aaab"),
            (#"(a*)+b"#, "bab"),
            (#"(a?)+?c"#, "aac"),
            (#"\.\*\+\?\(\)\[\]\{\}\|\\"#, #"x.*+?()[]{}|\y"#),
            (#"\x41\t"#, "A\tB"),
            (#"((a)|b)+"#, "abab"),
            (#"$"#, "abc"),
        ])
    func agreesWithICU(pattern: String, line: String) throws {
        #expect(try Self.ours(pattern, line) == Self.oracle(pattern, line))
    }

    /// Random patterns from the supported syntax on random lines, against ICU (seeded).
    @Test func randomPatternsAgreeWithICU() throws {
        var random = SeededGenerator(seed: 13)
        let atoms = ["a", "b", "c", ".", "[ab]", "[^a]", "\\d", "\\w", "\\s", "\\b", "x", "1", " "]
        func pattern(_ depth: Int) -> String {
            var text = ""
            for _ in 0..<Int.random(in: 0..<4, using: &random) + 1 {
                var atom = atoms[Int.random(in: 0..<atoms.count, using: &random)]
                if depth < 2 && Int.random(in: 0..<4, using: &random) == 0 {
                    let inner = pattern(depth + 1)
                    atom = (Int.random(in: 0..<2, using: &random) == 0 ? "(" : "(?:") + inner + ")"
                    // A loop whose body can match nothing is where backtracking engines differ
                    // among themselves (and ICU from PCRE); such a group gets no quantifier.
                    if (try? NSRegularExpression(pattern: "^(?:\(inner))$"))?.firstMatch(
                        in: "", range: NSRange(location: 0, length: 0)) != nil
                    {
                        text += atom
                        continue
                    }
                }
                if atom == "\\b" {
                    text += atom
                    continue
                }
                switch Int.random(in: 0..<8, using: &random) {
                case 0: atom += "*"
                case 1: atom += "+"
                case 2: atom += "?"
                case 3: atom += "{1,2}"
                case 4: atom += "*?"
                default: break
                }
                text += atom
            }
            if depth > 0 && Int.random(in: 0..<3, using: &random) == 0 { text += "|" + pattern(depth + 1) }
            return text
        }
        let alphabet = Array("aabbc1x .")
        var compared = 0
        for _ in 0..<600 {
            let regex = pattern(0)
            let line = String(
                (0..<Int.random(in: 0..<12, using: &random)).map { _ in
                    alphabet[Int.random(in: 0..<alphabet.count, using: &random)]
                })
            let expected = try Self.oracle(regex, line)
            let found = try Self.ours(regex, line)
            // Whole matches always agree. A group inside a loop whose body can match nothing
            // (`(x|\b)*`) may name another iteration than ICU's, the one place where a Pike
            // VM and a backtracking engine disagree on captures.
            let loopsOverGroups = [")*", ")+", ")?", "){"].contains { regex.contains($0) }
            if loopsOverGroups {
                #expect(found.map { $0.first } == expected.map { $0.first }, "pattern \(regex) on '\(line)'")
            } else {
                #expect(found == expected, "pattern \(regex) on '\(line)'")
            }
            compared += 1
        }
        #expect(compared == 600)
    }

    /// Patterns that make a backtracking engine take exponential time run in linear time
    /// here: a test that hung would fail by the time limit instead.
    @Test(.timeLimit(.minutes(1)))
    func catastrophicPatternsStayLinear() throws {
        let long = String(repeating: "a", count: 5000) + "!"
        for pattern in [#"(a+)+$"#, #"(a|a)*b"#, #"^(a*)*b$"#, #"(.*a){12}b"#, #"^(\w+\s?)*$"#] {
            let compiled = try OutputPattern(pattern)
            #expect(compiled.matches(in: Array(long.unicodeScalars)).isEmpty, "\(pattern)")
        }
        // And the parser that uses them keeps reading lines.
        var parser = try OutputScalarParser(extraPatterns: [#"(?<key>(a+)+)=(?<value>\d+)$"#])
        let found = parser.parse(String(repeating: "a", count: 3000) + "=")
        #expect(found.isEmpty)
        #expect(parser.parse("aaa=3").contains { $0.key == "aaa" && $0.value == 3 })
    }

    @Test(
        "what cannot be matched in linear time, or is malformed, is refused with its column",
        arguments: [
            (#"(a)\1"#, "back-references"), (#"a(?=b)"#, "look-around"), (#"(?<!a)b"#, "look-around"),
            (#"a++"#, "possessive"), (#"(a"#, "not closed"), (#"a)"#, "unmatched"), (#"*a"#, "nothing to repeat"),
            (#"[a"#, "not closed"), (#"a{3,1}"#, "goes down"), (#"(?<key>a)(?<key>b)"#, "used twice"),
            (#"\q"#, "not supported"), ("", "empty"), (#"(?>a)"#, "not supported"),
        ])
    func refused(pattern: String, reason: String) {
        do {
            _ = try OutputPattern(pattern)
            Issue.record("\(pattern) was accepted")
        } catch {
            #expect(error.message.contains(reason), "\(pattern): \(error.message)")
            #expect(error.column >= 1 && error.column <= pattern.count + 1)
        }
    }

    @Test func pythonStyleGroupNames() throws {
        var parser = try OutputScalarParser(extraPatterns: [#"(?P<key>\w+) -> (?P<value>[0-9.]+)"#])
        #expect(parser.parse("reward -> 2.5").contains { $0.key == "reward" && $0.value == 2.5 })
    }

    @Test func sizeIsBounded() {
        #expect(throws: OutputPatternError.self) { try OutputPattern("((a{100}){100}){100}") }
        #expect(throws: OutputPatternError.self) {
            try OutputPattern(String(repeating: "(", count: 150) + "a" + String(repeating: ")", count: 150))
        }
        #expect(throws: OutputPatternError.self) { try OutputPattern(String(repeating: "a", count: 5000)) }
    }
}
