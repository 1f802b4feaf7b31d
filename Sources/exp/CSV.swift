import Foundation

/// CSV as exp writes it (`exp list --csv`, `exp metrics --csv`).
enum CSV {
    /// One field, quoted as RFC 4180 says when it holds a comma, a quote or a line break.
    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
