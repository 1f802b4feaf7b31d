import Foundation

/// Text made safe to show in a terminal: control characters in anything exp prints about a
/// run (names, commands, params, notes, metric keys, paths, a pulled record's every field)
/// are escaped visibly, as git does for paths with `core.quotePath`, so a record can never
/// move the cursor, set the window title, write the clipboard (OSC 52), open a link (OSC 8)
/// or reorder what the reader sees.
///
/// The one form, documented in docs/run-format.md ("What exp prints"):
/// - `\a`, `\b`, `\t`, `\n`, `\v`, `\f`, `\r` for those seven characters;
/// - `\` and three octal digits for the other C0 characters and DEL (`\033` for ESC,
///   `\177`) and for each byte that is not UTF-8 (`\351`);
/// - `\u{…}` (hex) for the C1 controls U+0080–U+009F and the bidi overrides and isolates
///   U+202A–U+202E, U+2066–U+2069.
///
/// Everything else, backslashes included, is shown as it is.
enum TerminalText {
    /// Characters that may pass as they are: text made of whole lines keeps its newlines,
    /// a code patch its tabs too.
    struct Keep: OptionSet {
        let rawValue: Int
        static let newlines = Keep(rawValue: 1)
        static let tabs = Keep(rawValue: 2)
        /// A carriage return right before a newline (a file with CRLF line ends): harmless,
        /// since the newline follows at once and nothing can be written over.
        static let lineEndCarriageReturns = Keep(rawValue: 4)
    }

    /// `text` with control characters escaped.
    static func escape(_ text: String, keeping: Keep = []) -> String {
        var text = text
        if text.withUTF8({ isPlain($0, keeping: keeping) }) { return text }
        return String(decoding: escape(Array(text.utf8), keeping: keeping), as: UTF8.self)
    }

    /// The UTF-8 bytes of `text` with control characters escaped and `style`'s marks made
    /// colours; the bytes as they are when there is nothing to do (the common case, checked
    /// with one pass over them: `exp metrics --csv` writes millions of lines).
    static func escapedBytes(_ text: String, keeping: Keep, style: StyleMarks?) -> Data {
        var text = text
        if text.withUTF8({ isPlain($0, keeping: keeping) }) { return Data(text.utf8) }
        return Data(escape(Array(text.utf8), keeping: keeping, style: style))
    }

    /// Whether `bytes` are printable ASCII (and kept characters) only: nothing to escape.
    static func isPlain(_ bytes: UnsafeBufferPointer<UInt8>, keeping: Keep) -> Bool {
        let newlines = keeping.contains(.newlines)
        let tabs = keeping.contains(.tabs)
        let carriageReturns = keeping.contains(.lineEndCarriageReturns)
        for (index, byte) in bytes.enumerated() where byte < 0x20 || byte >= 0x7F {
            if byte == 0x0A && newlines { continue }
            if byte == 0x09 && tabs { continue }
            if byte == 0x0D && carriageReturns && index + 1 < bytes.count && bytes[index + 1] == 0x0A { continue }
            return false
        }
        return true
    }

