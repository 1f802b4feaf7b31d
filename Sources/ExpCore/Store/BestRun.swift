/// "The best run by a metric": `min:val_loss`, `max:val_acc`, as in RUN references and
/// `exp.autotag`.
///
/// What a run is judged by: by default the metric's **last** value (what the run ended with,
/// and what `exp list` shows), so `min:val_loss` is the run that finished with the lowest
/// val_loss. A `.min`, `.max` or `.last` suffix picks another summary, as `--sort` does:
/// `min:val_loss.min` is the run whose val_loss went lowest at any step, `max:val_acc.max`
/// the one whose accuracy peaked highest. A metric whose own name ends in such a suffix
/// (`loss.min`) is matched by its full name first.
///
/// Runs without the metric, or with NaN for it, never win. Between equal values the run that
/// started last wins (then the larger id), so the answer does not depend on input order.
/// A filter after `@` (`min:val_loss@lr<0.01`) is kept as text in `filter` for the caller to
/// apply; `best(of:)` does not look at it.
public struct BestRunCriterion: Sendable, Equatable, CustomStringConvertible {
    /// Whether lower or higher is better.
    public enum Direction: String, Sendable {
        case min, max
    }

    /// Which number of a metric's summary a run is judged by.
    public enum Summary: String, Sendable {
        case last, min, max
    }

    public var direction: Direction
    /// The metric key, without a summary suffix.
    public var key: String
    public var summary: Summary
    /// Text after `@`, untouched (nil when there is none).
    public var filter: String?

    public init(direction: Direction, key: String, summary: Summary = .last, filter: String? = nil) {
        self.direction = direction
        self.key = key
        self.summary = summary
        self.filter = filter
    }

    /// Parses `min:KEY[.last|.min|.max][@FILTER]` or `max:…`; nil for anything else (including
    /// an empty key).
    public init?(parsing text: String) {
        let direction: Direction
        if text.hasPrefix("min:") {
            direction = .min
        } else if text.hasPrefix("max:") {
            direction = .max
        } else {
            return nil
        }
        var rest = Substring(text.dropFirst(4))
        var filter: String?
        if let at = rest.firstIndex(of: "@") {
            filter = String(rest[rest.index(after: at)...])
            rest = rest[..<at]
        }
        var key = String(rest)
        var summary = Summary.last
        for candidate in [Summary.last, .min, .max] where key.hasSuffix("." + candidate.rawValue) {
            key = String(key.dropLast(candidate.rawValue.count + 1))
            summary = candidate
        }
        guard !key.isEmpty else { return nil }
        self.init(direction: direction, key: key, summary: summary, filter: filter)
    }

    public var description: String {
        "\(direction.rawValue):\(key)" + (summary == .last ? "" : ".\(summary.rawValue)")
            + (filter.map { "@" + $0 } ?? "")
    }

    /// The number `run` is judged by; nil when it lacks the metric or the value is NaN.
    public func value(of run: StoredRun) -> Double? {
        let metrics = run.record.metrics
        let value: Double?
        if summary != .last, let literal = metrics[key + "." + summary.rawValue] {
            value = literal.last
        } else if let found = metrics[key] {
            switch summary {
            case .last: value = found.last
            case .min: value = found.min
            case .max: value = found.max
            }
        } else {
            value = nil
        }
        guard let value, !value.isNaN else { return nil }
        return value
    }

    /// The best of `runs`, or nil when none has the metric.
    public func best(of runs: [StoredRun]) -> StoredRun? {
        var best: (run: StoredRun, value: Double)?
        for run in runs {
            guard let value = value(of: run) else { continue }
            guard let current = best else {
                best = (run, value)
                continue
            }
            let better = direction == .min ? value < current.value : value > current.value
            let tie =
                value == current.value
                && (run.record.startedAt, run.record.id.rawValue)
                    > (current.run.record.startedAt, current.run.record.id.rawValue)
            if better || tie { best = (run, value) }
        }
        return best?.run
    }
}
