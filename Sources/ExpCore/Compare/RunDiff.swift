public import ExpGit
import Foundation

/// The parts of a comparison between runs.
public enum RunDiffPart: String, Sendable, CaseIterable {
    case code, params, metrics
}

/// What to compare: a run against the working tree, or against another run.
public struct RunDiffRequest: Sendable {
    /// The old side (`a`).
    public var run: RunRef
    /// The new side (`b`); nil compares with the working tree as `git add -A` would stage it.
    public var other: RunRef?
    /// Limits the code part to these pathspecs (relative to the working folder, as in git).
    public var pathspecs: [String]
    /// The parts wanted; empty means every part that applies.
    public var parts: Set<RunDiffPart>

    public init(run: RunRef, other: RunRef? = nil, pathspecs: [String] = [], parts: Set<RunDiffPart> = []) {
        self.run = run
        self.other = other
        self.pathspecs = pathspecs
        self.parts = parts
    }
}

/// A param that differs between two runs; nil where a run does not have it.
public struct ParamChange: Sendable, Equatable {
    public var a: ParamValue?
    public var b: ParamValue?

    public init(a: ParamValue?, b: ParamValue?) {
        self.a = a
        self.b = b
    }
}

/// One metric of two runs, side by side; nil where a run did not log it.
public struct MetricComparison: Sendable, Equatable {
    public var a: MetricSummary?
    public var b: MetricSummary?

    public init(a: MetricSummary?, b: MetricSummary?) {
        self.a = a
        self.b = b
    }

    /// `b.last - a.last`, when both runs logged the metric.
    public var change: Double? {
        guard let a, let b else { return nil }
        return b.last - a.last
    }

    /// The change of `last` relative to `a.last`, in percent; nil when `a.last` is 0.
    public var relativeChange: Double? {
        guard let a, let change, a.last != 0, a.last.isFinite else { return nil }
        return change / abs(a.last) * 100
    }
}

/// The comparison of a run with the working tree or with another run.
public struct RunDiff: Sendable {
    /// The old side.
    public var a: StoredRun
    /// The new side; nil for the working tree.
    public var b: StoredRun?
    /// The trees compared.
    public var oldTree: ObjectID
    public var newTree: ObjectID
    /// The code part, when asked for.
    public var code: TreeDiff?
    /// Params that differ (only with two runs and when asked for).
    public var params: [String: ParamChange]?
    /// Every metric of either run (only with two runs and when asked for).
    public var metrics: [String: MetricComparison]?

    /// Params whose values differ between two records, or that only one has.
    public static func paramChanges(_ a: [String: ParamValue], _ b: [String: ParamValue]) -> [String: ParamChange] {
        var changes: [String: ParamChange] = [:]
        for key in Set(a.keys).union(b.keys) where a[key] != b[key] {
            changes[key] = ParamChange(a: a[key], b: b[key])
        }
        return changes
    }

    /// Every metric key of either record, with both summaries.
    public static func metricComparisons(_ a: [String: MetricSummary], _ b: [String: MetricSummary])
        -> [String: MetricComparison]
    {
        var comparisons: [String: MetricComparison] = [:]
        for key in Set(a.keys).union(b.keys) {
            comparisons[key] = MetricComparison(a: a[key], b: b[key])
        }
        return comparisons
    }
}

extension RunStore {
    /// Compares a run's code, params and metrics with another run, or its code with the
    /// working tree. Never touches HEAD, the index or any file (comparing with the working
    /// tree writes an unreferenced snapshot commit, as `exp snapshot` does).
    public func diff(_ request: RunDiffRequest) throws -> RunDiff {
        let a = try resolve(request.run, includeAutosaves: true)
        let b = try request.other.map { try resolve($0, includeAutosaves: true) }
        if b == nil, let part = request.parts.first(where: { $0 != .code }) {
            throw ExpError(
                .usage, "comparing \(part.rawValue) needs two runs", hint: "give a second run to compare with",
                reason: .needsSecondRun(run: request.run, part: part))
        }
        let wanted = request.parts.isEmpty ? Set(RunDiffPart.allCases) : request.parts
        let newTree = try b?.record.snapshot.tree ?? workspace.takeSnapshot(message: "exp diff").tree
        let oldTree = a.record.snapshot.tree
        var result = RunDiff(a: a, b: b, oldTree: oldTree, newTree: newTree)
        if wanted.contains(.code) {
            let pathspecs = relativeToRoot(request.pathspecs)
            result.code = try translatingGitErrors {
                // A number in core.abbrev sets the id length on `index` lines, as in git.
                let abbreviation = try workspace.config.string("core.abbrev", includeFallback: false).flatMap {
                    Int($0)
                }
                return try workspace.repository.diffTrees(
                    from: oldTree, to: newTree, pathspecs: pathspecs, abbreviation: abbreviation ?? 7)
            }
        }
        if let b {
            if wanted.contains(.params) { result.params = RunDiff.paramChanges(a.record.params, b.record.params) }
            if wanted.contains(.metrics) {
                result.metrics = RunDiff.metricComparisons(a.record.metrics, b.record.metrics)
            }
        }
        return result
    }

