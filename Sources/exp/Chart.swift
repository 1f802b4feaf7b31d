import ExpCore
import Foundation

/// One chart: a metric key and the lines of the runs that have it.
struct Chart {
    /// One run's line: its number in the legend (colour and marker) and its points.
    struct Line {
        var run: Int
        var points: [SeriesPoint]
    }

    var title: String
    var lines: [Line]
    /// Names of the runs shown that have no value of this key.
    var missing: [String] = []
}

/// How charts are drawn: size, scale, limits.
struct ChartStyle {
    /// Width of one chart in columns, axis labels included.
    var width: Int
    /// Height of the drawing area in rows (each 4 dots high).
    var height: Int
    var logScale = false
    var yLimits: (low: Double, high: Double)?
    /// The caption of the x axis (`step`, `epoch`, `time (s)`).
    var xCaption = "step"
}

/// Numbers on axes: ticks at 1, 2 or 5 times a power of ten, labels with just the digits
/// the step needs (`0.3`, never `0.30000000000000004`).
enum AxisTicks {
    /// Ticks covering `low…high` with about `count` intervals: the step, the first and last tick.
    static func nice(_ low: Double, _ high: Double, count: Int) -> (step: Double, first: Double, last: Double) {
        var low = low
        var high = high
        if !(high > low) {
            let pad = low == 0 ? 1 : abs(low) * 0.1
            low -= pad
            high += pad
        }
        let raw = (high - low) / Double(max(1, count))
        let magnitude = pow(10, floor(log10(raw)))
        let fraction = raw / magnitude
        let step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude
        return (step, floor(low / step + 1e-9) * step, ceil(high / step - 1e-9) * step)
    }

    /// The tick values from `first` to `last` by `step`, each computed as `k × step`.
    static func values(step: Double, first: Double, last: Double) -> [Double] {
        let lowIndex = (first / step).rounded()
        let highIndex = (last / step).rounded()
        guard highIndex >= lowIndex, highIndex - lowIndex < 1000 else { return [first, last] }
        return stride(from: lowIndex, through: highIndex, by: 1).map { $0 * step }
    }

