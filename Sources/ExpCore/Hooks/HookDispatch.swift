import ExpGit
import Foundation

extension Workspace {
    /// Runs exp's part of git hook `name` (what `exp hook NAME ARGS…` does), with `input` the
    /// hook's standard input (pre-push and post-rewrite read it).
    ///
    /// Hooks never stop git: callers print the report (and any error) as notes and exit 0.
    public func runHook(_ name: String, arguments: [String], input: String) throws -> HookReport {
        var report = HookReport()
        switch name {
        case "post-commit":
            guard let head = try translatingGitErrors({ try repository.headCommit() }) else { return report }
            report = try tagRuns(committedAt: head)
        case "prepare-commit-msg":
            guard let file = arguments.first else {
                throw ExpError(
                    .usage, "prepare-commit-msg needs the message file", hint: "git passes it; see githooks(5)")
            }
            try addRunTrailers(messageFile: file, source: arguments.count > 1 ? arguments[1] : nil)
        case "post-rewrite":
            report = try moveTags(rewrittenBy: input, operation: arguments.first ?? "rewrite")
        case "pre-push":
            guard let remote = arguments.first else {
                throw ExpError(.usage, "pre-push needs the remote", hint: "git passes it; see githooks(5)")
            }
            if let pushed = autopush(remote: remote, updates: input) {
                if !pushed.pushed.isEmpty {
                    report.notes.append("exp: pushed \(pushed.pushed.count) runs to \(pushed.remote)")
                }
                for rejected in pushed.rejected {
                    report.notes.append("exp: not pushed: \(rejected)")
                }
            }
        default:
            throw ExpError(
                .usage, "exp has no \(name) hook", hint: "exp handles " + HookScript.names.joined(separator: ", "))
        }
        return report
    }
}
