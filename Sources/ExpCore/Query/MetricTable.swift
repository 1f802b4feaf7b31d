/// Metric points laid out for reading: a row per step and a column per series (a key of one
/// run, or one run's values of a key when runs are compared), and the points that have no
/// step apart, in the order they were logged.
public struct MetricTable: Sendable {
    /// One step's values, a value (or nil) per column. When a column has several values at
    /// one step, the last one logged is shown.
    public struct Row: Sendable, Equatable {
        public var step: Double
        public var values: [Double?]
    }

    /// A point without a step: which column it belongs to, and its value.
    public struct Unstepped: Sendable, Equatable {
        public var column: Int
        public var value: Double
    }

    /// The rows, by step (smallest first).
    public var rows: [Row]
    /// The points with no step, in the order of their columns and, within one, as logged.
    public var withoutStep: [Unstepped]

    /// The table of `columns`, each the points of one series.
    public init(columns: [[MetricPoint]]) {
        var valuesAt: [Double: [Double?]] = [:]
        var withoutStep: [Unstepped] = []
        for (column, points) in columns.enumerated() {
            for point in points {
                guard let step = point.step else {
                    withoutStep.append(Unstepped(column: column, value: point.value))
                    continue
                }
                valuesAt[step, default: [Double?](repeating: nil, count: columns.count)][column] = point.value
            }
        }
        rows = valuesAt.keys.sorted().map { Row(step: $0, values: valuesAt[$0] ?? []) }
        self.withoutStep = withoutStep
    }

    /// The columns with a value at some step (a key logged only without a step has none).
    public var steppedColumns: [Int] {
        let count = rows.first?.values.count ?? 0
        return (0..<count).filter { column in rows.contains { $0.values[column] != nil } }
    }

    /// The points of `points` split by key, in key order (the keys asked for, or every key
    /// sorted when none is): the columns of one run's table.
    public static func columns(of points: [MetricPoint], keys: [String]) -> (keys: [String], columns: [[MetricPoint]]) {
        var byKey: [String: [MetricPoint]] = [:]
        for point in points where keys.isEmpty || keys.contains(point.key) {
            byKey[point.key, default: []].append(point)
        }
        let shown = (keys.isEmpty ? Array(byKey.keys) : keys.filter { byKey[$0] != nil }).sorted()
        return (shown, shown.map { byKey[$0] ?? [] })
    }
}

/// The rows of a table built while a run logs: points come in batches (as
/// `RunStore.followMetrics` gives them), and a step's row is given once a later step has
/// begun (a run logs a step's keys together, then moves on), or when the run ends.
///
/// Columns are the keys asked for, or every key as it first appears at a step (new columns are added
/// at the end: a caller that has printed a header prints it again).
public struct MetricRowFeed: Sendable {
    /// The keys shown, a column each.
    public private(set) var keys: [String]
    private let fixedKeys: Bool
    /// Values at steps whose rows are not given yet.
    private var pending: [Double: [String: Double]] = [:]
    /// Points without a step, in the order they came.
    public private(set) var withoutStep: [MetricPoint] = []

    /// A feed showing `keys` (every key as it comes, sorted within each batch, when empty).
    public init(keys: [String]) {
        self.keys = keys
        fixedKeys = !keys.isEmpty
    }

    /// Takes a batch of points; returns the rows now complete (every pending step below the
    /// largest step seen), by step.
    public mutating func add(_ points: [MetricPoint]) -> [MetricTable.Row] {
        var fresh: Set<String> = []
        for point in points {
            if fixedKeys && !keys.contains(point.key) { continue }
            guard let step = point.step else {
                withoutStep.append(point)
                continue
            }
            if !fixedKeys && !keys.contains(point.key) { fresh.insert(point.key) }
            pending[step, default: [:]][point.key] = point.value
        }
        keys += fresh.sorted()
        guard let last = pending.keys.max() else { return [] }
        return take { $0 < last }
    }

    /// The rows still pending (the run has ended).
    public mutating func finish() -> [MetricTable.Row] { take { _ in true } }

    private mutating func take(_ wanted: (Double) -> Bool) -> [MetricTable.Row] {
        let steps = pending.keys.filter(wanted).sorted()
        let rows = steps.map { step in
            let values = pending[step] ?? [:]
            return MetricTable.Row(step: step, values: keys.map { values[$0] })
        }
        for step in steps { pending[step] = nil }
        return rows
    }
}
