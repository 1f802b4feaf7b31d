#if canImport(Glibc)
    import Glibc
#endif

/// The entries of a folder (no `.`/`..`), in directory order, telling real folders apart
/// (a symbolic link to a folder is not one); empty when it cannot be read. The file type
/// comes from the directory entry, and from `lstat` only where the file system leaves it out.
func folderEntries(_ folder: String) -> [(name: String, isFolder: Bool)] {
    guard let directory = opendir(folder) else { return [] }
    defer { closedir(directory) }
    var result: [(name: String, isFolder: Bool)] = []
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if name == "." || name == ".." { continue }
        var isFolder = Int32(entry.pointee.d_type) == Int32(DT_DIR)
        if Int32(entry.pointee.d_type) == Int32(DT_UNKNOWN) {
            var info = stat()
            isFolder = lstat(folder + "/" + name, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
        }
        result.append((name, isFolder))
    }
    return result
}
