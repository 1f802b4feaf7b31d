/// Adding trailers (`Exp-Run: …`) to a commit message the way `git interpret-trailers` does
/// with its defaults: after an existing trailer block when the message's last paragraph is
/// one, else after a blank line; always before the trailing comment block (`# Please enter
/// the commit message…`) and anything below a scissors line (`git commit --verbose`).
public enum CommitTrailers {
    /// `message` with `trailers` (whole lines without newline, `Token: value`) added.
    public static func add(_ trailers: [String], to message: String, commentChar: Character = "#") -> String {
        guard !trailers.isEmpty else { return message }
        let bytes = Array(message.utf8)
        let comment = commentChar.asciiValue ?? UInt8(ascii: "#")
        let end = bytes.count - ignoredTrailingBytes(bytes, comment: comment)
        let part = Array(bytes[..<end])
        let start = trailerBlockStart(part, comment: comment)
        var output = Array(part[..<start])
        if !endsWithBlankLine(output) { output.append(UInt8(ascii: "\n")) }
        output.append(contentsOf: part[start...])
        for trailer in trailers { output.append(contentsOf: Array(trailer.utf8) + [UInt8(ascii: "\n")]) }
        output.append(contentsOf: bytes[end...])
        return String(decoding: output, as: UTF8.self)
    }

    /// Whether `message` (outside its trailing comments) has a line starting with `token:`.
    public static func contains(token: String, in message: String, commentChar: Character = "#") -> Bool {
        message.split(separator: "\n", omittingEmptySubsequences: false).contains { line in
            line.first != commentChar && line.lowercased().hasPrefix(token.lowercased() + ":")
        }
    }

    // MARK: git's trailer.c, byte for byte

    private static let newline = UInt8(ascii: "\n")

    /// Start offsets of each line.
    private static func lineStarts(_ bytes: [UInt8], upTo end: Int) -> [Int] {
        var starts: [Int] = []
        var position = 0
        while position < end {
            starts.append(position)
            if let next = bytes[position..<end].firstIndex(of: newline) {
                position = next + 1
            } else {
                position = end
            }
        }
        return starts
    }

    private static func isBlankLine(_ bytes: [UInt8], at start: Int) -> Bool {
        var position = start
        while position < bytes.count && bytes[position] != newline {
            if !isSpace(bytes[position]) { return false }
            position += 1
        }
        return true
    }

    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }

    private static func hasPrefix(_ bytes: [UInt8], at start: Int, _ prefix: String) -> Bool {
        let needle = Array(prefix.utf8)
        return start + needle.count <= bytes.count && Array(bytes[start..<start + needle.count]) == needle
    }

    /// Where a scissors line (`# ------------------------ >8 ------------------------`) starts,
    /// else the length.
    private static func scissorsCutoff(_ bytes: [UInt8], comment: UInt8) -> Int {
        let scissors = [comment] + Array(" ------------------------ >8 ------------------------\n".utf8)
        for start in lineStarts(bytes, upTo: bytes.count)
        where start + scissors.count <= bytes.count && Array(bytes[start..<start + scissors.count]) == scissors {
            return start
        }
        return bytes.count
    }

    /// git's `ignored_log_message_bytes`: the trailing run of comment and blank lines (and
    /// everything after a scissors line).
    private static func ignoredTrailingBytes(_ bytes: [UInt8], comment: UInt8) -> Int {
        let cutoff = scissorsCutoff(bytes, comment: comment)
        var boc = 0
        var inConflicts = false
        for start in lineStarts(bytes, upTo: cutoff) {
            if bytes[start] == comment || bytes[start] == newline {
                if boc == 0 { boc = start }
            } else if hasPrefix(bytes, at: start, "Conflicts:\n") {
                inConflicts = true
                if boc == 0 { boc = start }
            } else if inConflicts && bytes[start] == UInt8(ascii: "\t") {
                continue
            } else if boc != 0 {
                boc = 0
                inConflicts = false
            }
        }
        return boc != 0 ? bytes.count - boc : bytes.count - cutoff
    }

    private static func endsWithBlankLine(_ bytes: [UInt8]) -> Bool {
        guard let last = lastLineStart(bytes, bytes.count) else { return false }
        return isBlankLine(bytes, at: last)
    }

    /// git's `last_line`: the start of the line holding the last byte before `length`.
    private static func lastLineStart(_ bytes: [UInt8], _ length: Int) -> Int? {
        if length == 0 { return nil }
        if length == 1 { return 0 }
        var index = length - 2
        while index >= 0 {
            if bytes[index] == newline { return index + 1 }
            index -= 1
        }
        return 0
    }

    /// git's `find_separator` with `:` as the only separator.
    private static func separatorPosition(_ bytes: [UInt8], at start: Int) -> Int? {
        var sawSpace = false
        var position = start
        while position < bytes.count && bytes[position] != newline {
            let byte = bytes[position]
            if byte == UInt8(ascii: ":") { return position - start }
            let tokenByte =
                (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == UInt8(ascii: "-")
            if !sawSpace && tokenByte {
                position += 1
                continue
            }
            if position != start && (byte == 0x20 || byte == 0x09) {
                sawSpace = true
                position += 1
                continue
            }
            break
        }
        return nil
    }

    /// git's `find_trailer_start`: where the trailer block begins, or the length when there is
    /// none.
    private static func trailerBlockStart(_ bytes: [UInt8], comment: UInt8) -> Int {
        let length = bytes.count
        // The first paragraph is the title and cannot be trailers.
        var endOfTitle = length
        for start in lineStarts(bytes, upTo: length) {
            if bytes[start] == comment { continue }
            if isBlankLine(bytes, at: start) {
                endOfTitle = start
                break
            }
        }
        var onlySpaces = true
        var recognizedPrefix = false
        var trailerLines = 0
        var nonTrailerLines = 0
        var continuationLines = 0
        var cursor = lastLineStart(bytes, length)
        while let line = cursor, line >= endOfTitle {
            defer { cursor = line == 0 ? nil : lastLineStart(bytes, line) }
            if bytes[line] == comment {
                nonTrailerLines += continuationLines
                continuationLines = 0
                continue
            }
            if isBlankLine(bytes, at: line) {
                if onlySpaces { continue }
                nonTrailerLines += continuationLines
                let next = bytes[line...].firstIndex(of: newline).map { $0 + 1 } ?? length
                if recognizedPrefix && trailerLines * 3 >= nonTrailerLines { return next }
                if trailerLines > 0 && nonTrailerLines == 0 { return next }
                return length
            }
            onlySpaces = false
            if hasPrefix(bytes, at: line, "Signed-off-by: ")
                || hasPrefix(bytes, at: line, "(cherry picked from commit ")
            {
                trailerLines += 1
                continuationLines = 0
                recognizedPrefix = true
                continue
            }
            if let separator = separatorPosition(bytes, at: line), separator >= 1, !isSpace(bytes[line]) {
                trailerLines += 1
                continuationLines = 0
            } else if isSpace(bytes[line]) {
                continuationLines += 1
            } else {
                nonTrailerLines += 1 + continuationLines
                continuationLines = 0
            }
        }
        return length
    }
}
