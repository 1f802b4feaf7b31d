import Foundation

/// `Tests/Fixtures/`: the shell scripts that build the repositories tests start from.
public let fixturesFolder: String = {
    var url = URL(fileURLWithPath: #filePath)
    url.deleteLastPathComponent()
    url.deleteLastPathComponent()
    return url.appendingPathComponent("Fixtures").path
}()

extension TestRepo {
    /// A repository built by the fixture script `Tests/Fixtures/<name>.sh`, run with bash in
    /// the empty worktree under the hermetic environment plus `EXP` (the `exp` binary: `exp`,
    /// default the built one) and `FIXTURES` (the scripts' folder). `env` adds variables for
    /// the script and for everything the repository runs later (e.g. `EXP_SEED`).
    public convenience init(fixture name: String, exp: String = expBinaryPath(), env: [String: String] = [:]) throws {
        try self.init(initialize: false, extraEnvironment: env)
        try runFixture(name, exp: exp)
    }

    /// Runs the fixture script `name` in the worktree (see `init(fixture:)`).
    public func runFixture(_ name: String, exp: String = expBinaryPath()) throws {
        let script = fixturesFolder + "/" + name + ".sh"
        let argv = ["bash", script]
        let result = try runProcess(
            argv, in: root, environment: environment.merging(["EXP": exp, "FIXTURES": fixturesFolder]) { $1 })
        guard result.status == 0 else { throw CommandFailed(command: argv, result: result) }
    }

    /// The hermetic environment plus `EXP_SEED=7`: run ids and names come out the same on
    /// every machine and in every run of the tests.
    public static let reproducible = ["EXP_SEED": "7"]
}
