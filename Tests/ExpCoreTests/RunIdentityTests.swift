import Foundation
import Testing

@testable import ExpCore

// SeededGenerator (SplitMix64) comes from SnapshotPropertyTests.swift.

@Suite("Run ids and names")
struct RunIdentityTests {
    static let alphabet = Set("0123456789abcdefghjkmnpqrstvwxyz")

    @Test func idsRoundTripThroughTextAndJSON() throws {
        let date = Date(timeIntervalSince1970: 1_717_000_000.75)
        let id = RunID.generate(at: date, random: RandomSource(seed: nil))
        #expect(id.rawValue.count == 26)
        #expect(id.rawValue.allSatisfy { Self.alphabet.contains($0) })
        #expect(id.startSeconds == 1_717_000_000)
        #expect(RunID(id.rawValue) == id)
        #expect(RunID(id.rawValue.uppercased()) == id)
        #expect(RunID(id.rawValue.uppercased())?.rawValue == id.rawValue)
        #expect(id.description == id.rawValue)
        #expect(id.short == String(id.rawValue.prefix(10)))
        #expect(id.short.count == 10)
        let json = try JSONEncoder().encode(["id": id])
        #expect(String(decoding: json, as: UTF8.self) == #"{"id":"\#(id.rawValue)"}"#)
        #expect(try JSONDecoder().decode([String: RunID].self, from: json) == ["id": id])
        #expect(throws: (any Error).self) {
            try JSONDecoder().decode([String: RunID].self, from: Data(#"{"id":"nope"}"#.utf8))
        }
    }

    @Test func timePartIsBigEndianBase32() {
        var generator = SeededGenerator(seed: 1)
        #expect(RunID.generate(at: Date(timeIntervalSince1970: 0), using: &generator).rawValue.hasPrefix("0000000"))
        #expect(RunID.generate(at: Date(timeIntervalSince1970: 31), using: &generator).rawValue.hasPrefix("000000z"))
        #expect(RunID.generate(at: Date(timeIntervalSince1970: 32), using: &generator).rawValue.hasPrefix("0000010"))
        #expect(RunID.generate(at: Date(timeIntervalSince1970: -5), using: &generator).startSeconds == 0)
        let last = RunID.generate(at: Date(timeIntervalSince1970: 1e12), using: &generator)
        #expect(last.rawValue.hasPrefix("zzzzzzz"))
        #expect(last.startSeconds == (1 << 35) - 1)
    }

    @Test func seededGeneratorRepeats() {
        var first = SeededGenerator(seed: 42)
        var second = SeededGenerator(seed: 42)
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RunID.generate(at: date, using: &first) == RunID.generate(at: date, using: &second))
    }

    @Test func idsSortByStartTime() {
        var generator = SystemRandomNumberGenerator()
        let ids = stride(from: 1_600_000_000.0, to: 1_600_000_000.0 + 5000 * 3607.3, by: 3607.3).map {
            RunID.generate(at: Date(timeIntervalSince1970: $0), using: &generator)
        }
        #expect(ids.sorted() == ids)
        #expect(ids.map(\.rawValue).sorted() == ids.map(\.rawValue))
        #expect(ids.map(\.startSeconds) == ids.map(\.startSeconds).sorted())
        // Whole seconds apart, however the random parts fall.
        let a = RunID.generate(at: Date(timeIntervalSince1970: 1_700_000_000), using: &generator)
        let b = RunID.generate(at: Date(timeIntervalSince1970: 1_700_000_001), using: &generator)
        #expect(a < b)
    }

    @Test func idsMadeInOneSecondAreUnique() {
        let date = Date(timeIntervalSince1970: 1_700_000_000)
        let system = RandomSource(seed: nil)
        let ids = (0..<10_000).map { _ in RunID.generate(at: date, random: system) }
        #expect(Set(ids).count == 10_000)
        #expect(Set(ids.map { $0.rawValue.prefix(7) }).count == 1)
    }

    @Test(arguments: [
        "", "0", "01hx5v7k2m", "0123456789abcdefghjkmnpqr", "0123456789abcdefghjkmnpqrst",
        "0123456789abcdefghjkmnpqri", "0123456789abcdefghjkmnpqrl", "0123456789abcdefghjkmnpqro",
        "0123456789abcdefghjkmnpqru", "0123456789abcdefghjkmnpqr-", "0123456789abcdefghjkmnpqr ",
        "0123456789abcdefghjkmnpqré",
    ])
    func rejectsBadText(_ text: String) {
        #expect(RunID(text) == nil)
    }

    @Test func acceptsTheWholeAlphabet() {
        #expect(RunID("0123456789abcdefghjkmnpqrs")?.rawValue == "0123456789abcdefghjkmnpqrs")
        #expect(RunID("0000000TVWXYZ0000000000000")?.rawValue == "0000000tvwxyz0000000000000")
    }

    @Test func namesAvoidTakenOnes() throws {
        var generator = SeededGenerator(seed: 7)
        var taken: Set<String> = []
        for _ in 0..<2000 {
            let name = RunName.generate(avoiding: taken, using: &generator)
            #expect(!taken.contains(name))
            try RunName.validate(name)
            taken.insert(name)
        }
        // Every plain pair taken: falls back to a numbered name.
        let all = Set(RunName.adjectives.flatMap { adjective in RunName.nouns.map { "\(adjective)-\($0)" } })
        let numbered = RunName.generate(avoiding: all, using: &generator)
        #expect(numbered.hasSuffix("-2"))
        #expect(!all.contains(numbered))
        try RunName.validate(numbered)
        let next = RunName.generate(avoiding: all.union([numbered]), using: &generator)
        #expect(!all.contains(next) && next != numbered)
    }

