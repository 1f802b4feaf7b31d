import ExpGit
public import Foundation

/// A run field that `--where`, `--sort` and `--columns` know by name.
public enum RunField: String, CaseIterable, Sendable {
    case name, id, status, started, ended, duration, host, user, branch, base, snapshot, tree, dirty, command,
        message, note, exit, sweep

    enum Kind { case text, commit, time, seconds, flag, integer, status }

    var kind: Kind {
        switch self {
        case .name, .id, .host, .user, .branch, .command, .message, .note, .sweep: .text
        case .base, .snapshot, .tree: .commit
        case .started, .ended: .time
        case .duration: .seconds
        case .dirty: .flag
        case .exit: .integer
        case .status: .status
        }
    }

    /// The column of the `runs` table.
    var column: String {
        switch self {
        case .exit: "runs.exit_code"
        default: "runs." + rawValue
        }
    }
}

/// Which number of a metric's summary a key means: `val_loss` is its last value,
/// `val_loss.min` its smallest.
public enum MetricAggregate: String, CaseIterable, Sendable {
    case last, min, max, count, step
}

/// What a key in `--where`, `--sort`, `--columns` or `min:KEY` names.
public enum RunKey: Equatable, Sendable, CustomStringConvertible {
    case field(RunField)
    case param(String)
    case metric(String, MetricAggregate)

    /// Decides what `text` names, given the param and metric keys the runs have.
    ///
    /// In order: `params.KEY` / `metrics.KEY[.AGG]` say it outright; then a run field
    /// (`name`, `status`, …); a param; a metric (its last value); a metric with a
    /// `.min`/`.max`/`.last`/`.count`/`.step` suffix. So a param `lr` wins over a metric `lr`
    /// (write `metrics.lr` for the metric).
    public static func resolve(_ text: String, params: Set<String>, metrics: Set<String>) throws(RunKeyError) -> RunKey
    {
        if text.hasPrefix("params.") || text.hasPrefix("param.") {
            return .param(String(text.drop(while: { $0 != "." }).dropFirst()))
        }
        if text.hasPrefix("metrics.") || text.hasPrefix("metric.") {
            let rest = String(text.drop(while: { $0 != "." }).dropFirst())
            if metrics.contains(rest) { return .metric(rest, .last) }
            if let (key, aggregate) = splitAggregate(rest) { return .metric(key, aggregate) }
            return .metric(rest, .last)
        }
        if let field = RunField(rawValue: text) { return .field(field) }
        if params.contains(text) { return .param(text) }
        if metrics.contains(text) { return .metric(text, .last) }
        if let (key, aggregate) = splitAggregate(text), metrics.contains(key) { return .metric(key, aggregate) }
        throw RunKeyError(key: text, params: params, metrics: metrics)
    }

    private static func splitAggregate(_ text: String) -> (String, MetricAggregate)? {
        guard let dot = text.lastIndex(of: "."),
            let aggregate = MetricAggregate(rawValue: String(text[dot...].dropFirst()))
        else { return nil }
        return (String(text[..<dot]), aggregate)
    }

    public var description: String {
        switch self {
        case .field(let field): field.rawValue
        case .param(let key): key
        case .metric(let key, .last): key
        case .metric(let key, let aggregate): "\(key).\(aggregate.rawValue)"
        }
    }

    /// The key's value in a record, for display: nil when the run has none.
    public func value(in record: RunRecord, commit: String? = nil) -> RunValue? {
        switch self {
        case .param(let key): return record.params[key].map(RunValue.param)
        case .metric(let key, let aggregate):
            guard let summary = record.metrics[key] else { return nil }
            switch aggregate {
            case .last: return .number(summary.last)
            case .min: return .number(summary.min)
            case .max: return .number(summary.max)
            case .count: return .number(Double(summary.count))
            case .step: return summary.lastStep.map(RunValue.number)
            }
        case .field(let field):
            switch field {
            case .name: return .text(record.name)
            case .id: return .text(record.id.rawValue)
            case .status: return .text(record.status.rawValue)
            case .started: return .date(record.startedAt)
            case .ended: return record.endedAt.map(RunValue.date)
            case .duration: return record.durationSeconds.map(RunValue.seconds)
            case .host: return .text(record.host)
            case .user: return .text(record.user)
            case .branch: return record.base.branch.map(RunValue.text)
            case .base: return record.base.commit.map { .text($0.hex) }
            case .snapshot: return .text(record.snapshot.commit.hex)
            case .tree: return .text(record.snapshot.tree.hex)
            case .dirty: return .param(.bool(!record.snapshot.clean))
            case .command: return .text(record.commandLine)
            case .message: return record.message.map(RunValue.text)
            case .note: return record.note.map(RunValue.text)
            case .exit: return record.exitCode.map { .number(Double($0)) }
            case .sweep: return record.sweep.map(RunValue.text)
            }
        }
    }
}

/// A value shown in a column.
public enum RunValue: Equatable, Sendable {
    case text(String)
    case number(Double)
    case param(ParamValue)
    case date(Date)
    case seconds(Double)
}

/// A key that names no field, param or metric of any run.
public struct RunKeyError: Error, Equatable, Sendable {
    public var key: String
    public var params: Set<String>
    public var metrics: Set<String>

    public var message: String { "no run has a field, param or metric named '\(key)'" }

    /// Names close to the unknown one, to suggest.
    public var suggestions: [String] {
        Suggestions.closest(
            to: key, among: RunField.allCases.map(\.rawValue) + params.sorted() + metrics.sorted())
    }

    public var hint: String {
        if let phrase = Suggestions.phrase(suggestions) { return phrase }
        var known = "fields: " + RunField.allCases.map(\.rawValue).joined(separator: ", ")
        if !params.isEmpty { known += "; params: " + params.sorted().prefix(8).joined(separator: ", ") }
        if !metrics.isEmpty { known += "; metrics: " + metrics.sorted().prefix(8).joined(separator: ", ") }
        return known
    }
}
