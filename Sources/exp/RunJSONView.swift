import ExpCore
import Foundation

/// A run as `--json` prints it: the record plus the commit that holds it.
struct RunJSONView: Encodable {
    var run: StoredRun

    init(_ run: StoredRun) { self.run = run }

    func encode(to encoder: any Encoder) throws {
        try run.record.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(run.commit.hex, forKey: .recordCommit)
    }

    enum Keys: String, CodingKey { case recordCommit = "record_commit" }
}
