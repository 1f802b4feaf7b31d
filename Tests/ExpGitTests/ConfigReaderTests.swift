import ExpGit
import ExpTestSupport
import Foundation
import Testing

@Suite("Reading exp.* config")
struct ConfigReaderTests {
    /// ExpGit's reader for `repo`, with `<root>/.expconfig` underneath as exp uses it.
    func reader(_ repo: TestRepo) throws -> ConfigReader {
        ConfigReader(repository: try repo.openRepository(), fallbackPath: repo.root + "/.expconfig")
    }

    /// What `git config --type=TYPE KEY` prints, or nil when git rejects the value or it is unset.
    func gitConfig(_ repo: TestRepo, _ key: String, type: String, file: String? = nil) throws -> String? {
        var argv = ["git", "config"]
        if let file { argv += ["--file", file] }
        argv += ["--type=\(type)", "--get", key]
        let result = try runProcess(argv, in: repo.root, environment: repo.environment)
        return result.status == 0 ? result.stdout.trimmingCharacters(in: .newlines) : nil
    }

    @Test func readsKeysFromTheRepositoryConfig() throws {
        let repo = try TestRepo()
        try repo.setConfig("exp.maxFileSize", "5m")
        let config = try reader(repo)
        #expect(try config.string("exp.maxFileSize") == "5m")
        #expect(try config.size("exp.maxFileSize") == 5 << 20)
    }

    @Test func keyNamesAreCaseInsensitiveLikeGit() throws {
        let repo = try TestRepo()
        try repo.setConfig("exp.maxFileSize", "5m")
        let config = try reader(repo)
        #expect(try config.string("exp.maxfilesize") == "5m")
        #expect(try config.string("EXP.MAXFILESIZE") == "5m")
    }

    @Test func unsetKeysAreNil() throws {
        let repo = try TestRepo()
        let config = try reader(repo)
        #expect(try config.string("exp.maxFileSize") == nil)
        #expect(try config.size("exp.maxFileSize") == nil)
        #expect(try config.bool("exp.autosave") == nil)
        #expect(try config.all("exp.artifact").isEmpty)
    }

    @Test func readsTheVersionedExpconfigWhenGitConfigDoesNotSetAKey() throws {
        let repo = try TestRepo()
        try repo.write(
            ".expconfig",
            """
            # shared defaults for the team
            [exp]
            \tmaxFileSize = 2k  ; two kibibytes
            \tartifact = "*.ckpt"
            \tartifact = checkpoints/**
            """)
        let config = try reader(repo)
        #expect(try config.size("exp.maxFileSize") == 2048)
        #expect(try config.all("exp.artifact") == ["*.ckpt", "checkpoints/**"])
        #expect(try config.string("exp.artifact") == "checkpoints/**", "the last value wins, as in git")
    }

    @Test func theUsersGitConfigWinsOverExpconfig() throws {
        let repo = try TestRepo()
        try repo.write(".expconfig", "[exp]\n\tmaxFileSize = 2k\n\tartifact = a\n\tartifact = b\n\tname = shared\n")
        try repo.setConfig("exp.maxFileSize", "1m")
        try repo.git(["config", "--add", "exp.artifact", "mine"])
        let config = try reader(repo)
        #expect(try config.size("exp.maxFileSize") == 1 << 20)
        #expect(try config.all("exp.artifact") == ["mine"], "values of one key are not merged across files")
        #expect(try config.string("exp.name") == "shared", "keys git config does not set still come from .expconfig")
    }

    @Test func aMissingExpconfigOrNoFallbackIsFine() throws {
        let repo = try TestRepo()
        let repository = try repo.openRepository()
        let missing = ConfigReader(repository: repository, fallbackPath: repo.root + "/.expconfig")
        #expect(try missing.string("exp.maxFileSize") == nil)
        let none = ConfigReader(repository: repository, fallbackPath: nil)
        #expect(try none.string("exp.maxFileSize") == nil)
    }

    @Test func aMalformedExpconfigIsAnErrorNamingTheFile() throws {
        let repo = try TestRepo()
        try repo.write(".expconfig", "[exp\n\tmaxFileSize = 2k\n")
        let config = try reader(repo)
        let error = #expect(throws: GitError.self) { try config.string("exp.maxFileSize") }
        #expect(error?.operation == "could not read \(repo.root)/.expconfig")
    }