    @Test func wordListsAreFriendlyAndDistinct() throws {
        for list in [RunName.adjectives, RunName.nouns] {
            #expect(list.count >= 100)
            #expect(Set(list).count == list.count)
            for word in list {
                #expect(!word.isEmpty && word.allSatisfy { ("a"..."z").contains($0) }, "\(word)")
            }
        }
        for adjective in RunName.adjectives {
            for noun in RunName.nouns { try RunName.validate("\(adjective)-\(noun)") }
        }
    }

    @Test(arguments: [
        "brave-otter", "baseline", "lr-0.01", "resnet50_v2", "a", "7", "exp.1", "run-2024-06-01", "abc123",
        "latest2", "mini", "tree", "autosave", "0123456789abcdefghjkmnpqrst0", "abcdefghjk", "123456",
        String(repeating: "a", count: 100),
    ])
    func acceptsGoodNames(_ name: String) throws {
        try RunName.validate(name)
    }

    @Test(arguments: [
        "", "latest", "latest~1", "min:loss", "max:acc", "tree:abc", "autosave-01hx", "Brave", "-x", ".x", "_x",
        "a..b", "a.", "run.lock", "a/b", "a b", "a:b", "a~b", "a^b", "a@b", "ünï", "x\n",
        String(repeating: "a", count: 101), "01hx5v7", "01hx5v7k2m", "0123456789abcdefghjkmnpqrs", "abc1234",
    ])
    func rejectsBadNames(_ name: String) {
        #expect(throws: ExpError.self) { try RunName.validate(name) }
    }

    @Test func errorsSayWhatIsWrong() throws {
        let reserved = try #require(throws: ExpError.self) { try RunName.validate("latest") }
        #expect(reserved.message.contains("reserved"))
        #expect(reserved.hint != nil)
        let idLike = try #require(throws: ExpError.self) { try RunName.validate("01hx5v7k2m") }
        #expect(idLike.message.contains("run id"))
        #expect(idLike.hint != nil)
        let bad = try #require(throws: ExpError.self) { try RunName.validate("my run") }
        #expect(bad.message.contains("' '"))
    }
}

@Suite("Identity from the context: EXP_HOST, EXP_USER, EXP_SEED")
struct ContextIdentityTests {
    static let fixed = [
        "EXP_HOST": "h", "EXP_USER": "u", "EXP_SEED": "7", "EXP_NOW": "2026-01-01T00:00:00Z", "USER": "real",
    ]

    @Test func takesHostUserSeedAndClockFromTheEnvironment() {
        let context = ExpContext(workingDirectory: "/", environment: Self.fixed)
        #expect(context.host == "h")
        #expect(context.user == "u")
        #expect(context.random.isSeeded)
        #expect(context.now() == Date(timeIntervalSince1970: 1_767_225_600))
    }

    @Test func unsetOrEmptyFallsBackToTheSystem() {
        let context = ExpContext(workingDirectory: "/", environment: ["EXP_HOST": "", "USER": "ada"])
        #expect(context.host == LocalMachine.hostName)
        #expect(!context.host.isEmpty)
        #expect(context.user == "ada")
        #expect(!context.random.isSeeded)
        #expect(ExpContext(workingDirectory: "/", environment: ["EXP_USER": "", "LOGNAME": "grace"]).user == "grace")
    }

    @Test func theSameSeedGivesTheSameIdsAndNames() {
        func draw(_ environment: [String: String]) -> [String] {
            let context = ExpContext(workingDirectory: "/", environment: environment)
            return (0..<5).flatMap { _ in
                [
                    RunName.generate(avoiding: [], random: context.random),
                    RunID.generate(at: context.now(), random: context.random).rawValue,
                ]
            }
        }
        #expect(draw(Self.fixed) == draw(Self.fixed))
        var other = Self.fixed
        other["EXP_SEED"] = "8"
        #expect(draw(Self.fixed) != draw(other))
        // Any text is a seed, and a stable one.
        other["EXP_SEED"] = "lr-sweep"
        #expect(draw(other) == draw(other))
        #expect(ExpContext.parseSeed("7") == 7)
        #expect(ExpContext.parseSeed("lr-sweep") == ExpContext.parseSeed("lr-sweep"))
        #expect(ExpContext.parseSeed("lr-sweep") != ExpContext.parseSeed("lr-sweeq"))
    }

    @Test func copiesOfAContextDrawFromOneSequence() {
        let context = ExpContext(workingDirectory: "/", environment: Self.fixed)
        let copy = context
        let first = RunID.generate(at: context.now(), random: context.random)
        let second = RunID.generate(at: copy.now(), random: copy.random)
        #expect(first != second, "a copy must not replay the same numbers")
    }

    @Test func givenValuesWinOverTheEnvironment() {
        let context = ExpContext(
            workingDirectory: "/", environment: Self.fixed, host: "given-host", user: "given-user",
            random: RandomSource(seed: nil))
        #expect(context.host == "given-host")
        #expect(context.user == "given-user")
        #expect(!context.random.isSeeded)
    }
}
