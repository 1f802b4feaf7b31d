import Foundation
import GRDB

extension RunStore {
    /// The run `reference` names, looked up in the index. Unknown and ambiguous references
    /// are errors that list candidates.
    public func resolve(_ reference: RunRef, includeAutosaves: Bool = false) throws -> StoredRun {
        let now = workspace.context.now()
        let select = "SELECT runs.run FROM runs"
        let newestFirst = "ORDER BY started DESC, id DESC"
        let kinds = includeAutosaves ? "1" : "autosave = 0"
        return try withIndex { db -> StoredRun in
            func fetch(_ sql: String, _ arguments: StatementArguments = []) throws -> [StoredRun] {
                try fetchRuns(db, sql, arguments)
            }
            func count(_ condition: String) throws -> Int {
                try Int.fetchOne(db, sql: "SELECT count(*) FROM runs WHERE \(condition)") ?? 0
            }
            func candidates(_ runs: [StoredRun]) -> [ExpError.RunCandidate] {
                runs.prefix(10).map { ExpError.RunCandidate(id: $0.record.id, name: $0.record.name) }
            }

            switch reference {
            case .latest(let offset):
                let total = try count("autosave = 0")
                guard total > 0 else { throw ExpError(.notFound, "no runs yet", reason: .noRuns) }
                guard offset < total else {
                    throw ExpError(
                        .notFound, "\(reference) does not exist: there are only \(total) runs",
                        hint: "the oldest is latest~\(total - 1)", reason: .runNotFound(reference, suggestions: []))
                }
                let found = try fetch("\(select) WHERE autosave = 0 \(newestFirst) LIMIT 1 OFFSET ?", [offset])
                guard let run = found.first else { throw ExpError(.io, "\(reference) could not be read") }
                return run

            case .text(let text):
                // Runs first, then autosaves, for a name.
                if let byName = try fetch(
                    "\(select) WHERE name = ? AND \(kinds) ORDER BY autosave, started DESC LIMIT 1", [text]
                ).first {
                    return byName
                }
                let prefix = text.lowercased()
                if prefix.allSatisfy({ $0.isLetter || $0.isNumber }) {
                    let byPrefix = try fetch(
                        "\(select) WHERE id >= ? AND id < ? AND \(kinds) \(newestFirst) LIMIT 11",
                        [prefix, prefix + "\u{10FFFF}"])
                    if byPrefix.count == 1 { return byPrefix[0] }
                    if byPrefix.count > 1 {
                        let total =
                            try Int.fetchOne(
                                db, sql: "SELECT count(*) FROM runs WHERE id >= ? AND id < ? AND \(kinds)",
                                arguments: [prefix, prefix + "\u{10FFFF}"]) ?? byPrefix.count
                        throw ExpError(
                            .ambiguous, "run '\(text)' is ambiguous; it matches \(total) runs",
                            hint: "give more characters of the id, or the name",
                            reason: .ambiguousRun(reference, candidates: candidates(byPrefix), total: total))
                    }
                }
                // The names nearest the one given (a typo, a letter dropped or swapped, part of
                // a name), newest runs first among equally near ones.
                let names = try String.fetchAll(db, sql: "SELECT name FROM runs WHERE \(kinds) \(newestFirst)")
                let nearest = Suggestions.closest(to: text, among: names)
                if let phrase = Suggestions.phrase(nearest) {
                    throw ExpError(
                        .notFound, "no run named '\(text)'", hint: phrase,
                        reason: .runNotFound(reference, suggestions: nearest))
                }
                let recent = try fetch("\(select) WHERE autosave = 0 \(newestFirst) LIMIT 3")
                if recent.isEmpty {
                    throw ExpError(.notFound, "no run named '\(text)'", hint: "there are no runs yet", reason: .noRuns)
                }
                throw ExpError(
                    .notFound, "no run named '\(text)'",
                    hint: "recent runs: \(recent.map(\.record.name).joined(separator: ", "))",
                    reason: .runNotFound(reference, suggestions: []))

            case .tree(let hex):
                let matches = try fetch(
                    "\(select) WHERE tree >= ? AND tree < ? AND autosave = 0 \(newestFirst) LIMIT 11",
                    [hex, hex + "g"])
                if matches.count == 1 { return matches[0] }
                if matches.isEmpty {
                    throw ExpError(
                        .notFound, "no run ran the code of tree \(hex)",
                        hint: "`git rev-parse COMMIT^{tree}` gives a commit's tree",
                        reason: .runNotFound(reference, suggestions: []))
                }
                throw ExpError(
                    .ambiguous,
                    "tree:\(hex) is ambiguous; \(matches.count > 10 ? "more than 10" : "\(matches.count)") runs ran that code",
                    hint: "name one of them",
                    reason: .ambiguousRun(reference, candidates: candidates(matches), total: matches.count))

            case .best(let best):
                let compiler = RunQueryCompiler(db: db, now: now)
                // A metric whose own name ends in .min/.max/.last is matched by its full name first.
                let literal = best.summary == .last ? nil : best.key + "." + best.summary.rawValue
                let name: String
                let aggregate: MetricAggregate
                if let literal, try compiler.hasMetric(literal) {
                    (name, aggregate) = (literal, .last)
                } else if try compiler.hasMetric(best.key) {
                    name = best.key
                    aggregate = MetricAggregate(rawValue: best.summary.rawValue) ?? .last
                } else {
                    let metrics = Set(try String.fetchAll(db, sql: "SELECT DISTINCT key FROM metrics"))
                    let error = RunKeyError(key: best.key, params: [], metrics: metrics)
                    throw ExpError(
                        .notFound, "\(reference): no run has a metric named '\(best.key)'", hint: error.hint,
                        reason: .runNotFound(reference, suggestions: []))
                }
                // Read straight from the metric's own rows: one index lookup by key.
                let source = "SELECT runs.run FROM metrics best JOIN runs USING (run)"
                let value = RunSQL(sql: "best." + aggregate.rawValue, arguments: [])
                var arguments: [(any DatabaseValueConvertible)?] = [name]
                var conditions = ["best.key = ?", "runs.autosave = 0", "(\(value.sql)) IS NOT NULL"]
                if let filterText = best.filter, let filter = try? RunFilter(parsing: filterText) {
                    do {
                        let compiled = try compiler.condition(filter)
                        conditions.append(compiled.sql)
                        arguments += compiled.arguments
                    } catch let error as RunFilterError {
                        var shifted = error
                        shifted.column += reference.description.count - filterText.count
                        throw shifted.expError(in: reference.description, option: "run reference")
                    }
                }
                let order = best.direction == .min ? "ASC" : "DESC"
                let sql =
                    "\(source) WHERE \(conditions.joined(separator: " AND ")) ORDER BY (\(value.sql)) \(order), "
                    + "runs.started DESC, runs.id DESC LIMIT 1"
                guard
                    let run = try fetch(sql, StatementArguments(arguments)).first
                else {
                    let among = best.filter.map { " among the runs where \($0)" } ?? ""
                    throw ExpError(
                        .notFound, "no run has a value of \(best.key)\(among)", reason: .noValues(key: best.key))
                }
                return run
            }
        }
    }
}
