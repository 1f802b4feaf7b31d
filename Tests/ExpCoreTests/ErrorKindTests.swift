import ExpCore
import ExpGit
import ExpTestSupport
import Foundation
import Testing

/// The core's errors are values a web server or the CLI can act on: a kind, and a typed
/// reason where a caller needs one, never text to pick apart.
@Suite("Typed errors: kinds and payloads")
struct ErrorKindTests {
    /// Records a finished run of `true` over the repository's current files.
    @discardableResult
    func record(_ repo: TestRepo, name: String) throws -> StoredRun {
        let workspace = try Workspace(context: repo.context())
        let finished = try workspace.run(RunRequest(argv: ["true"], name: name, usePseudoTerminal: false)) { _ in }
        return try RunStore(workspace: workspace).resolve(RunRef(parsing: finished.record.id.rawValue))
    }

    func store(_ repo: TestRepo) throws -> RunStore {
        RunStore(workspace: try Workspace(context: repo.context()))
    }

    @Test func anAmbiguousTreeListsItsRunsAsTypedCandidates() throws {
        let repo = try TestRepo()
        try repo.write("train.py", "print(1)\n")
        try repo.commitAll("init")
        let first = try record(repo, name: "first")
        let second = try record(repo, name: "second")
        let tree = try repo.gitAddAllTree()
        #expect(first.record.snapshot.tree.hex == tree, "git agrees on the code both ran")
        let reference = try RunRef(parsing: "tree:" + tree)
        let error = #expect(throws: ExpError.self) { try store(repo).resolve(reference) }
        #expect(error?.kind == .ambiguous)
        guard case .ambiguousRun(let named, let candidates, let total)? = error?.reason else {
            Issue.record("no ambiguousRun reason: \(String(describing: error?.reason))")
            return
        }
        #expect(named == reference)
        #expect(total == 2)
        #expect(
            Set(candidates) == [
                ExpError.RunCandidate(id: first.record.id, name: "first"),
                ExpError.RunCandidate(id: second.record.id, name: "second"),
            ])
        #expect(error?.message.contains("\n") == false, "the list is a payload, not text in the message")
    }

    @Test func anUnknownNameIsNotFoundWithItsReference() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        try repo.commitAll("init")
        let empty = #expect(throws: ExpError.self) { try store(repo).resolve(RunRef(parsing: "latest")) }
        #expect(empty?.kind == .notFound)
        #expect(empty?.reason == .noRuns)

        try record(repo, name: "baseline")
        let unknown = #expect(throws: ExpError.self) { try store(repo).resolve(RunRef(parsing: "zzz")) }
        #expect(unknown?.kind == .notFound)
        #expect(unknown?.reason == .runNotFound(.text("zzz"), suggestions: []))
        let close = #expect(throws: ExpError.self) { try store(repo).resolve(RunRef(parsing: "base")) }
        #expect(close?.reason == .runNotFound(.text("base"), suggestions: ["baseline"]))
    }

    @Test func aMalformedReferenceIsAUsageError() throws {
        let error = #expect(throws: ExpError.self) { try RunRef(parsing: "latest~x") }
        #expect(error?.kind == .usage)
        #expect(error?.reason == .badRunReference("latest~x"))
    }

    @Test func aBlockedCheckoutCarriesThePathsAndChangesNothing() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        try repo.write("b.txt", "b\n")
        try repo.commitAll("init")
        let run = try record(repo, name: "clean")
        try repo.write("b.txt", "mine\n")
        try repo.write("a.txt", "mine too\n")
        let status = try repo.git(["status", "--porcelain"])
        let workspace = try Workspace(context: repo.context())
        let error = #expect(throws: ExpError.self) {
            try workspace.checkout(CheckoutRequest(run: .text(run.record.name)))
        }
        #expect(error?.kind == .conflict)
        #expect(error?.reason == .checkoutBlocked(run: "clean", paths: ["a.txt", "b.txt"]))
        #expect(try repo.git(["status", "--porcelain"]) == status, "git sees the same changes")
    }

    @Test func checkoutOptionsThatExcludeEachOtherAreAUsageError() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        try repo.commitAll("init")
        let run = try record(repo, name: "one")
        let workspace = try Workspace(context: repo.context())
        let error = #expect(throws: ExpError.self) {
            try workspace.checkout(CheckoutRequest(run: .text(run.record.name), into: "elsewhere", paths: ["a.txt"]))
        }
        #expect(error?.kind == .usage)
        #expect(error?.reason == .cannotCombine(.folder, .paths))
    }

    @Test func aBareRepositoryAndNoRepositoryAreTyped() throws {
        let bare = try TestRepo(bare: true)
        let error = #expect(throws: ExpError.self) { try Workspace(context: bare.context()) }
        #expect(error?.kind == .conflict)
        #expect(error?.reason == .bareRepository(path: bare.root))

        let folder = TemporaryFolder()
        let context = ExpContext(
            workingDirectory: folder.path, environment: TestRepo.hermeticEnvironment(home: folder.path))
        let outside = #expect(throws: ExpError.self) { try Workspace(context: context) }
        #expect(outside?.kind == .notFound)
        #expect(outside?.reason == .notARepository(path: folder.path))

        let missing = ExpContext(
            workingDirectory: folder.path + "/nope", environment: TestRepo.hermeticEnvironment(home: folder.path))
        let gone = #expect(throws: ExpError.self) { try Workspace(context: missing) }
        #expect(gone?.reason == .noSuchFolder(path: folder.path + "/nope"))
    }

    @Test func aTakenRunNameIsAConflictNamingIt() throws {
        let repo = try TestRepo()
        try repo.write("a.txt", "a\n")
        try repo.commitAll("init")
        try record(repo, name: "first")
        let second = try record(repo, name: "second")
        let error = #expect(throws: ExpError.self) { try store(repo).renameRun(second, to: "first") }
        #expect(error?.kind == .conflict)
        #expect(error?.reason == .runNameTaken("first"))
    }

    @Test(arguments: [
        (GitError.Code.notFound, GitError.ErrorClass.odb, ExpError.Kind.notFound),
        (.exists, .reference, .conflict),
        (.modified, .reference, .conflict),
        (.bareRepository, .repository, .conflict),
        (.ambiguous, .odb, .ambiguous),
        (.mismatch, .odb, .corrupt),
        (.generic, .config, .config),
        (.generic, .zlib, .corrupt),
        (.generic, .os, .io),
        (.generic, .none, .io),
        (.generic, .noMemory, .internal),
    ])
    func aGitErrorsKindComesFromItsCodeAndClass(
        _ code: GitError.Code, _ errorClass: GitError.ErrorClass, _ kind: ExpError.Kind
    ) {
        let error = GitError(operation: "could not do it", reason: "because", code: code, errorClass: errorClass)
        #expect(ExpError(error).kind == kind)
        #expect(ExpError(error).message == "could not do it: because")
    }

    @Test func theOldInitialiserStillBuildsAnUnclassifiedError() {
        let error = ExpError("something failed", hint: "try again")
        #expect(error.kind == .internal)
        #expect(error.reason == nil)
        #expect(error.hint == "try again")
    }
}

