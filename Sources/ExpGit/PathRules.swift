import Foundation

/// git's rules for the names a checkout may write, so that a tree made by someone else can
/// never write into `.git` or outside the working tree.
///
/// The rules are those of git's `verify_path` (read-cache.c) with both `core.protectNTFS` and
/// `core.protectHFS` on, whatever the platform: no `.git` in any case, nor its NTFS aliases
/// (`git~1`, trailing dots and spaces, `::$DATA` streams, segments after a backslash) or its
/// HFS+ aliases (code points HFS+ ignores, such as U+200C, inside `.git`); no `.` or `..`; no
/// empty name and no `/` or NUL inside a name; no symlink named `.gitmodules` in any of those
/// spellings. Beyond git, a name must be valid UTF-8 and at most 255 bytes long (exp handles
/// paths as text, and a longer name could not be written anyway), and a backslash that begins
/// a name starts an NTFS segment like any other (git's loop never looks at it).
public enum PathRules {
    /// The longest path exp writes, in bytes (Linux's `PATH_MAX` less the terminating NUL).
    public static let maximumPathLength = 4095
    /// The longest name of one file or folder, in bytes (`NAME_MAX`).
    public static let maximumNameLength = 255

    /// Why a tree entry named `name` (its raw bytes) with git file mode `mode` must not be
    /// written into a working tree; nil when it may.
    public static func problem(name: [UInt8], mode: UInt32) -> String? {
        if name.isEmpty { return "an empty name" }
        if name.contains(0x2F) { return "a '/' inside a name" }
        if name.contains(0) { return "a NUL byte inside a name" }
        if name == [0x2E] { return "a folder named '.'" }
        if name == [0x2E, 0x2E] { return "a name '..' (the parent folder)" }
        guard let text = String(validating: name, as: UTF8.self) else { return "a name that is not valid UTF-8" }
        if name.count > maximumNameLength { return "a name longer than \(maximumNameLength) bytes" }
        if asciiLowercased(name) == Array(".git".utf8) { return "a name '.git' (git's own folder)" }
        let isSymlink = mode == 0o120000
        if isSymlink && asciiLowercased(name) == Array(".gitmodules".utf8) { return "a symlink named .gitmodules" }
        // NTFS reads a backslash as a folder separator: every segment after one is a name too.
        var segments: [ArraySlice<UInt8>] = [name[...]]
        for index in name.indices where name[index] == 0x5C {
            segments.append(name[(index + 1)...])
        }
        for segment in segments {
            if isNTFSDotGit(segment) { return "a name NTFS reads as .git" }
            if isSymlink && isNTFSDotGeneric(segment, name: "gitmodules", shortPrefix: "gi7eba") {
                return "a symlink NTFS reads as .gitmodules"
            }
        }
        if isHFSDot(text, needle: "git") { return "a name HFS+ reads as .git" }
        if isSymlink && isHFSDot(text, needle: "gitmodules") { return "a symlink HFS+ reads as .gitmodules" }
        return nil
    }

    /// Why the slash-separated `path` (a file to write, relative to a root) must not be
    /// written; nil when every component passes `problem(name:mode:)` (folders are checked as
    /// folders, the last component with `mode`).
    public static func problem(path: String, mode: UInt32) -> String? {
        if path.hasPrefix("/") { return "an absolute path" }
        if path.utf8.count > maximumPathLength { return "a path longer than \(maximumPathLength) bytes" }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        for (index, component) in components.enumerated() {
            let last = index == components.count - 1
            if let problem = problem(name: Array(component.utf8), mode: last ? mode : 0o040000) {
                return problem
            }
        }
        return nil
    }

