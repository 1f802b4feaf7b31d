import ExpCore
import Foundation

/// The same charts as a standalone SVG picture: deterministic text (fixed layout, numbers
/// with two decimals, runs and charts in the order given), one `<path>` per run per chart.
struct SVGRenderer {
    var style: ChartStyle
    static let colors = [
        "#d62728", "#2ca02c", "#1f77b4", "#ff7f0e", "#9467bd", "#17becf", "#e377c2", "#8c564b", "#bcbd22",
        "#7f7f7f", "#393b79", "#637939",
    ]

    static func color(_ run: Int) -> String { colors[run % colors.count] }

    /// The SVG document of `charts` laid out `perRow` to a row, with the legend's `names`.
    func document(_ charts: [Chart], names: [String], perRow: Int) -> String {
        let chartWidth = 420.0
        let chartHeight = 260.0
        let perRow = max(1, perRow)
        let rows = (charts.count + perRow - 1) / perRow
        let legendHeight = Double((names.count + 3) / 4) * 18 + 10
        let width = chartWidth * Double(min(perRow, max(1, charts.count)))
        let height = chartHeight * Double(max(rows, 1)) + legendHeight
        var svg = """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Self.number(width))" height="\(Self.number(height))" \
            viewBox="0 0 \(Self.number(width)) \(Self.number(height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>

            """
        for (index, chart) in charts.enumerated() {
            let x = Double(index % perRow) * chartWidth
            let y = Double(index / perRow) * chartHeight
            svg += "<g transform=\"translate(\(Self.number(x)),\(Self.number(y)))\">\n"
            svg += chartBody(chart, number: index, width: chartWidth, height: chartHeight)
            svg += "</g>\n"
        }
        for (index, name) in names.enumerated() {
            let x = Double(index % 4) * (width / 4) + 10
            let y = chartHeight * Double(max(rows, 1)) + Double(index / 4) * 18 + 14
            svg += "<line x1=\"\(Self.number(x))\" y1=\"\(Self.number(y - 4))\" x2=\"\(Self.number(x + 18))\" "
            svg += "y2=\"\(Self.number(y - 4))\" stroke=\"\(Self.color(index))\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(Self.number(x + 24))\" y=\"\(Self.number(y))\">\(Self.escape(name))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    private func chartBody(_ chart: Chart, number: Int, width: Double, height: Double) -> String {
        var lines = chart.lines
        if style.logScale {
            for index in lines.indices {
                lines[index].points = lines[index].points.filter { $0.y > 0 }.map {
                    SeriesPoint(x: $0.x, y: log10($0.y))
                }
            }
        }
        var svg = "<text x=\"10\" y=\"16\" font-weight=\"bold\">\(Self.escape(chart.title))</text>\n"
        let all = lines.flatMap(\.points)
        guard let minY = all.map(\.y).min(), let maxY = all.map(\.y).max(), let minX = all.map(\.x).min(),
            let maxX = all.map(\.x).max()
        else {
            return svg
        }
        var low = minY
        var high = maxY
        if let limits = style.yLimits {
            low = style.logScale ? log10(max(limits.low, .leastNormalMagnitude)) : limits.low
            high = style.logScale ? log10(max(limits.high, .leastNormalMagnitude)) : limits.high
        }
        let yTicks = AxisTicks.nice(low, high, count: 5)
        if style.yLimits == nil {
            low = yTicks.first
            high = yTicks.last
        }
        if !(high > low) { high = low + 1 }
        var left = minX
        var right = maxX
        if !(right > left) {
            left -= 1
            right += 1
        }
        let xTicks = AxisTicks.nice(left, right, count: 5)
        let area = (x: 60.0, y: 26.0, width: width - 75, height: height - 66)
        func px(_ x: Double) -> Double { area.x + (x - left) / (right - left) * area.width }
        func py(_ y: Double) -> Double { area.y + (high - y) / (high - low) * area.height }
        svg += "<rect x=\"\(Self.number(area.x))\" y=\"\(Self.number(area.y))\" width=\"\(Self.number(area.width))\" "
        svg += "height=\"\(Self.number(area.height))\" fill=\"none\" stroke=\"#999\"/>\n"
        for value in AxisTicks.values(step: yTicks.step, first: yTicks.first, last: yTicks.last)
        where value >= low - yTicks.step * 1e-9 && value <= high + yTicks.step * 1e-9 {
            let label =
                style.logScale ? String(format: "%.3g", pow(10, value)) : AxisTicks.label(value, step: yTicks.step)
            svg += "<text x=\"\(Self.number(area.x - 4))\" y=\"\(Self.number(py(value) + 4))\" text-anchor=\"end\">"
            svg += "\(Self.escape(label))</text>\n"
        }
        for value in AxisTicks.values(step: xTicks.step, first: xTicks.first, last: xTicks.last)
        where value >= left - xTicks.step * 1e-9 && value <= right + xTicks.step * 1e-9 {
            svg += "<text x=\"\(Self.number(px(value)))\" y=\"\(Self.number(area.y + area.height + 14))\" "
            svg += "text-anchor=\"middle\">\(Self.escape(AxisTicks.label(value, step: xTicks.step)))</text>\n"
        }
        svg += "<text x=\"\(Self.number(area.x + area.width))\" y=\"\(Self.number(height - 12))\" "
        svg += "text-anchor=\"end\">\(Self.escape(style.xCaption))</text>\n"
        svg += "<clipPath id=\"area\(number)\"><rect x=\"\(Self.number(area.x))\" y=\"\(Self.number(area.y))\" "
        svg += "width=\"\(Self.number(area.width))\" height=\"\(Self.number(area.height))\"/></clipPath>\n"
        svg += "<g clip-path=\"url(#area\(number))\">\n"
        for line in lines {
            var d = ""
            for (index, point) in line.points.enumerated() {
                d += (index == 0 ? "M" : " L") + Self.number(px(point.x)) + " " + Self.number(py(point.y))
            }
            if line.points.count == 1 { d += " h0.01" }
            svg += "<path d=\"\(d)\" fill=\"none\" stroke=\"\(Self.color(line.run))\" stroke-width=\"1.5\" "
            svg += "stroke-linecap=\"round\"/>\n"
        }
        svg += "</g>\n"
        return svg
    }

    /// A coordinate with two decimals (no locale, no `-0.00`).
    static func number(_ value: Double) -> String {
        let clamped = min(max(value, -1e7), 1e7)
        let text = String(format: "%.2f", clamped)
        return text == "-0.00" ? "0.00" : text
    }

    /// Text escaped for XML, control characters (not allowed in XML 1.0) shown as `\ooo`.
    static func escape(_ text: String) -> String {
        var result = ""
        for scalar in TerminalText.escape(text).unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
