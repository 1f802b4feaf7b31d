import ExpGit
public import Foundation

/// A run's id: sortable by start time and unique without coordination.
///
/// 26 characters of lower-case Crockford base32 (`0-9 a-z` without `i l o u`): 7 characters
/// of seconds since the Unix epoch (big-endian, zero-padded; good until the year 3058), then
/// 19 random characters (95 bits). The alphabet is in ASCII order, so ids sort by start time
/// as plain strings. Valid in a ref name and in a file name.
public struct RunID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    /// The 26 lower-case characters.
    public let rawValue: String

    /// Length of the time part.
    static let timeLength = 7
    /// Length of the whole id.
    static let length = 26
    /// Crockford's base32 alphabet, lower case, in ASCII order.
    static let alphabet: [UInt8] = Array("0123456789abcdefghjkmnpqrstvwxyz".utf8)

    /// The id spelled by `text` (upper case accepted); nil unless it is 26 characters of the
    /// alphabet.
    public init?(_ text: String) {
        let bytes = Array(text.lowercased().utf8)
        guard bytes.count == Self.length, bytes.allSatisfy({ Self.digitValue($0) != nil }) else { return nil }
        rawValue = String(decoding: bytes, as: UTF8.self)
    }

    private init(validated rawValue: String) { self.rawValue = rawValue }

    /// A new id for a run started at `date`, its random part drawn from `generator`.
    /// Dates before 1970 count as second 0.
    public static func generate(at date: Date, using generator: inout some RandomNumberGenerator) -> RunID {
        let maxSeconds = (Int64(1) << (5 * timeLength)) - 1
        var seconds = min(max(Int64(date.timeIntervalSince1970.rounded(.down)), 0), maxSeconds)
        var bytes = [UInt8](repeating: alphabet[0], count: length)
        for position in stride(from: timeLength - 1, through: 0, by: -1) {
            bytes[position] = alphabet[Int(seconds & 31)]
            seconds >>= 5
        }
        for position in timeLength..<length {
            bytes[position] = alphabet[Int(generator.next(upperBound: UInt8(32)))]
        }
        return RunID(validated: String(decoding: bytes, as: UTF8.self))
    }

    /// A new id for a run started at `date`, its random part drawn from `random` (a context's
    /// source: seeded by `EXP_SEED`, else the system's random numbers).
    public static func generate(at date: Date, random: RandomSource) -> RunID {
        var generator = random
        return generate(at: date, using: &generator)
    }

    /// The first 10 characters, as shown to users (like a short commit hash).
    public var short: String { String(rawValue.prefix(10)) }

    /// Start time in seconds since the Unix epoch, decoded from the first 7 characters.
    public var startSeconds: Int64 {
        rawValue.utf8.prefix(Self.timeLength).reduce(Int64(0)) { $0 << 5 | Int64(Self.digitValue($1) ?? 0) }
    }

    public var description: String { rawValue }

    public static func < (lhs: RunID, rhs: RunID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let id = RunID(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a run id: '\(text)'")
        }
        self = id
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    /// The value of a lower-case alphabet character; nil for anything else.
    static func digitValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"):
            return alphabet.firstIndex(of: byte)
        default: return nil
        }
    }
}

/// Human run names (`brave-otter`): an adjective and a noun from built-in lists of friendly,
/// lower-case ASCII words.
public enum RunName {
    /// A random name not in `taken`. After 50 clashes it falls back to `adjective-noun-N`
    /// with the smallest free N ≥ 2.
    public static func generate(avoiding taken: Set<String>, using generator: inout some RandomNumberGenerator)
        -> String
    {
        var name = ""
        for _ in 0..<50 {
            name = adjectives.randomElement(using: &generator)! + "-" + nouns.randomElement(using: &generator)!
            if !taken.contains(name) { return name }
        }
        var number = 2
        while taken.contains("\(name)-\(number)") { number += 1 }
        return "\(name)-\(number)"
    }

    /// A random name not in `taken`, drawn from `random` (a context's source).
    public static func generate(avoiding taken: Set<String>, random: RandomSource) -> String {
        var generator = random
        return generate(avoiding: taken, using: &generator)
    }

