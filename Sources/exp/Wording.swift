import ExpCore
import Foundation

/// Human wording for a skipped file.
enum SkippedFileText {
    static func describe(_ file: SkippedFile) -> String {
        switch file.reason {
        case .tooLarge:
            return "\(ByteCountText.format(file.size ?? 0)), over exp.maxFileSize"
        case .secret:
            return "named like a secret"
        case .unreadable:
            return "unreadable: \(file.detail ?? "unknown error")"
        }
    }
}

/// Byte counts as people read them (`12.5 MiB`).
enum ByteCountText {
    static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
    }
}