/// The core's error messages and hints read well without a command line: they name no `exp`
/// subcommand and no flag. The CLI words those (`Sources/exp/ErrorHints.swift`).
@Suite("The core speaks no CLI")
struct CoreSpeaksNoCLITests {
    /// The package root, from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    /// exp's subcommands, as the CLI spells them.
    static let subcommands = [
        "run", "list", "show", "log", "metrics", "plot", "snapshot", "diff", "checkout", "rerun", "rm", "rename",
        "note", "reindex", "fsck", "artifacts", "gc", "store-file", "push", "pull", "hooks", "hook", "help",
    ]

    /// Literals that name exp's commands on purpose, because they are not messages: each is a
    /// (file, text the literal contains) pair, with why. Besides these, a literal that starts
    /// `exp <command>: ` is a reflog message, which names the command that wrote it as git's own
    /// do (`checkout: moving from …`).
    static let allowed: [(file: String, text: String, why: String)] = [
        ("Store/RunStore.swift", "exp run x: ", "record commit subject (stored format)"),
        ("Hooks/AutoTag.swift", "exp run x: ", "run tag message (stored format)"),
        ("Run/LiveRun.swift", "exp snapshot for run ", "snapshot commit message (stored format)"),
        ("Compare/RunDiff.swift", "exp diff", "snapshot commit message (stored format)"),
        ("Snapshot/TakeSnapshot.swift", "exp snapshot", "snapshot commit message (stored format)"),
        ("Restore/Checkout.swift", "saved before exp checkout", "autosave commit message (stored format)"),
        ("Capture/MetricsWatcher.swift", "exp metrics watcher", "a thread's name"),
        // The hook scripts exp installs are shell programs that call the CLI.
        ("Hooks/HookInstaller.swift", "exp hook", "hook script calls `exp hook NAME`"),
        ("Hooks/HookInstaller.swift", "rm -f", "hook script (shell)"),
        ("Hooks/HookInstaller.swift", "[ -x", "hook script (shell)"),
        ("Hooks/HookInstaller.swift", "command -v", "hook script (shell)"),
    ]