    /// `path` as git shows it with `core.quotePath` on: unchanged when it holds only
    /// printable ASCII, else in double quotes with C escapes (`\t`, `\"`, `\\`) and every
    /// other byte below 0x20 or from 0x7F up in octal (`\342\200\214`).
    public static func quoted(_ bytes: [UInt8]) -> String {
        let plain = bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }
        if plain { return String(decoding: bytes, as: UTF8.self) }
        var out = "\""
        for byte in bytes {
            switch byte {
            case 0x07: out += "\\a"
            case 0x08: out += "\\b"
            case 0x09: out += "\\t"
            case 0x0A: out += "\\n"
            case 0x0B: out += "\\v"
            case 0x0C: out += "\\f"
            case 0x0D: out += "\\r"
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x20..<0x7F: out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                let octal = String(byte, radix: 8)
                out += "\\" + String(repeating: "0", count: 3 - octal.count) + octal
            }
        }
        return out + "\""
    }

    /// `quoted(_:)` of a path held as text.
    public static func quoted(_ path: String) -> String { quoted(Array(path.utf8)) }

    private static func asciiLowercased(_ bytes: some Collection<UInt8>) -> [UInt8] {
        bytes.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }
    }

    /// git's `is_ntfs_dotgit`: `.git` or `git~1` (any case) followed only by dots and spaces,
    /// up to the end, a backslash or a colon (an NTFS stream name).
    static func isNTFSDotGit(_ name: ArraySlice<UInt8>) -> Bool {
        let lower = asciiLowercased(name)
        let rest: ArraySlice<UInt8>
        if lower.starts(with: Array(".git".utf8)) {
            rest = lower.dropFirst(4)
        } else if lower.starts(with: Array("git~1".utf8)) {
            rest = lower.dropFirst(5)
        } else {
            return false
        }
        for byte in rest {
            if byte == 0x5C || byte == 0x3A { return true }
            if byte != 0x2E && byte != 0x20 { return false }
        }
        return true
    }

    /// git's `is_ntfs_dot_generic`: `.<name>`, its regular short name (`<first 6>~1`…`~4`) or
    /// its fallback short name (`<shortPrefix up to 6>~<digits>`), followed only by dots and
    /// spaces up to the end or a colon.
    static func isNTFSDotGeneric(_ slice: ArraySlice<UInt8>, name: String, shortPrefix: String) -> Bool {
        let bytes = Array(slice)
        let needle = Array(name.utf8)
        let prefix = Array(shortPrefix.utf8)
        func at(_ index: Int) -> UInt8 { index < bytes.count ? bytes[index] : 0 }
        func onlySpacesAndPeriods(from start: Int) -> Bool {
            var index = start
            while true {
                let byte = at(index)
                if byte == 0 || byte == 0x3A { return true }
                if byte != 0x20 && byte != 0x2E { return false }
                index += 1
            }
        }
        if at(0) == 0x2E && bytes.count > needle.count
            && asciiLowercased(bytes[1...needle.count]) == needle
        {
            return onlySpacesAndPeriods(from: needle.count + 1)
        }
        if bytes.count >= 8 && asciiLowercased(bytes[0..<6]) == Array(needle[0..<6]) && at(6) == 0x7E
            && (0x31...0x34).contains(at(7))
        {
            return onlySpacesAndPeriods(from: 8)
        }
        var index = 0
        var sawTilde = false
        while index < 8 {
            let byte = at(index)
            if byte == 0 { return false }
            if sawTilde {
                if !(0x30...0x39).contains(byte) { return false }
            } else if byte == 0x7E {
                index += 1
                if !(0x31...0x39).contains(at(index)) { return false }
                sawTilde = true
            } else if index >= 6 {
                return false
            } else if byte & 0x80 != 0 {
                return false
            } else if asciiLowercased([byte])[0] != prefix[index] {
                return false
            }
            index += 1
        }
        return onlySpacesAndPeriods(from: 8)
    }

    /// Code points HFS+ ignores in names (git's `next_hfs_char`).
    private static let hfsIgnored: Set<UInt32> = [
        0x200C, 0x200D, 0x200E, 0x200F, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E,
        0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0xFEFF,
    ]

    /// git's `is_hfs_dot_generic`: `.<needle>` (ASCII case-insensitive) once the code points
    /// HFS+ ignores are dropped.
    static func isHFSDot(_ name: String, needle: String) -> Bool {
        let scalars = name.unicodeScalars.filter { !hfsIgnored.contains($0.value) }.map(\.value)
        let expected = [UInt32(0x2E)] + needle.utf8.map(UInt32.init)
        guard scalars.count == expected.count else { return false }
        for (scalar, wanted) in zip(scalars, expected) {
            if scalar > 127 { return false }
            let lower = (0x41...0x5A).contains(scalar) ? scalar | 0x20 : scalar
            if lower != wanted { return false }
        }
        return true
    }
}
