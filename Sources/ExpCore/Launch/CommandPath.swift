import Glibc

/// Where a command's program file is, found the way `execvp` finds it but through the PATH
/// of the child's environment rather than exp's own.
enum CommandPath: Equatable {
    /// An absolute path to start.
    case found(String)
    /// No file of that name on the PATH.
    case notFound
    /// Files of that name exist on the PATH but none may be executed.
    case notExecutable

    /// glibc's `execvp` default when PATH is unset.
    static let defaultSearchPath = "/bin:/usr/bin"

    /// Resolves `name`: a name containing `/` is used as is (relative to `workingDirectory`);
    /// otherwise each PATH entry is tried in order (an empty entry means `workingDirectory`).
    static func resolve(_ name: String, searchPath: String?, workingDirectory: String) -> CommandPath {
        if name.contains("/") {
            return .found(absolute(name, in: workingDirectory))
        }
        if name.isEmpty { return .notFound }
        var sawNonExecutable = false
        for entry in (searchPath ?? defaultSearchPath).split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = absolute(entry.isEmpty ? name : "\(entry)/\(name)", in: workingDirectory)
            var info = stat()
            guard stat(candidate, &info) == 0 else { continue }
            if info.st_mode & S_IFMT == S_IFREG && access(candidate, X_OK) == 0 {
                return .found(candidate)
            }
            sawNonExecutable = true
        }
        return sawNonExecutable ? .notExecutable : .notFound
    }

    /// `path` made absolute against `directory`.
    static func absolute(_ path: String, in directory: String) -> String {
        if path.hasPrefix("/") { return path }
        return directory.hasSuffix("/") ? directory + path : "\(directory)/\(path)"
    }
}