    @Test func noCoreLiteralNamesACommandOrAFlag() throws {
        var found: [String] = []
        for folder in ["Sources/ExpCore", "Sources/ExpGit"] {
            let base = Self.root + "/" + folder
            let files = try #require(FileManager.default.enumerator(atPath: base)).compactMap { $0 as? String }
                .filter { $0.hasSuffix(".swift") }.sorted()
            #expect(!files.isEmpty, "no sources under \(base)")
            for file in files {
                let source = try String(contentsOfFile: base + "/" + file, encoding: .utf8)
                for literal in SwiftLiterals.strings(in: source) {
                    guard let word = Self.cliWord(in: literal.text),
                        literal.text.prefixMatch(of: #/exp [a-z-]+: /#) == nil
                    else { continue }
                    if Self.allowed.contains(where: { file.hasSuffix($0.file) && literal.text.contains($0.text) }) {
                        continue
                    }
                    found.append("\(folder)/\(file):\(literal.line): \(word) in \"\(literal.text)\"")
                }
            }
        }
        #expect(found.isEmpty, "CLI words in the core:\n\(found.joined(separator: "\n"))")
    }

    @Test func theScannerFindsCommandsAndFlags() {
        #expect(Self.cliWord(in: "use --force to replace them") == "--force")
        #expect(Self.cliWord(in: "list them with: exp artifacts x") == "exp artifacts")
        #expect(Self.cliWord(in: "check the path given to -C") == "-C")
        #expect(Self.cliWord(in: "give a second run: `exp diff x RUN2 --x`") == "exp diff")
        #expect(Self.cliWord(in: "commit them, or `git stash` them") == nil)
        #expect(Self.cliWord(in: "`git update-index --no-split-index` and try again") == nil)
        #expect(Self.cliWord(in: "--porcelain") == nil, "an argument given to git")
        #expect(Self.cliWord(in: "exp runs, exp records") == nil)
        #expect(Self.cliWord(in: "e.g. val_loss, or -started for newest first") == nil)
        let literals = SwiftLiterals.strings(
            in: """
                // "exp run" in a comment
                let a = "one \\(b.map { "exp gc" }) two"
                let c = \"\"\"
                    multi --flag
                    \"\"\"
                """)
        #expect(literals.map(\.text) == ["one x two", "exp gc", "multi --flag\n"])
        #expect(literals.map(\.line) == [2, 2, 3])
    }

    /// The first CLI word in `text`: `exp <subcommand>`, `--flag` or `-F`, outside backticked
    /// git commands; nil when there is none. A literal that is only a flag is an argument
    /// exp passes to a program it runs, not a message.
    static func cliWord(in text: String) -> String? {
        if text.wholeMatch(of: /--?[A-Za-z][\w.-]*(=.*)?/) != nil { return nil }
        let words = text.replacing(/`git [^`]*`/, with: "")
        let commands = subcommands.joined(separator: "|")
        if let match = try? Regex("\\bexp (\(commands))\\b").firstMatch(in: words) {
            return String(words[match.range])
        }
        if let match = words.firstMatch(of: /(?:^|[\s(\[`'"=,])(--[a-z][a-z0-9-]*|-[A-Za-z])(?=$|[\s)\]`'",.;:=])/) {
            return String(match.output.1)
        }
        return nil
    }
}

