/// One key's series along one axis, summarised at a fine resolution so that it gives the
/// downsampled series for any number of buckets up to that resolution, exactly as
/// `SeriesDownsampling.downsample` gives it from every point: a series of few points is kept
/// whole; a longer one as its first and last point and, in each fine slice of the axis, the
/// point with the smallest and the one with the largest value (the first such, in axis
/// order). A chart's bucket is a run of whole fine slices, so its smallest and largest values
/// are among its slices' (see `SeriesDownsampling`).
///
/// Made by the scan of a record's bytes (`SeriesScan`) or from points, and kept per sealed
/// run in the series cache (`SeriesCache`).
struct SeriesSummary: Sendable, Equatable {
    /// A point with its place in the key's points, which orders points at the same place.
    struct Point: Sendable, Equatable {
        var x: Double
        var y: Double
        var index: Int

        /// Before `other` in axis order (equal places in the order logged).
        func precedes(_ other: Point) -> Bool { (x, index) < (other.x, other.index) }

        /// Kept as a bucket's smallest value rather than `other`.
        func isLower(than other: Point) -> Bool { y < other.y || (y == other.y && precedes(other)) }

        /// Kept as a bucket's largest value rather than `other`.
        func isHigher(than other: Point) -> Bool { y > other.y || (y == other.y && precedes(other)) }
    }

    var key: String
    /// Points with a place on the axis and a finite value (those summarised).
    var finite: Int
    /// Points left out because their value is NaN or infinite.
    var nonFinite: Int
    /// Points left out because they have no place on the axis.
    var withoutX: Int
    /// The smallest and largest place of the finite points.
    var lower: Double
    var upper: Double
    /// The number of fine slices of `lower…upper`.
    var resolution: Int
    /// Every finite point, when there are no more than `2 × resolution + 2`; else nil.
    var all: [Point]?
    var first: Point?
    var last: Point?
    /// Each fine slice's smallest and largest value (nil for an empty slice; both empty
    /// when `all` holds the points).
    var low: [Point?]
    var high: [Point?]

    /// An empty summary of `finite` points placed in `lower…upper`, to be filled with `add`.
    init(key: String, finite: Int, nonFinite: Int, withoutX: Int, lower: Double, upper: Double, resolution: Int) {
        self.key = key
        self.finite = finite
        self.nonFinite = nonFinite
        self.withoutX = withoutX
        self.lower = lower
        self.upper = upper
        self.resolution = max(1, resolution)
        let whole = finite <= 2 * self.resolution + 2
        all = whole ? [] : nil
        low = whole ? [] : [Point?](repeating: nil, count: self.resolution)
        high = low
    }

    /// The summary of `line`, a key's finite points in axis order.
    init(key: String, line: [SeriesPoint], nonFinite: Int, withoutX: Int, resolution: Int) {
        self.init(
            key: key, finite: line.count, nonFinite: nonFinite, withoutX: withoutX, lower: line.first?.x ?? 0,
            upper: line.last?.x ?? 0, resolution: resolution)
        for (index, point) in line.enumerated() {
            add(Point(x: point.x, y: point.y, index: index), isFirst: index == 0, isLast: index == line.count - 1)
        }
    }

    /// Adds one of the finite points; `isFirst` and `isLast` when it is the first or last in
    /// axis order.
    mutating func add(_ point: Point, isFirst: Bool, isLast: Bool) {
        if all != nil {
            all?.append(point)
            return
        }
        if isFirst && first == nil { first = point }
        if isLast { last = point }
        let slice = SeriesDownsampling.bucket(of: point.x, from: lower, to: upper, buckets: resolution)
        if let current = low[slice] {
            if point.isLower(than: current) { low[slice] = point }
        } else {
            low[slice] = point
        }
        if let current = high[slice] {
            if point.isHigher(than: current) { high[slice] = point }
        } else {
            high[slice] = point
        }
    }

    /// Whether `points(buckets:)` can give `buckets` buckets.
    func answers(buckets: Int) -> Bool { SeriesDownsampling.resolution(for: buckets) == resolution }

    /// The points kept for `buckets` buckets, in axis order: what
    /// `SeriesDownsampling.downsample` keeps of all the points. Needs `answers(buckets:)`.
    func points(buckets: Int) -> [SeriesPoint] {
        let buckets = max(1, buckets)
        var lows = [Point?](repeating: nil, count: buckets)
        var highs = lows
        var kept: [Point]
        if var all {
            all.sort { $0.precedes($1) }
            guard all.count > 2 * buckets + 2, let first = all.first, let last = all.last else {
                return all.map { SeriesPoint(x: $0.x, y: $0.y) }
            }
            for point in all {
                let bucket = SeriesDownsampling.column(of: point.x, from: lower, to: upper, buckets: buckets)
                if lows[bucket].map({ point.isLower(than: $0) }) ?? true { lows[bucket] = point }
                if highs[bucket].map({ point.isHigher(than: $0) }) ?? true { highs[bucket] = point }
            }
            kept = [first, last]
        } else {
            for slice in 0..<resolution {
                let bucket = slice * buckets / resolution
                if let point = low[slice], lows[bucket].map({ point.isLower(than: $0) }) ?? true {
                    lows[bucket] = point
                }
                if let point = high[slice], highs[bucket].map({ point.isHigher(than: $0) }) ?? true {
                    highs[bucket] = point
                }
            }
            kept = [first, last].compactMap { $0 }
        }
        kept += lows.compactMap { $0 } + highs.compactMap { $0 }
        kept.sort { $0.precedes($1) }
        var result: [SeriesPoint] = []
        result.reserveCapacity(kept.count)
        var previous: Int?
        for point in kept where point.index != previous {
            result.append(SeriesPoint(x: point.x, y: point.y))
            previous = point.index
        }
        return result
    }
}