    /// `bytes` with control characters escaped. `style`, when given, recognises exp's own
    /// colour marks (see `StyleMarks`) and writes them as the ANSI sequences they stand for.
    static func escape(_ bytes: [UInt8], keeping: Keep, style: StyleMarks? = nil) -> [UInt8] {
        if bytes.withUnsafeBufferPointer({ isPlain($0, keeping: keeping) }) { return bytes }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 16)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x80 {
                switch byte {
                case 0x0A where keeping.contains(.newlines), 0x09 where keeping.contains(.tabs):
                    output.append(byte)
                case 0x0D
                where keeping.contains(.lineEndCarriageReturns) && index + 1 < bytes.count && bytes[index + 1] == 0x0A:
                    output.append(byte)
                case 0x07: output += Array(#"\a"#.utf8)
                case 0x08: output += Array(#"\b"#.utf8)
                case 0x09: output += Array(#"\t"#.utf8)
                case 0x0A: output += Array(#"\n"#.utf8)
                case 0x0B: output += Array(#"\v"#.utf8)
                case 0x0C: output += Array(#"\f"#.utf8)
                case 0x0D: output += Array(#"\r"#.utf8)
                case 0..<0x20, 0x7F: output += octal(byte)
                default: output.append(byte)
                }
                index += 1
                continue
            }
            guard let (scalar, length) = decodeScalar(bytes, at: index) else {
                output += octal(byte)
                index += 1
                continue
            }
            if let style, scalar == StyleMarks.lead, let (sequence, markLength) = style.sequence(in: bytes, at: index) {
                output += sequence
                index += markLength
                continue
            }
            if isEscaped(scalar) {
                output += Array("\\u{\(String(scalar, radix: 16, uppercase: true))}".utf8)
            } else {
                output += bytes[index..<index + length]
            }
            index += length
        }
        return output
    }

    /// C1 controls and the bidi overrides and isolates.
    static func isEscaped(_ scalar: UInt32) -> Bool {
        (0x80...0x9F).contains(scalar) || (0x202A...0x202E).contains(scalar) || (0x2066...0x2069).contains(scalar)
    }

    /// JSON text (as JSONEncoder writes it: valid UTF-8, control characters below U+0020
    /// already escaped) with DEL, the C1 controls and the bidi overrides escaped too, as
    /// `\u007f`, `\u009b`, `\u202e`: the same value for any JSON reader, inert in a terminal.
    /// They can only be inside strings, so the JSON stays valid.
    static func escapeJSON(_ bytes: [UInt8]) -> [UInt8] {
        let ascii = bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer where byte >= 0x7F { return false }
            return true
        }
        if ascii { return bytes }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count + 16)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x7F {
                output += Array(#"\u007f"#.utf8)
                index += 1
                continue
            }
            if byte >= 0x80, let (scalar, length) = decodeScalar(bytes, at: index) {
                if isEscaped(scalar) {
                    let hex = String(scalar, radix: 16)
                    output += Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
                } else {
                    output += bytes[index..<index + length]
                }
                index += length
                continue
            }
            output.append(byte)
            index += 1
        }
        return output
    }

    /// `\ooo`: a byte in three octal digits, as git writes it.
    private static func octal(_ byte: UInt8) -> [UInt8] {
        [
            UInt8(ascii: "\\"), UInt8(ascii: "0") + (byte >> 6), UInt8(ascii: "0") + ((byte >> 3) & 7),
            UInt8(ascii: "0") + (byte & 7),
        ]
    }

    /// The scalar of a well-formed UTF-8 sequence starting at `index`, and its length; nil for
    /// a byte that does not start one (a stray continuation byte, a cut or overlong sequence,
    /// a surrogate).
    static func decodeScalar(_ bytes: [UInt8], at index: Int) -> (UInt32, Int)? {
        let lead = bytes[index]
        let length: Int
        var scalar: UInt32
        switch lead {
        case 0xC2...0xDF:
            length = 2
            scalar = UInt32(lead & 0x1F)
        case 0xE0...0xEF:
            length = 3
            scalar = UInt32(lead & 0x0F)
        case 0xF0...0xF4:
            length = 4
            scalar = UInt32(lead & 0x07)
        default: return nil
        }
        guard index + length <= bytes.count else { return nil }
        for offset in 1..<length {
            let next = bytes[index + offset]
            guard next & 0xC0 == 0x80 else { return nil }
            scalar = scalar << 6 | UInt32(next & 0x3F)
        }
        let smallest: UInt32 = length == 3 ? 0x800 : length == 4 ? 0x10000 : 0x80
        guard scalar >= smallest, scalar <= 0x10FFFF, !(0xD800...0xDFFF).contains(scalar) else { return nil }
        return (scalar, length)
    }
}

/// exp's own colours inside text it writes. `Terminal.paint` marks text with a private-use
/// character and a number chosen at random for each exp process, which no record can know;
/// the terminal writer turns exactly those marks into ANSI colour sequences after escaping
/// every control character that came from data. So colours need no trust in the text they
/// wrap, and a record cannot forge them.
struct StyleMarks {
    /// U+E000, a private-use character, starts a mark: `U+E000 <16 hex digits> <code> m`.
    static let lead: UInt32 = 0xE000
    /// The 16 hex digits of this process.
    let nonce: [UInt8]

    init() {
        var generator = SystemRandomNumberGenerator()
        let hex = String(generator.next(), radix: 16)
        nonce = Array((String(repeating: "0", count: 16 - hex.count) + hex).utf8)
    }

    /// The mark that stands for the ANSI sequence `ESC [ code m`.
    func mark(_ code: String) -> String {
        "\u{E000}" + String(decoding: nonce, as: UTF8.self) + code + "m"
    }

    /// The ANSI sequence of the mark at `index` and the mark's length; nil when what starts
    /// there is not one of this process's marks.
    func sequence(in bytes: [UInt8], at index: Int) -> ([UInt8], Int)? {
        var cursor = index + 3  // U+E000 is 3 bytes of UTF-8
        guard cursor + nonce.count <= bytes.count, Array(bytes[cursor..<cursor + nonce.count]) == nonce else {
            return nil
        }
        cursor += nonce.count
        let codeStart = cursor
        while cursor < bytes.count,
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[cursor])
                || bytes[cursor] == UInt8(ascii: ";")
        {
            cursor += 1
        }
        guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "m"), cursor - codeStart <= 16 else { return nil }
        return ([0x1B, UInt8(ascii: "[")] + bytes[codeStart...cursor], cursor + 1 - index)
    }
}