    @Test func seesConfigChangesMadeAfterOpening() throws {
        let repo = try TestRepo()
        let config = try reader(repo)
        #expect(try config.string("exp.maxFileSize") == nil)
        try repo.setConfig("exp.maxFileSize", "3k")
        #expect(try config.size("exp.maxFileSize") == 3 << 10)
    }

    @Test func multiValuedKeysInOrder() throws {
        let repo = try TestRepo()
        for value in ["one", "two", "three"] { try repo.git(["config", "--add", "exp.artifact", value]) }
        let config = try reader(repo)
        #expect(try config.all("exp.artifact") == ["one", "two", "three"])
        #expect(try config.string("exp.artifact") == "three")
    }

    // MARK: sizes

    @Test(arguments: ["0", "512", "1k", "1K", "10m", "10M", "3g", "3G", "1048576"])
    func sizesAgreeWithGit(_ text: String) throws {
        let repo = try TestRepo()
        try repo.setConfig("exp.maxFileSize", text)
        let expected = try #require(try gitConfig(repo, "exp.maxFileSize", type: "int"))
        #expect(try reader(repo).size("exp.maxFileSize") == Int64(expected))
    }

    @Test func sizeSuffixesAreBinary() throws {
        let repo = try TestRepo()
        let config = try reader(repo)
        for (text, bytes) in [("1k", Int64(1024)), ("10m", 10 * 1024 * 1024), ("2g", 2 * 1024 * 1024 * 1024)] {
            try repo.setConfig("exp.maxFileSize", text)
            #expect(try config.size("exp.maxFileSize") == bytes, "\(text)")
        }
    }

    @Test(arguments: ["lots", "10x", "1.5m", "m", "10 m", "99999999999g"])
    func badSizesAreErrorsAsInGit(_ text: String) throws {
        let repo = try TestRepo()
        try repo.setConfig("exp.maxFileSize", text)
        #expect(try gitConfig(repo, "exp.maxFileSize", type: "int") == nil, "git rejects \(text) too")
        let error = #expect(throws: GitError.self) { try reader(repo).size("exp.maxFileSize") }
        #expect(error?.operation == "bad value for exp.maxFileSize: \(text)")
        #expect(error?.reason == "expected a size such as 512k, 10m or 1g")
    }

    @Test func aBadSizeInExpconfigIsAnErrorToo() throws {
        let repo = try TestRepo()
        try repo.write(".expconfig", "[exp]\n\tmaxFileSize = huge\n")
        let error = #expect(throws: GitError.self) { try reader(repo).size("exp.maxFileSize") }
        #expect(error?.description.hasPrefix("bad value for exp.maxFileSize: huge") == true)
    }

    // MARK: booleans

    @Test(arguments: [
        "true", "yes", "on", "1", "TRUE", "Yes", "On", "false", "no", "off", "0", "FALSE", "No", "OFF",
    ])
    func boolSpellingsAgreeWithGit(_ text: String) throws {
        let repo = try TestRepo()
        try repo.setConfig("exp.autosave", text)
        let expected = try #require(try gitConfig(repo, "exp.autosave", type: "bool"))
        #expect(try reader(repo).bool("exp.autosave") == (expected == "true"))
    }

    @Test(arguments: ["maybe", "yess", "enabled"])
    func badBoolsAreErrorsAsInGit(_ text: String) throws {
        let repo = try TestRepo()
        try repo.setConfig("exp.autosave", text)
        #expect(try gitConfig(repo, "exp.autosave", type: "bool") == nil, "git rejects \(text) too")
        let error = #expect(throws: GitError.self) { try reader(repo).bool("exp.autosave") }
        #expect(error?.operation == "bad value for exp.autosave: \(text)")
    }

