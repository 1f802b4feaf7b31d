import ArgumentParser
import ExpCore
import Foundation

/// `exp snapshot`: plumbing that captures the working tree as a commit and prints it.
struct SnapshotCommand: ExpCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Capture the working tree as a commit and print its id.",
        discussion: """
            The commit's tree is what `git add -A && git write-tree` would give: tracked \
            changes, deletions, and untracked files that are not ignored. HEAD, the index, \
            branches, the stash and every file are left untouched. When the tree equals \
            HEAD's, HEAD itself is printed and no commit is written.

            Untracked files larger than exp.maxFileSize (default 10m) and files named like \
            secrets (.env, *.pem, *.key, id_rsa*, credentials*.json, …) are left out and \
            listed on stderr; untracked paths matched by a root .expignore (gitignore syntax) \
            are left out silently, like ignored files. The commit is not kept by \
            any ref: like `git stash create`, it is for a caller to link (exp run does).
            """
    )

    @OptionGroup var global: GlobalOptions

    @OptionGroup var output: JSONOption

    func run(_ context: ExpContext, _ terminal: Terminal) throws {
        let workspace = try Workspace(context: context)
        let snapshot = try workspace.takeSnapshot()
        for file in snapshot.skipped {
            terminal.note("exp: skipped \(file.path) (\(SkippedFileText.describe(file)))")
        }
        if output.json {
            try terminal.printJSON(snapshot)
        } else {
            terminal.print(snapshot.commit.hex)
        }
    }
}
