import ExpCore

/// The runs of the repository around `context`, for a command that shows or changes them,
/// after sealing as `lost` the runs of this machine whose exp process is gone.
///
/// Reading runs never writes by itself: this is where the command line makes the one explicit
/// recovery call (`Workspace.recoverLostRuns`), so that a dead run shows as `lost`.
func storeAfterRecovery(_ context: ExpContext) throws -> RunStore {
    let workspace = try Workspace(context: context)
    try workspace.recoverLostRuns()
    return RunStore(workspace: workspace)
}
