import ExpCore
import Foundation

// exp-bench: fixtures for the scripts in bench/, written straight through ExpCore (no
// process per run). Not installed; `bench/*.sh` build and call it.
//
//   exp-bench fill-runs REPO COUNT [FIRST]
//     stores COUNT finished runs (runs FIRST…FIRST+COUNT-1, default FIRST 0) on the current
//     snapshot of REPO: 5 params and 10 metrics of 100 points each, started over the last
//     30 days. The same numbers give the same runs.
//   exp-bench fill-series REPO RUNS POINTS
//     stores RUNS finished runs named series-0… on the current snapshot of REPO, each with
//     POINTS points of one key, `loss` (a noisy falling curve with spikes, a step and a time
//     each): the inputs of bench/plot.sh.
//   exp-bench store-file PATH…
//     stores files in the artifact store of the repository in the current folder and prints
//     each one's SHA-256 (bench/artifacts.sh: hashing and storing alone, without a run).
//   exp-bench import-csv FILE
//     reads a Lightning metrics.csv with the reader `exp run` uses and prints how many
//     points and keys it holds (bench/metrics-import.sh).

func fillRuns(repository path: String, count: Int, first: Int) throws {
    let context = ExpContext(workingDirectory: path, environment: ProcessInfo.processInfo.environment)
    let workspace = try Workspace(context: context)
    let store = RunStore(workspace: workspace)
    let snapshot = try workspace.takeSnapshot(message: "exp-bench snapshot")
    let now = Date()
    let metricKeys = [
        "train_loss", "val_loss", "val_acc", "train_acc", "lr_now", "grad_norm", "epoch_time", "val_f1", "val_auc",
        "throughput",
    ]
    let optimizers = ["adam", "sgd", "adamw"]
    for index in first..<(first + count) {
        var random = SeededGenerator(seed: UInt64(index) &* 7919 &+ 17)
        let lr = pow(10, Double.random(in: -4 ... -1, using: &random))
        let params: [String: ParamValue] = [
            "lr": .double(lr), "batch_size": .int([16, 32, 64, 128].randomElement(using: &random)!),
            "epochs": .int(100), "optimizer": .string(optimizers.randomElement(using: &random)!),
            "dropout": .double(Double(Int.random(in: 0...5, using: &random)) / 10),
        ]
        let started = now.addingTimeInterval(-Double(count - (index - first)) * (30 * 86400 / Double(count)))
        var points: [MetricPoint] = []
        points.reserveCapacity(metricKeys.count * 100)
        let floor = Double.random(in: 0.05...0.5, using: &random)
        for step in 0..<100 {
            let progress = Double(step) / 99
            for (number, key) in metricKeys.enumerated() {
                let value =
                    floor + (1 - progress) * Double(number + 1) * 0.1 + Double.random(in: 0...0.01, using: &random)
                points.append(
                    MetricPoint(
                        key: key, step: Double(step), time: started.timeIntervalSince1970 + Double(step), value: value,
                        source: .file))
            }
        }
        let id = RunID.generate(at: started, using: &random)
        let record = RunRecord.finished(
            id: id, name: "sweep-\(index)", argv: ["python", "train.py", "--lr", String(lr)], params: params,
            startedAt: started, durationSeconds: 100, host: "gpu0\(index % 4)", user: "bench", snapshot: snapshot)
        try store.storeFinished(record, points: points)
    }
}

/// Stores `count` runs of `points` points of one key each (bench/plot.sh).
func fillSeries(repository path: String, count: Int, points pointCount: Int) throws {
    let context = ExpContext(workingDirectory: path, environment: ProcessInfo.processInfo.environment)
    let workspace = try Workspace(context: context)
    let store = RunStore(workspace: workspace)
    let snapshot = try workspace.takeSnapshot(message: "exp-bench snapshot")
    let now = Date()
    for index in 0..<count {
        var random = SeededGenerator(seed: UInt64(index) &* 104_729 &+ 3)
        let started = now.addingTimeInterval(-Double(count - index) * 3600)
        var points: [MetricPoint] = []
        points.reserveCapacity(pointCount)
        let rate = Double.random(in: 1...5, using: &random)
        for step in 0..<pointCount {
            let progress = Double(step) / Double(max(1, pointCount - 1))
            let spike = Int.random(in: 0..<10_000, using: &random) == 0 ? 3.0 : 0
            let value = 2 * exp(-rate * progress) + Double.random(in: 0...0.05, using: &random) + spike
            points.append(
                MetricPoint(
                    key: "loss", step: Double(step), time: started.timeIntervalSince1970 + Double(step) / 1000,
                    value: value, source: .file))
        }
        let id = RunID.generate(at: started, using: &random)
        let record = RunRecord.finished(
            id: id, name: "series-\(index)", argv: ["python", "train.py"], params: [:], startedAt: started,
            durationSeconds: Double(pointCount) / 1000, host: "gpu00", user: "bench", snapshot: snapshot)
        try store.storeFinished(record, points: points)
    }
}

/// Stores each file in the artifact store and prints its digest, as `exp store-file` did.
func storeFiles(_ paths: [String]) throws {
    let cwd = FileManager.default.currentDirectoryPath
    let context = ExpContext(workingDirectory: cwd, environment: ProcessInfo.processInfo.environment)
    let store = ArtifactStore(workspace: try Workspace(context: context))
    for path in paths {
        let absolute = path.hasPrefix("/") ? path : cwd + "/" + path
        let object = try store.store(file: absolute, name: path, progress: { _ in })
        let notes = (object.added ? "" : " (already stored)") + (object.reflinked ? " (reflink)" : "")
        FileHandle.standardOutput.write(Data("\(object.digest.hex)  \(path)\(notes)\n".utf8))
    }
}

/// Reads a Lightning metrics.csv and prints the count of points and keys.
func importCSV(_ path: String) {
    let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    let points = CSVMetricsReader.read(path: absolute)
    FileHandle.standardOutput.write(Data("\(points.count) points, \(Set(points.map(\.key)).count) keys\n".utf8))
}

let usage =
    "usage: exp-bench fill-runs REPO COUNT [FIRST] | fill-series REPO RUNS POINTS | store-file PATH… | import-csv FILE\n"
let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "fill-runs" where arguments.count >= 3:
        guard let count = Int(arguments[2]) else { throw ExpError("COUNT must be a number") }
        try fillRuns(repository: arguments[1], count: count, first: arguments.count > 3 ? Int(arguments[3]) ?? 0 : 0)
    case "fill-series" where arguments.count == 4:
        guard let count = Int(arguments[2]), let points = Int(arguments[3]) else {
            throw ExpError("RUNS and POINTS must be numbers")
        }
        try fillSeries(repository: arguments[1], count: count, points: points)
    case "store-file" where arguments.count >= 2:
        try storeFiles(Array(arguments.dropFirst()))
    case "import-csv" where arguments.count == 2:
        importCSV(arguments[1])
    default:
        FileHandle.standardError.write(Data(usage.utf8))
        exit(2)
    }
} catch let error as ExpError {
    FileHandle.standardError.write(Data("exp-bench: error: \(error.message)\n".utf8))
    exit(1)
}
