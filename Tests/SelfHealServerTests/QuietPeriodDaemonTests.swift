import Foundation
import GRDB
import SelfHealEvents
import SelfHealing
import Testing

@testable import SelfHealStore

/// The quiet period through the real binary: set by `serve` on a new store, refused when another is asked of an
/// existing one, changed by `rebuild`; and a store written by 0.1.0, brought up to date by a replay.
@Suite(.serialized)
struct QuietPeriodDaemonTests {
    @Test func serveSetsItRefusesAnotherAndRebuildChangesIt() throws {
        let directory = try TemporaryDirectory()
        let dir = ["--data-dir", directory.path]
        do {
            let daemon = try DaemonProcess(dataDirectory: directory.path, arguments: ["--quiet-period", "2h"])
            let sent = [
                #"{"service":"api","kind":"error.detected","component":"db","ts":"2025-11-25T00:00:00Z"}"#,
                #"{"service":"api","kind":"error.detected","component":"db","ts":"2025-11-25T03:00:00Z"}"#,
            ]
            let ingest = try SelfHealBinary.run(["ingest"] + dir, stdin: Data(sent.joined(separator: "\n").utf8))
            #expect(ingest.status == 0, "\(ingest.stderr)")
            #expect(daemon.stop() == 0)
        }
        let range = ["--since", "2025-11-25", "--until", "2025-11-26", "--tz", "UTC", "--format", "ndjson"]
        let twoHours = try SelfHealBinary.run(["incidents", "--as-of", "2025-11-25T03:00:00Z"] + range + dir)
        #expect(twoHours.stdout.split(separator: "\n").count == 2)
        #expect(twoHours.stdout.contains(#""state":"expired""#))
        #expect(twoHours.stdout.contains(#""ended_at":"2025-11-25T02:00:00.000Z""#))

        let other = try SelfHealBinary.run(["serve", "--quiet-period", "4h"] + dir)
        #expect(other.status == 1)
        #expect(other.stderr.contains("quiet period is 2h, not 4h"), "\(other.stderr)")
        #expect(other.stderr.split(separator: "\n").count == 1)

        let rebuilt = try SelfHealBinary.run(["rebuild", "--quiet-period", "4h"] + dir)
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let fourHours = try SelfHealBinary.run(["incidents", "--as-of", "2025-11-25T03:00:00Z"] + range + dir)
        #expect(fourHours.stdout.split(separator: "\n").count == 1)
        #expect(fourHours.stdout.contains(#""state":"open""#))
        #expect(try SelfHealBinary.run(["verify"] + dir).status == 0)
        let bad = try SelfHealBinary.run(["serve", "--quiet-period", "10s"] + dir)
        #expect(bad.status != 0 && bad.stderr.contains("--quiet-period must be between 1m and 30d"))
    }

    /// A store as 0.1.0 left it (migrations 001-004, incidents derived without a quiet period): a read brings it
    /// up to date by a replay when no daemon serves it, `verify` passes, and a daemon then goes on from it.
    @Test func aStoreWrittenBy010IsBroughtUpToDate() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/events.db"
        let queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for migration in SchemaSQL.files.prefix(4) {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.text) }
        }
        try migrator.migrate(queue)
        try queue.write { db in
            for (index, hour) in [0, 1, 9].enumerated() {
                try db.execute(
                    sql: """
                        INSERT INTO events (ts, received_at, service, component, kind, level)
                        VALUES (?, ?, 'portal', 'db-pool', 'pool.warning', 'warning')
                        """,
                    arguments: [1_764_028_800_000 + Int64(hour) * 3_600_000, 1_764_028_800_000 + Int64(index)]
                )
            }
            // What 0.1.0 derived: one incident, open for ever.
            try db.execute(
                sql: """
                    INSERT INTO incidents (service, component, incident, kind, title, state, peak_level, opened_at,
                        event_count, actions, first_seq, last_seq, span_class)
                    VALUES ('portal', 'db-pool', NULL, 'pool.warning', 'pool.warning on db-pool', 'open', 1,
                        1764028800000, 3, '[]', 1, 3, 3);
                    UPDATE projection_state SET last_seq = 3;
                    """
            )
        }
        let dir = ["--data-dir", directory.path]
        let listed = try SelfHealBinary.run(
            [
                "incidents", "--since", "2025-11-25", "--until", "2025-11-26", "--as-of", "2025-11-26", "--format",
                "ndjson",
            ]
                + dir
        )
        #expect(listed.status == 0, "\(listed.stderr)")
        let lines = listed.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first?.contains(#""state":"expired""#) == true)
        #expect(lines.first?.contains(#""title":"Connection pool warning on db-pool""#) == true)
        let verify = try SelfHealBinary.run(["verify"] + dir)
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let client = try daemon.client()
        try client.send(
            line: #"{"service":"portal","kind":"pool.recovered","component":"db-pool","ts":"2025-11-25T09:30:00Z"}"#
        )
        let reply = try client.sync()
        #expect(reply.ok && reply.lastSeq == 4)
        #expect(daemon.stop() == 0)
        #expect(try SelfHealBinary.run(["verify"] + dir).status == 0)
    }
}
