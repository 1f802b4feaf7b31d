import ArgumentParser
import ExpCore
import Foundation

/// `exp store-file PATH…` (plumbing, hidden): stores files in the artifact store and prints
/// each one's SHA-256; used by bench/artifacts.sh to time hashing and storing alone.
struct StoreFileCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "store-file", abstract: "Store files in the artifact store (plumbing).",
        shouldDisplay: false)

    @OptionGroup var global: GlobalOptions

    @Argument(help: ArgumentHelp("Files to store.", valueName: "path"))
    var paths: [String]

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let workspace = try Workspace(context: context)
        let store = ArtifactStore(workspace: workspace)
        let bar = ProgressBar()
        for path in paths {
            let absolute = path.hasPrefix("/") ? path : context.workingDirectory + "/" + path
            let object = try store.store(file: absolute, name: path, progress: bar.report)
            terminal.print(
                "\(object.digest.hex)  \(path)\(object.added ? "" : " (already stored)")"
                    + (object.reflinked ? " (reflink)" : ""))
        }
    }
}
