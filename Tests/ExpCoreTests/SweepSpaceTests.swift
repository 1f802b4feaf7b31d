import Testing

@testable import ExpCore

/// The params of `exp sweep` (`-p KEY=SPEC`) and the points drawn from them.
@Suite struct SweepSpaceTests {
    private func values(_ text: String) throws -> [String] {
        guard case .list(let values) = try SweepParam(parsing: text).values else { return [] }
        return values
    }

    @Test func listsRangesAndLogRanges() throws {
        #expect(try values("lr=0.1, 0.01,0.001") == ["0.1", "0.01", "0.001"])
        // The end is left out, as in Python; integers stay integers.
        #expect(try values("seed=range(1,4)") == ["1", "2", "3"])
        #expect(try values("x=range(0,1,0.25)") == ["0.0", "0.25", "0.5", "0.75"])
        #expect(try values("x=range(3,0,-1)") == ["3", "2", "1"])
        // Both ends kept, and no 0.0010000000000000002 in the command.
        #expect(try values("lr=log(1e-4,1e-1,4)") == ["0.0001", "0.001", "0.01", "0.1"])
        #expect(try values("opt=choice(adam,sgd)") == ["adam", "sgd"])
    }

    @Test func badSpecsSayWhatIsWrong() {
        for (text, words) in [
            ("lr", "expected KEY=SPEC"), ("l r=1", "bad sweep param name"), ("lr=", "empty"),
            ("lr=0.1,,0.2", "empty"), ("x=range(1)", "takes a start"), ("x=range(4,1)", "is empty"),
            ("x=range(1,2,0)", "zero step"), ("x=range(1,1e9)", "more than"), ("x=log(0,1,3)", "positive"),
            ("x=log(1,2)", "number of values"), ("x=uniform(2,1)", "low end first"),
            ("x=loguniform(0,1)", "positive"), ("x=uniform(a,1)", "not a number"),
        ] {
            #expect(throws: ExpError.self, "\(text)") { try SweepParam(parsing: text) }
            do {
                _ = try SweepParam(parsing: text)
            } catch let error as ExpError {
                #expect(error.kind == .usage)
                #expect(error.message.contains(words), "\(text): \(error.message)")
            } catch {}
        }
    }

    @Test func theGridVariesTheFirstParamSlowest() throws {
        let params = try ["a=1,2", "b=x,y,z"].map(SweepParam.init(parsing:))
        let points = try SweepSpace.grid(params)
        #expect(points.map { "\($0["a"]!)\($0["b"]!)" } == ["1x", "1y", "1z", "2x", "2y", "2z"])
        // Distributions only in random search; a grid over the limit is refused.
        #expect(throws: ExpError.self) { try SweepSpace.grid([SweepParam(parsing: "lr=uniform(0,1)")]) }
        let big = try ["a=range(0,200)", "b=range(0,200)"].map(SweepParam.init(parsing:))
        #expect(throws: ExpError.self) { try SweepSpace.grid(big) }
    }

    @Test func randomPointsAreReproducibleBySeedAndInTheirBounds() throws {
        let params = try ["lr=loguniform(1e-5,1e-1)", "drop=uniform(0,0.5)", "opt=adam,sgd"].map(
            SweepParam.init(parsing:))
        let first = try SweepSpace.random(params, count: 200, seed: 7)
        #expect(try SweepSpace.random(params, count: 200, seed: 7) == first)
        #expect(try SweepSpace.random(params, count: 200, seed: 8) != first)
        let rates = first.compactMap { $0["lr"].flatMap(Double.init) }
        let drops = first.compactMap { $0["drop"].flatMap(Double.init) }
        #expect(rates.count == 200 && rates.allSatisfy { $0 >= 1e-5 && $0 <= 1e-1 })
        #expect(drops.count == 200 && drops.allSatisfy { $0 >= 0 && $0 <= 0.5 })
        // Log-uniform: about as many points in each decade.
        let lowDecade = rates.filter { $0 < 1e-4 }.count
        #expect(lowDecade > 20 && lowDecade < 80)
        #expect(Set(first.compactMap { $0["opt"] }) == ["adam", "sgd"])
    }

    @Test func placeholdersAreReplacedAndAMissingOneIsAnError() throws {
        let params = try ["lr=0.1", "seed=1"].map(SweepParam.init(parsing:))
        let argv = ["python", "train.py", "--lr={lr}", "--seed", "{seed}", "--out", "runs/{lr}-{seed}"]
        try SweepSpace.checkPlaceholders(argv, params: params)
        #expect(
            SweepSpace.substitute(argv, point: ["lr": "0.1", "seed": "1"])
                == ["python", "train.py", "--lr=0.1", "--seed", "1", "--out", "runs/0.1-1"])
        #expect(throws: ExpError.self) { try SweepSpace.checkPlaceholders(["python", "train.py"], params: params) }
    }
}