    /// Checks that `name` can be a run name, throwing an `ExpError` that says why not.
    ///
    /// A name is 1 to 100 characters of `a-z 0-9 . _ -`, starting with a letter or digit, with
    /// no `..`, not ending in `.` or `.lock` (so it is valid in a ref and a file name). It must
    /// not read as a run reference: not `latest`, nor starting with `latest~`, `min:`, `max:`,
    /// `tree:` or `autosave-`, nor 7 to 26 characters of the run-id alphabet holding a digit
    /// (it could be taken for an id prefix).
    public static func validate(_ name: String) throws {
        let hint = "use lower-case letters, digits, '.', '_' and '-', e.g. lr-sweep-small"
        if name.isEmpty { throw ExpError(.usage, "a run name can't be empty", hint: hint) }
        for reserved in ["latest~", "min:", "max:", "tree:", "autosave-"] where name.hasPrefix(reserved) {
            throw ExpError(
                .usage, "invalid run name '\(name)': names starting with '\(reserved)' are reserved", hint: hint)
        }
        if name == "latest" {
            throw ExpError(.usage, "invalid run name 'latest': it is reserved for the newest run", hint: hint)
        }
        let bytes = Array(name.utf8)
        func allowed(_ byte: UInt8, first: Bool) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): return true
            case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"): return !first
            default: return false
            }
        }
        guard bytes.count <= 100 else {
            throw ExpError(.usage, "invalid run name: \(bytes.count) characters, at most 100 allowed", hint: hint)
        }
        guard allowed(bytes[0], first: true) else {
            throw ExpError(
                .usage, "invalid run name '\(name)': it must start with a lower-case letter or a digit", hint: hint)
        }
        if let bad = name.first(where: { $0.utf8.count != 1 || !allowed($0.utf8.first!, first: false) }) {
            throw ExpError(.usage, "invalid run name '\(name)': '\(bad)' is not allowed in a run name", hint: hint)
        }
        if name.contains("..") {
            throw ExpError(.usage, "invalid run name '\(name)': it can't contain '..'", hint: hint)
        }
        if name.hasSuffix(".") || name.hasSuffix(".lock") {
            throw ExpError(.usage, "invalid run name '\(name)': it can't end in '.' or '.lock'", hint: hint)
        }
        if (RunID.timeLength...RunID.length).contains(bytes.count),
            bytes.allSatisfy({ RunID.digitValue($0) != nil }),
            bytes.contains(where: { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) })
        {
            throw ExpError(
                .usage, "invalid run name '\(name)': it could be mistaken for a run id",
                hint: "add a '-' or '_' (e.g. '\(name.prefix(bytes.count / 2))-\(name.dropFirst(bytes.count / 2))')")
        }
    }

    /// Friendly adjectives (lower-case ASCII, no hyphen).
    static let adjectives: [String] = [
        "agile", "amber", "ample", "ancient", "arctic", "autumn", "azure", "bold", "brave", "breezy",
        "bright", "brisk", "bronze", "bubbly", "calm", "candid", "careful", "cheerful", "chipper", "clever",
        "cosmic", "cozy", "crisp", "curious", "dapper", "daring", "dazzling", "eager", "early", "earnest",
        "easy", "elegant", "emerald", "epic", "fair", "fancy", "fearless", "festive", "fierce", "fluffy",
        "fond", "frosty", "fuzzy", "gentle", "giddy", "gifted", "glad", "gleaming", "golden", "graceful",
        "grand", "happy", "hardy", "hearty", "helpful", "honest", "humble", "icy", "jolly", "jovial",
        "keen", "kind", "lively", "loyal", "lucky", "lunar", "magic", "mellow", "merry", "mighty",
        "misty", "modest", "nimble", "noble", "polite", "proud", "quick", "quiet", "radiant", "rapid",
        "rosy", "royal", "rustic", "sandy", "serene", "sharp", "shiny", "silent", "silky", "silver",
        "sleek", "smart", "snowy", "solar", "sparkly", "speedy", "spry", "stellar", "steady", "sturdy",
        "sunny", "super", "swift", "tidy", "tranquil", "trusty", "upbeat", "valiant", "velvet", "vivid",
        "warm", "wise", "witty", "zany", "zesty", "zippy", "plucky", "patient", "peppy", "jazzy",
    ]

    /// Friendly nouns, mostly animals and things in nature (lower-case ASCII, no hyphen).
    static let nouns: [String] = [
        "alpaca", "badger", "beaver", "bison", "bobcat", "buffalo", "camel", "canary", "caribou", "cheetah",
        "chipmunk", "cobra", "condor", "cougar", "coyote", "crane", "cricket", "dingo", "dolphin", "dove",
        "eagle", "egret", "falcon", "ferret", "finch", "flamingo", "fox", "gazelle", "gecko", "gibbon",
        "giraffe", "goose", "gopher", "hawk", "hedgehog", "heron", "hippo", "ibis", "iguana", "impala",
        "jackal", "jaguar", "koala", "lemur", "leopard", "lion", "llama", "lobster", "lynx", "macaw",
        "magpie", "marmot", "meerkat", "mole", "moose", "narwhal", "newt", "ocelot", "octopus", "orca",
        "osprey", "otter", "owl", "panda", "panther", "parrot", "pelican", "penguin", "puffin", "puma",
        "quail", "rabbit", "raccoon", "raven", "robin", "salmon", "seal", "shark", "sloth", "sparrow",
        "squid", "stork", "swan", "tapir", "tiger", "toucan", "turtle", "walrus", "weasel", "whale",
        "wombat", "wren", "yak", "zebra", "acorn", "aurora", "birch", "breeze", "brook", "canyon",
        "cedar", "comet", "coral", "dune", "ember", "fern", "glacier", "harbor", "lagoon", "maple",
        "meadow", "meteor", "nebula", "orchid", "pebble", "pine", "river", "summit", "thunder", "willow",
    ]
}

extension RunStore {
    /// A new id for a run (or an autosave) started at `date`, drawn from the context's random
    /// source, that no run, autosave or live folder of this repository has yet.
    ///
    /// With real randomness a clash never happens; with `EXP_SEED` every process replays the
    /// same numbers, and under a fixed clock (`EXP_NOW`) its first draw is the id the previous
    /// run got, so it draws again: the ids stay reproducible and distinct.
    func newRunID(at date: Date) throws -> RunID {
        let random = workspace.context.random
        for _ in 0..<1000 {
            let id = RunID.generate(at: date, random: random)
            let autosave = ReferenceName(Self.autosavePrefix + id.rawValue)
            let taken =
                try translatingGitErrors {
                    try repository.resolve(referenceName(id)) != nil
                        || autosave.map { try repository.resolve($0) != nil } ?? false
                } || FileManager.default.fileExists(atPath: liveDirectory(id))
            if !taken { return id }
        }
        throw ExpError(.internal, "could not find a free run id in 1000 draws (is EXP_SEED's sequence exhausted?)")
    }
}