    /// Pathspecs given in a subfolder, made relative to the repository root as git does.
    private func relativeToRoot(_ pathspecs: [String]) -> [String] {
        let prefix = workspace.relativeWorkingDirectory()
        guard prefix != "." else { return pathspecs }
        return pathspecs.map { spec in
            if spec.hasPrefix(":") { return spec }
            if spec == "." { return prefix }
            return prefix + "/" + spec
        }
    }
}

/// Paths as git prints them in `--name-only` and headers: in double quotes with C escapes
/// when they hold control characters, quotes, backslashes or non-ASCII bytes
/// (`core.quotePath`'s default).
public func quotedPath(_ path: String) -> String {
    let bytes = Array(path.utf8)
    let needsQuotes = bytes.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C || $0 >= 0x7F }
    guard needsQuotes else { return path }
    var text = "\""
    for byte in bytes {
        switch byte {
        case 0x07: text += "\\a"
        case 0x08: text += "\\b"
        case 0x09: text += "\\t"
        case 0x0A: text += "\\n"
        case 0x0B: text += "\\v"
        case 0x0C: text += "\\f"
        case 0x0D: text += "\\r"
        case 0x22: text += "\\\""
        case 0x5C: text += "\\\\"
        case let byte where byte < 0x20 || byte >= 0x7F:
            text += "\\" + String(byte, radix: 8).leftPadded(to: 3)
        default: text += String(UnicodeScalar(byte))
        }
    }
    return text + "\""
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

/// The summary `git diff --stat` prints for a set of changed files, at git's width for
/// output that is not a terminal (80 columns).
public enum DiffStat {
    /// Renders `files` like git's `show_stats`: names, change counts, a +/- graph scaled to
    /// fit, and the "N files changed" line.
    public static func render(_ files: [TreeDiff.File], width requestedWidth: Int = 80) -> String {
        guard !files.isEmpty else { return "" }
        let names = files.map(printName)
        var maxLength = 0
        var maxChange = 0
        var binaryWidth = 0
        var numberWidth = 0
        for (file, name) in zip(files, names) {
            maxLength = max(maxLength, name.count)
            if file.isBinary {
                binaryWidth = max(binaryWidth, 14 + decimalWidth(file.newSize) + decimalWidth(file.oldSize))
                numberWidth = 3
                continue
            }
            maxChange = max(maxChange, file.additions + file.deletions)
        }
        numberWidth = max(decimalWidth(Int64(maxChange)), numberWidth)
        let width = max(requestedWidth, 16 + 6 + numberWidth)
        var graphWidth = maxChange + 4 > binaryWidth ? maxChange : binaryWidth - 4
        var nameWidth = maxLength
        if nameWidth + numberWidth + 6 + graphWidth > width {
            if graphWidth > width * 3 / 8 - numberWidth - 6 {
                graphWidth = max(width * 3 / 8 - numberWidth - 6, 6)
            }
            if nameWidth > width - numberWidth - 6 - graphWidth {
                nameWidth = width - numberWidth - 6 - graphWidth
            } else {
                graphWidth = width - numberWidth - 6 - nameWidth
            }
        }
        var text = ""
        var additions = 0
        var deletions = 0
        for (file, fullName) in zip(files, names) {
            var name = fullName
            var prefix = ""
            var length = nameWidth
            if nameWidth < name.count {
                prefix = "..."
                length = max(length - 3, 0)
                name = String(name.suffix(length))
                if let slash = name.firstIndex(of: "/") { name = String(name[slash...]) }
            }
            let padding = String(repeating: " ", count: max(length - name.count, 0))
            let head = " " + prefix + name + padding + " | "
            if file.isBinary {
                text += head + leftPad("Bin", numberWidth)
                if file.oldSize != 0 || file.newSize != 0 { text += " \(file.oldSize) -> \(file.newSize) bytes" }
                text += "\n"
                continue
            }
            additions += file.additions
            deletions += file.deletions
            var add = file.additions
            var del = file.deletions
            let total = add + del
            if graphWidth <= maxChange {
                var scaled = scale(total, graphWidth, maxChange)
                if scaled < 2 && add > 0 && del > 0 { scaled = 2 }
                if add < del {
                    add = scale(add, graphWidth, maxChange)
                    del = scaled - add
                } else {
                    del = scale(del, graphWidth, maxChange)
                    add = scaled - del
                }
            }
            text += head + leftPad(String(total), numberWidth) + (total > 0 ? " " : "")
            text += String(repeating: "+", count: max(add, 0)) + String(repeating: "-", count: max(del, 0)) + "\n"
        }
        text += " \(files.count) file\(files.count == 1 ? "" : "s") changed"
        if additions > 0 || deletions == 0 { text += ", \(additions) insertion\(additions == 1 ? "" : "s")(+)" }
        if deletions > 0 || additions == 0 { text += ", \(deletions) deletion\(deletions == 1 ? "" : "s")(-)" }
        return text + "\n"
    }

