import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Reads a PyTorch Lightning CSVLogger `metrics.csv` while the run writes it.
///
/// Lightning (`lightning.fabric.loggers.csv_logs._ExperimentWriter`) keeps rows in memory and
/// every `flush_logs_every_n_steps` (100) appends them to the file; when a row brings a key the
/// header lacks, it rewrites the whole file with the new, sorted header first. Rows are
/// sparse (a cell is empty where that row did not log the key); the `step` column gives the
/// step (the `epoch` column when there is no `step` column). Every other numeric cell is a
/// point (`nan`, `inf` included), keys as logged (`train_loss_step`, `val/acc`); text cells
/// are skipped.
///
/// The reader keeps the offset of the last complete line: an update reads what was appended
/// since; a file that shrank or whose first line changed was rewritten and is read again
/// whole. A last line without its newline is being written and waits for the next update.
public struct CSVMetricsReader {
    public let path: String
    private var header: [String] = []
    private var headerLine: [UInt8] = []
    private var offset = 0
    private var stepColumn: Int?
    /// The index in `points` of each column's last point.
    private var lastOfColumn: [Int] = []
    /// The points read so far, in file order.
    public private(set) var points: [MetricPoint] = []

    public init(path: String) { self.path = path }

    /// Reads what changed since the last update; returns whether `points` changed.
    @discardableResult
    public mutating func update() -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        guard let size = try? handle.seekToEnd() else { return false }
        var rewritten = Int(size) < offset
        if !rewritten && !headerLine.isEmpty {
            try? handle.seek(toOffset: 0)
            let start = [UInt8]((try? handle.read(upToCount: headerLine.count)) ?? Data())
            rewritten = start != headerLine
        }
        if rewritten {
            header = []
            headerLine = []
            offset = 0
            stepColumn = nil
            lastOfColumn = []
            points = []
        }
        guard Int(size) > offset else { return rewritten }
        try? handle.seek(toOffset: UInt64(offset))
        guard let data = try? handle.readToEnd(), !data.isEmpty else { return rewritten }
        let consumed = data.withUnsafeBytes { consume($0) }
        offset += consumed
        return rewritten || consumed > 0
    }

    /// Reads the complete lines of `bytes` (the file from `offset`); returns the bytes used.
    private mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return 0 }
        let buffer = UnsafeBufferPointer(start: base, count: bytes.count)
        var start = 0
        var cells: [Range<Int>] = []
        var scratch: [UInt8] = []
        while start < buffer.count {
            guard let found = memchr(base + start, 10, buffer.count - start) else { break }
            let newline = UnsafeRawPointer(base).distance(to: UnsafeRawPointer(found))
            var end = newline
            if end > start && buffer[end - 1] == 13 { end -= 1 }
            if header.isEmpty {
                headerLine = Array(buffer[0...newline])
                header = CSVLine.fields(buffer, start..<end)
                stepColumn = header.firstIndex(of: "step") ?? header.firstIndex(of: "epoch")
                lastOfColumn = Array(repeating: -1, count: header.count)
            } else if end > start {
                CSVLine.split(buffer, start..<end, into: &cells)
                readRow(buffer, cells, &scratch)
            }
            start = newline + 1
        }
        return start
    }

    private mutating func readRow(_ buffer: UnsafeBufferPointer<UInt8>, _ cells: [Range<Int>], _ scratch: inout [UInt8])
    {
        var step: Double?
        if let column = stepColumn, column < cells.count {
            step = CSVLine.number(buffer, cells[column], &scratch)
        }
        for (column, range) in cells.enumerated() where column < header.count && column != stepColumn {
            guard !range.isEmpty, let value = CSVLine.number(buffer, range, &scratch) else { continue }
            let point = MetricPoint(key: header[column], step: step, time: nil, value: value, source: .csv)
            // Lightning writes train and validation rows of one step apart, each with `epoch`:
            // a column's value at the step of its previous value replaces it.
            let last = lastOfColumn[column]
            if let step, last >= 0, points[last].step == step {
                points[last] = point
            } else {
                lastOfColumn[column] = points.count
                points.append(point)
            }
        }
    }

    /// The whole file read at once (tests, `exp-bench import-csv`).
    public static func read(path: String) -> [MetricPoint] {
        var reader = CSVMetricsReader(path: path)
        reader.update()
        return reader.points
    }
}

/// Splitting a CSV line (RFC 4180 quoting, as Python's `csv` module writes) and reading a
/// cell as a number.
enum CSVLine {
    /// The byte ranges of the cells of one line (quotes kept; `number` and `fields` strip them).
    static func split(_ buffer: UnsafeBufferPointer<UInt8>, _ line: Range<Int>, into cells: inout [Range<Int>]) {
        cells.removeAll(keepingCapacity: true)
        var index = line.lowerBound
        var cellStart = index
        var quoted = false
        while index < line.upperBound {
            let byte = buffer[index]
            if byte == UInt8(ascii: "\"") {
                quoted.toggle()
            } else if byte == UInt8(ascii: ","), !quoted {
                cells.append(cellStart..<index)
                cellStart = index + 1
            }
            index += 1
        }
        cells.append(cellStart..<line.upperBound)
    }

    /// The cells of a line as text, unquoted.
    static func fields(_ buffer: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) -> [String] {
        var cells: [Range<Int>] = []
        split(buffer, line, into: &cells)
        return cells.map { range in
            let text = String(decoding: buffer[range], as: UTF8.self)
            guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { return text }
            return String(text.dropFirst().dropLast()).replacingOccurrences(of: "\"\"", with: "\"")
        }
    }

    /// A cell as a number (`0.5`, `1e-05`, `3`, `nan`, `inf`, `-inf`), or nil for empty and
    /// text cells. Cells longer than 63 bytes are never numbers.
    static func number(_ buffer: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ scratch: inout [UInt8]) -> Double? {
        var lower = range.lowerBound
        var upper = range.upperBound
        if upper - lower >= 2, buffer[lower] == UInt8(ascii: "\""), buffer[upper - 1] == UInt8(ascii: "\"") {
            lower += 1
            upper -= 1
        }
        let count = upper - lower
        guard count > 0, count < 64 else { return nil }
        let first = buffer[lower]
        // Fast rejection of text cells: a number starts with a digit, a sign, a point, or n/i.
        guard
            (first >= 48 && first <= 57) || first == 45 || first == 43 || first == 46 || first | 0x20 == 110
                || first | 0x20 == 105
        else { return nil }
        if scratch.count < 64 { scratch = [UInt8](repeating: 0, count: 64) }
        return scratch.withUnsafeMutableBufferPointer { text -> Double? in
            guard let target = text.baseAddress else { return nil }
            for index in 0..<count { target[index] = buffer[lower + index] }
            target[count] = 0
            return target.withMemoryRebound(to: CChar.self, capacity: 64) { chars -> Double? in
                var end: UnsafeMutablePointer<CChar>?
                let value = strtod(chars, &end)
                guard let end, chars.distance(to: end) == count else { return nil }
                return value
            }
        }
    }
}