    /// A tick's label, with as many decimals as the step needs.
    static func label(_ value: Double, step: Double) -> String {
        let value = abs(value) < step * 1e-9 ? 0 : value
        let magnitude = max(abs(value), step)
        if magnitude >= 1e6 || step < 1e-4 {
            if value == 0 { return "0" }
            let digits = max(1, Int(floor(log10(abs(value)))) - Int(floor(log10(step))) + 1)
            return String(format: "%.\(min(digits, 15))g", value).replacingOccurrences(of: "e+0", with: "e")
                .replacingOccurrences(of: "e+", with: "e").replacingOccurrences(of: "e-0", with: "e-")
        }
        let decimals = max(0, -Int(floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", value)
    }

    /// A label for a value of a log axis (`1e-3`, `0.01`, `100`).
    static func logLabel(_ exponent: Double) -> String {
        let value = pow(10, exponent)
        if exponent == exponent.rounded() && (exponent < -3 || exponent > 5) { return "1e\(Int(exponent))" }
        return String(format: "%g", value)
    }
}

/// Draws charts as lines of text with Unicode braille (2 × 4 dots a cell): a pure function
/// of the data, so tests can compare the text. Colours and markers are asked of `paint`.
struct BrailleRenderer {
    var style: ChartStyle
    /// Whether lines are told apart by colour; without it, each line's last point carries
    /// its legend marker.
    var useColor: Bool
    /// Paints a piece of text in the colour of run `index` (identity when colour is off).
    var paint: (String, Int) -> String

    static let markers: [Character] = Array("●■▲◆★✚✖○□△◇☆abcdefghijklmnopqrstuvwxyz")
    static let colors = ["31", "32", "34", "33", "35", "36", "91", "92", "94", "93", "95", "96"]

    static func marker(_ run: Int) -> Character { markers[run % markers.count] }

    /// What was left out of a chart: values not drawn on a log scale.
    struct Notes {
        var nonPositive = 0
    }

    /// The chart's lines of text, `style.width` columns wide (before colour marks).
    func render(_ chart: Chart) -> (lines: [String], notes: Notes) {
        var notes = Notes()
        var lines = chart.lines
        if style.logScale {
            for index in lines.indices {
                let before = lines[index].points.count
                lines[index].points = lines[index].points.filter { $0.y > 0 }.map {
                    SeriesPoint(x: $0.x, y: log10($0.y))
                }
                notes.nonPositive += before - lines[index].points.count
            }
        }
        let all = lines.flatMap(\.points)
        var title = chart.title
        if !chart.missing.isEmpty { title += " (not in " + chart.missing.joined(separator: ", ") + ")" }
        var output = [Format.fit(title, style.width)]
        guard !all.isEmpty else {
            output.append(Format.fit("  (no values to draw)", style.width))
            return (output, notes)
        }
        // The y range, snapped to ticks.
        var low = all.map(\.y).min()!
        var high = all.map(\.y).max()!
        if let limits = style.yLimits {
            low = style.logScale ? log10(max(limits.low, .leastNormalMagnitude)) : limits.low
            high = style.logScale ? log10(max(limits.high, .leastNormalMagnitude)) : limits.high
        }
        let rows = max(2, style.height)
        var yTicks: [(value: Double, label: String)]
        if style.logScale && high - low >= 1 && style.yLimits == nil {
            low = floor(low)
            high = ceil(high)
            let every = max(1, Int((high - low) / Double(max(1, rows / 2))))
            yTicks = stride(from: low, through: high, by: Double(every)).map { ($0, AxisTicks.logLabel($0)) }
        } else {
            let ticks = AxisTicks.nice(low, high, count: max(1, rows / 2))
            if style.yLimits == nil {
                low = ticks.first
                high = ticks.last
            }
            yTicks = AxisTicks.values(step: ticks.step, first: ticks.first, last: ticks.last)
                .filter { $0 >= low - ticks.step * 1e-9 && $0 <= high + ticks.step * 1e-9 }
                .map { value in
                    (
                        value,
                        style.logScale
                            ? String(format: "%.3g", pow(10, value)) : AxisTicks.label(value, step: ticks.step)
                    )
                }
        }
        if !(high > low) { high = low + 1 }
        // The x range.
        var left = all.map(\.x).min()!
        var right = all.map(\.x).max()!
        if !(right > left) {
            left -= 1
            right += 1
        }
        let labelWidth = max(yTicks.map(\.label.count).max() ?? 1, 1)
        let columns = max(4, style.width - labelWidth - 2)
        let dotsWide = columns * 2
        let dotsHigh = rows * 4
        var bits = [[UInt8]](repeating: [UInt8](repeating: 0, count: columns), count: rows)
        var owner = [[Int]](repeating: [Int](repeating: -1, count: columns), count: rows)
        func dotX(_ x: Double) -> Double { (x - left) / (right - left) * Double(dotsWide - 1) }
        func dotY(_ y: Double) -> Double { (high - y) / (high - low) * Double(dotsHigh - 1) }
        func set(_ x: Int, _ y: Int, _ run: Int) {
            guard x >= 0, x < dotsWide, y >= 0, y < dotsHigh else { return }
            let bit: [UInt8] = x % 2 == 0 ? [0x01, 0x02, 0x04, 0x40] : [0x08, 0x10, 0x20, 0x80]
            bits[y / 4][x / 2] |= bit[y % 4]
            owner[y / 4][x / 2] = run
        }
        var ends: [(row: Int, column: Int, run: Int)] = []
        for line in lines {
            var previous: (Double, Double)?
            for point in line.points {
                let here = (dotX(point.x), dotY(point.y))
                if let from = previous {
                    if let (a, b) = clip(from, here, width: Double(dotsWide - 1), height: Double(dotsHigh - 1)) {
                        segment(a, b) { set($0, $1, line.run) }
                    }
                } else if line.points.count == 1 {
                    set(Int(here.0.rounded()), Int(here.1.rounded()), line.run)
                }
                previous = here
            }
            if !useColor, let last = line.points.last {
                let x = Int(dotX(last.x).rounded())
                let y = Int(dotY(last.y).rounded())
                if x >= 0, x < dotsWide, y >= 0, y < dotsHigh { ends.append((y / 4, x / 2, line.run)) }
            }
        }
        // Rows: the label of the tick nearest each row, the axis, the cells.
        var labelOfRow: [Int: String] = [:]
        for tick in yTicks {
            let row = Int((dotY(tick.value) / 4).rounded(.down))
            if row >= 0 && row < rows && labelOfRow[row] == nil { labelOfRow[row] = tick.label }
        }
        for row in 0..<rows {
            let label = labelOfRow[row] ?? ""
            var text = String(repeating: " ", count: labelWidth - label.count) + label
            text += labelOfRow[row] == nil ? " │" : " ┤"
            var column = 0
            while column < columns {
                if let end = ends.last(where: { $0.row == row && $0.column == column }) {
                    text += String(Self.marker(end.run))
                    column += 1
                    continue
                }
                let run = owner[row][column]
                // Runs of cells of one owner are painted at once.
                var cells = ""
                var next = column
                while next < columns, owner[row][next] == run,
                    !ends.contains(where: { $0.row == row && $0.column == next })
                {
                    let value = bits[row][next]
                    cells.unicodeScalars.append(value == 0 ? " " : Unicode.Scalar(0x2800 + UInt32(value))!)
                    next += 1
                }
                text += run >= 0 && useColor ? paint(cells, run) : cells
                column = next
            }
            while text.hasSuffix(" ") { text.removeLast() }
            output.append(text)
        }
        // The x axis: a rule with ticks, then their labels.
        let xTicks = AxisTicks.nice(left, right, count: max(1, columns / 12))
        var rule = [Character](repeating: "─", count: columns)
        var labels = [Character](repeating: " ", count: columns + 8)
        var free = 0
        for value in AxisTicks.values(step: xTicks.step, first: xTicks.first, last: xTicks.last)
        where value >= left - xTicks.step * 1e-9 && value <= right + xTicks.step * 1e-9 {
            let column = min(columns - 1, max(0, Int((dotX(value) / 2).rounded(.down))))
            rule[column] = "┬"
            let label = Array(AxisTicks.label(value, step: xTicks.step))
            let start = min(max(free, column - label.count / 2), columns - label.count)
            guard start >= free, start >= 0 else { continue }
            for (offset, character) in label.enumerated() { labels[start + offset] = character }
            free = start + label.count + 1
        }
        output.append(String(repeating: " ", count: labelWidth) + " └" + String(rule))
        var labelLine = String(repeating: " ", count: labelWidth + 2) + String(labels)
        while labelLine.hasSuffix(" ") { labelLine.removeLast() }
        let caption = style.xCaption
        if labelLine.count + 2 + caption.count <= style.width {
            labelLine += String(repeating: " ", count: style.width - labelLine.count - caption.count) + caption
        }
        output.append(labelLine)
        return (output, notes)
    }

    /// The part of the segment `a`–`b` inside `0…width × 0…height` (Liang–Barsky), or nil.
    private func clip(_ a: (Double, Double), _ b: (Double, Double), width: Double, height: Double) -> (
        (Double, Double), (Double, Double)
    )? {
        var t0 = 0.0
        var t1 = 1.0
        let dx = b.0 - a.0
        let dy = b.1 - a.1
        for (p, q) in [(-dx, a.0), (dx, width - a.0), (-dy, a.1), (dy, height - a.1)] {
            if p == 0 {
                if q < 0 { return nil }
                continue
            }
            let r = q / p
            if p < 0 {
                if r > t1 { return nil }
                t0 = max(t0, r)
            } else {
                if r < t0 { return nil }
                t1 = min(t1, r)
            }
        }
        return ((a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy))
    }

    /// The dots of a straight segment (Bresenham).
    private func segment(_ a: (Double, Double), _ b: (Double, Double), _ dot: (Int, Int) -> Void) {
        var x = Int(a.0.rounded())
        var y = Int(a.1.rounded())
        let x1 = Int(b.0.rounded())
        let y1 = Int(b.1.rounded())
        let dx = abs(x1 - x)
        let dy = -abs(y1 - y)
        let sx = x < x1 ? 1 : -1
        let sy = y < y1 ? 1 : -1
        var error = dx + dy
        while true {
            dot(x, y)
            if x == x1 && y == y1 { break }
            let twice = 2 * error
            if twice >= dy {
                error += dy
                x += sx
            }
            if twice <= dx {
                error += dx
                y += sy
            }
        }
    }
}

/// Charts side by side to fill the width, and the legend under them.
enum ChartLayout {
    /// How many charts of at least `minimum` columns fit in `width`, 2 columns apart.
    static func perRow(width: Int, count: Int, minimum: Int = 38) -> Int {
        max(1, min(count, (width + 2) / (minimum + 2)))
    }

    /// Blocks of lines placed side by side, each padded to `width`.
    static func sideBySide(_ blocks: [[String]], width: Int) -> [String] {
        let height = blocks.map(\.count).max() ?? 0
        return (0..<height).map { row in
            var line = ""
            for (index, block) in blocks.enumerated() {
                let cell = row < block.count ? block[row] : ""
                if index < blocks.count - 1 {
                    line += cell + String(repeating: " ", count: max(0, width - visibleCount(cell)) + 2)
                } else {
                    line += cell
                }
            }
            while line.hasSuffix(" ") { line.removeLast() }
            return line
        }
    }

    /// The characters of `text` a terminal shows (colour marks left out).
    static func visibleCount(_ text: String) -> Int {
        var count = 0
        var inMark = false
        for scalar in text.unicodeScalars {
            if scalar.value == StyleMarks.lead {
                inMark = true
                continue
            }
            if inMark {
                if scalar == "m" { inMark = false }
                continue
            }
            count += 1
        }
        return count
    }

    /// The legend: a sample of each run's line (coloured) or its marker, and its name,
    /// wrapped to `width`.
    static func legend(_ entries: [String], width: Int, renderer: BrailleRenderer) -> [String] {
        var lines: [String] = []
        var line = ""
        var used = 0
        for (index, entry) in entries.enumerated() {
            let sample = renderer.useColor ? renderer.paint("━━", index) : String(BrailleRenderer.marker(index))
            let size = (renderer.useColor ? 2 : 1) + 1 + entry.count
            if used > 0 && used + 3 + size > width {
                lines.append(line)
                line = ""
                used = 0
            }
            if used > 0 {
                line += "   "
                used += 3
            }
            line += sample + " " + entry
            used += size
        }
        if !line.isEmpty { lines.append(line) }
        return lines
    }
}

/// A series in one line of block characters (`▇▅▄▃▂▂▁▁`): the x range cut into `width`
/// slices (fewer for fewer points), each shown by the mean of its values, scaled from the
/// smallest to the largest; a constant series is a flat `▄` line.
enum Sparkline {
    static let levels: [Character] = Array("▁▂▃▄▅▆▇█")

    static func text(_ points: [SeriesPoint], width: Int = 8) -> String {
        guard let first = points.first, let last = points.last, width > 0 else { return "" }
        // Fewer points than slices: one character a point, no gaps.
        let width = min(width, points.count)
        var sums = [Double](repeating: 0, count: width)
        var counts = [Int](repeating: 0, count: width)
        for point in points {
            let slice = SeriesDownsampling.bucket(of: point.x, from: first.x, to: last.x, buckets: width)
            sums[slice] += point.y
            counts[slice] += 1
        }
        var means: [Double?] = zip(sums, counts).map { $1 == 0 ? nil : $0 / Double($1) }
        // One point (or all at one x): a line as wide as one slice, not a row of gaps.
        if first.x == last.x { means = [means[0]] }
        let values = means.compactMap { $0 }
        guard let low = values.min(), let high = values.max() else { return "" }
        return String(
            means.map { mean -> Character in
                guard let mean else { return " " }
                guard high > low else { return levels[3] }
                let level = Int(((mean - low) / (high - low) * Double(levels.count - 1)).rounded())
                return levels[min(levels.count - 1, max(0, level))]
            })
    }
}