/// The string literals of Swift source text, each with its first line; interpolations are
/// replaced by `x`, and string literals inside them are literals of their own.
enum SwiftLiterals {
    struct Literal {
        var text: String
        var line: Int
    }

    static func strings(in source: String) -> [Literal] {
        var lexer = Lexer(characters: Array(source))
        lexer.code(until: nil)
        return lexer.found.sorted { $0.offset < $1.offset }.map { Literal(text: $0.text, line: $0.line) }
    }

    private struct Lexer {
        let characters: [Character]
        var index = 0
        var line = 1
        var found: [(text: String, line: Int, offset: Int)] = []

        init(characters: [Character]) { self.characters = characters }

        func peek(_ offset: Int = 0) -> Character? {
            index + offset < characters.count ? characters[index + offset] : nil
        }

        mutating func advance() {
            if characters[index] == "\n" { line += 1 }
            index += 1
        }

        /// Code up to the `)` that closes an interpolation (or the end for nil).
        mutating func code(until close: Character?) {
            var depth = 0
            while let character = peek() {
                if character == "/" && peek(1) == "/" {
                    while let next = peek(), next != "\n" { advance() }
                } else if character == "/" && peek(1) == "*" {
                    var nesting = 0
                    repeat {
                        if peek() == "/" && peek(1) == "*" {
                            nesting += 1
                            advance()
                        } else if peek() == "*" && peek(1) == "/" {
                            nesting -= 1
                            advance()
                        }
                        advance()
                    } while nesting > 0 && peek() != nil
                } else if character == "\"" {
                    literal()
                } else if character == "(" {
                    depth += 1
                    advance()
                } else if character == ")" {
                    if depth == 0 && close == ")" {
                        advance()
                        return
                    }
                    depth -= 1
                    advance()
                } else {
                    advance()
                }
            }
        }

        /// A `"…"` or `"""…"""` literal starting at the current quote.
        mutating func literal() {
            let start = line
            let offset = index
            let multiline = peek(1) == "\"" && peek(2) == "\""
            for _ in 0..<(multiline ? 3 : 1) { advance() }
            if multiline, peek() == "\n" { advance() }
            var text = ""
            while let character = peek() {
                if character == "\\" {
                    if peek(1) == "(" {
                        advance()
                        advance()
                        code(until: ")")
                        text += "x"
                    } else {
                        text.append(character)
                        advance()
                        if let escaped = peek() {
                            text.append(escaped)
                            advance()
                        }
                    }
                } else if multiline && character == "\"" && peek(1) == "\"" && peek(2) == "\"" {
                    for _ in 0..<3 { advance() }
                    break
                } else if !multiline && (character == "\"" || character == "\n") {
                    advance()
                    break
                } else {
                    text.append(character)
                    advance()
                }
            }
            if multiline {
                // Drop the closing line's indentation, as Swift does.
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                let indent = lines.last.map { $0.prefix { $0 == " " }.count } ?? 0
                text = lines.map { String($0.dropFirst(min(indent, $0.prefix { $0 == " " }.count))) }
                    .joined(separator: "\n")
            }
            found.append((text, start, offset))
        }
    }
}