    /// The name git shows for a file: `a => b` or `dir/{a => b}/rest` for a rename.
    static func printName(_ file: TreeDiff.File) -> String {
        guard file.status == .renamed || file.status == .copied, file.oldPath != file.path else {
            return quotedPath(file.path)
        }
        let a = Array(file.oldPath.utf8)
        let b = Array(file.path.utf8)
        if quotedPath(file.oldPath) != file.oldPath || quotedPath(file.path) != file.path {
            return quotedPath(file.oldPath) + " => " + quotedPath(file.path)
        }
        let slash = UInt8(ascii: "/")
        var prefixLength = 0
        var i = 0
        while i < a.count && i < b.count && a[i] == b[i] {
            if a[i] == slash { prefixLength = i + 1 }
            i += 1
        }
        var suffixLength = 0
        var oldEnd = a.count
        var newEnd = b.count
        let adjust = prefixLength > 0 ? 1 : 0
        // git compares from the terminating NUL backwards; index count stands for it.
        func byte(_ bytes: [UInt8], _ index: Int) -> UInt8 { index < bytes.count ? bytes[index] : 0 }
        while prefixLength - adjust <= oldEnd && prefixLength - adjust <= newEnd && byte(a, oldEnd) == byte(b, newEnd) {
            if byte(a, oldEnd) == slash { suffixLength = a.count - oldEnd }
            oldEnd -= 1
            newEnd -= 1
            if oldEnd < 0 || newEnd < 0 { break }
        }
        let oldMiddle = max(a.count - prefixLength - suffixLength, 0)
        let newMiddle = max(b.count - prefixLength - suffixLength, 0)
        var name: [UInt8] = []
        if prefixLength + suffixLength > 0 {
            name += a[0..<prefixLength]
            name.append(UInt8(ascii: "{"))
        }
        name += a[prefixLength..<(prefixLength + oldMiddle)]
        name += Array(" => ".utf8)
        name += b[prefixLength..<(prefixLength + newMiddle)]
        if prefixLength + suffixLength > 0 {
            name.append(UInt8(ascii: "}"))
            name += a[(a.count - suffixLength)...]
        }
        return String(decoding: name, as: UTF8.self)
    }

    private static func scale(_ value: Int, _ width: Int, _ maxChange: Int) -> Int {
        value == 0 ? 0 : 1 + value * (width - 1) / maxChange
    }

    private static func decimalWidth(_ value: Int64) -> Int { String(value).count }

    private static func leftPad(_ text: String, _ width: Int) -> String {
        String(repeating: " ", count: max(width - text.count, 0)) + text
    }
}