    /// gitconfig(1): a key with no `=` is true; an empty value (`key =`) is false.
    @Test func keyWithoutValueIsTrueAndEmptyValueIsFalseAsInGit() throws {
        let repo = try TestRepo()
        try repo.write(".expconfig", "[exp]\n\tbare\n\tempty =\n")
        let file = repo.root + "/.expconfig"
        #expect(try gitConfig(repo, "exp.bare", type: "bool", file: file) == "true")
        #expect(try gitConfig(repo, "exp.empty", type: "bool", file: file) == "false")
        let config = try reader(repo)
        #expect(try config.bool("exp.bare") == true)
        #expect(try config.bool("exp.empty") == false)
    }

    /// Settings the reader was told it ignored, collected from its `onIgnored`.
    final class Ignored: @unchecked Sendable {
        private let lock = NSLock()
        private var settings: [IgnoredSetting] = []
        func add(_ setting: IgnoredSetting) {
            lock.lock()
            settings.append(setting)
            lock.unlock()
        }
        var all: [IgnoredSetting] {
            lock.lock()
            defer { lock.unlock() }
            return settings
        }
    }

    @Test func userOnlyKeysAreNeverReadFromTheSharedFileAndEachRefusalIsReported() throws {
        let repo = try TestRepo()
        try repo.write(
            ".expconfig", "[exp]\n\tenv = *\n\tenv = HOME\n\tautopush = true\n\tmaxFileSize = 2k\n\tname = shared\n")
        let ignored = Ignored()
        let config = ConfigReader(
            repository: try repo.openRepository(), fallbackPath: repo.root + "/.expconfig",
            sharedFileRules: ["exp.env": .userOnly, "exp.AUTOPUSH": .userOnly], onIgnored: ignored.add)
        #expect(try config.all("exp.env") == [])
        #expect(try config.string("exp.Env") == nil, "keys match without regard to case, as in git")
        #expect(try config.bool("exp.autopush") == nil)
        #expect(try config.size("exp.maxFileSize") == 2048, "keys without a rule still come from the file")
        #expect(try config.string("exp.name") == "shared")
        #expect(
            ignored.all.map(\.key) == ["exp.env", "exp.Env", "exp.autopush"], "every refused lookup is reported")
        #expect(ignored.all.first?.values == ["*", "HOME"])
        #expect(ignored.all.first?.file == repo.root + "/.expconfig")
        #expect(ignored.all.first?.rule == .userOnly)

        // The user's own git config is honoured, and nothing is reported then.
        try repo.setConfig("exp.env", "CUDA_HOME")
        try repo.setConfig("exp.autopush", "false")
        let before = ignored.all.count
        #expect(try config.all("exp.env") == ["CUDA_HOME"])
        #expect(try config.bool("exp.autopush") == false)
        #expect(ignored.all.count == before)
    }

    @Test func aSizeTheSharedFileMayOnlyLowerIsIgnoredWhenItRaisesIt() throws {
        let repo = try TestRepo()
        let ignored = Ignored()
        let config = ConfigReader(
            repository: try repo.openRepository(), fallbackPath: repo.root + "/.expconfig",
            sharedFileRules: ["exp.maxFileSize": .sizeAtMost(10 << 20)], onIgnored: ignored.add)
        try repo.write(".expconfig", "[exp]\n\tmaxFileSize = 2k\n")
        #expect(try config.size("exp.maxFileSize") == 2048)
        try repo.write(".expconfig", "[exp]\n\tmaxFileSize = 10m\n")
        #expect(try config.size("exp.maxFileSize") == 10 << 20, "the limit itself is allowed")
        #expect(ignored.all.isEmpty)
        try repo.write(".expconfig", "[exp]\n\tmaxFileSize = 1g\n")
        #expect(try config.size("exp.maxFileSize") == nil)
        #expect(ignored.all.map(\.values) == [["1g"]])
        #expect(ignored.all.first?.rule == .sizeAtMost(10 << 20))
        // A value that is no size is still the caller's error to report, not silently dropped.
        try repo.write(".expconfig", "[exp]\n\tmaxFileSize = huge\n")
        #expect(throws: GitError.self) { try config.size("exp.maxFileSize") }
        try repo.setConfig("exp.maxFileSize", "1g")
        #expect(try config.size("exp.maxFileSize") == 1 << 30, "the user's own config may raise it")
    }

}
