import Foundation
import GRDB
import SelfHealEvents
import Testing

@testable import SelfHealStore

/// Migration 003 rebuilds the events and incidents tables with cheaper CHECKs, 004 replaces the incidents' time
/// index, and 005 (quiet incidents) replaces the projections, which the store then replays from the log: a store
/// made by 0.1.0 keeps every event, ends with the same schema as a new store, and its projections equal a replay
/// with the default quiet period.
@Suite struct MigrationTests {
    /// A store as version 0.1.0 made it: migrations 001 and 002 only, with rows in every table.
    static func oldStore(_ path: String) throws {
        let queue = try DatabaseQueue(path: path)
        var migrator = DatabaseMigrator()
        for migration in SchemaSQL.files.prefix(2) {
            migrator.registerMigration(migration.name) { db in try db.execute(sql: migration.text) }
        }
        try migrator.migrate(queue)
        try queue.write { db in
            for index in 1...50 {
                try db.execute(
                    sql: """
                        INSERT INTO events (ts, received_at, service, component, kind, level, message, incident,
                            event_id, attrs, peer_uid, peer_pid)
                        VALUES (?, ?, 'portal', 'db-pool', 'pool.warning', ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        1_000 * index, 2_000 * index, ["info", "warning", "critical", "failure"][index % 4],
                        index % 3 == 0 ? nil : "message \(index)", index % 2 == 0 ? "inc-\(index / 10)" : nil,
                        index % 5 == 0 ? nil : "id-\(index)", index % 7 == 0 ? nil : #"{"n":\#(index)}"#,
                        index % 11 == 0 ? nil : 1_000, index % 11 == 0 ? nil : index,
                    ]
                )
            }
            try db.execute(
                sql: """
                    INSERT INTO incidents (service, component, incident, kind, title, state, peak_level, opened_at,
                        resolved_at, failed_at, recovery_ms, event_count, actions, first_seq, last_seq, span_class)
                    VALUES ('portal', 'db-pool', NULL, 'pool.warning', 'pool.warning on db-pool', 'resolved', 2,
                        1000, 5000, NULL, 4000, 5, '["retry.attempt"]', 1, 5, 0),
                        ('portal', 'db-pool', 'inc-1', 'pool.warning', 'pool.warning on db-pool', 'failed', 3,
                        6000, NULL, 7000, NULL, 2, '[]', 6, 7, 3),
                        ('portal', 'db-pool', 'inc-2', 'pool.warning', 'pool.warning on db-pool', 'open', 1,
                        8000, NULL, NULL, NULL, 1, '[]', 8, 8, 3)
                    """
            )
            try db.execute(sql: "UPDATE projection_state SET last_seq = 50")
        }
    }

    static func rows(_ path: String, _ table: String) throws -> [Row] {
        try DatabaseQueue(path: path).read { db in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1") }
    }

    /// The schema objects of the tables that 003 rebuilds, as SQLite stores them.
    static func schema(_ path: String) throws -> [Row] {
        try DatabaseQueue(path: path).read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT type, name, tbl_name, sql FROM sqlite_schema
                    WHERE tbl_name IN ('events', 'incidents') ORDER BY type, name
                    """
            )
        }
    }

    @Test func anOlderStoreKeepsEveryRowAndEndsWithTheNewSchema() throws {
        let directory = try EventLogTests.Directory()
        let old = directory.path + "/old.db"
        try Self.oldStore(old)
        let events = try Self.rows(old, "events")
        let incidents = try Self.rows(old, "incidents")
        #expect(events.count == 50)

        let store = try EventStore(StoreConfiguration(path: old))
        #expect(try Self.rows(old, "events") == events)
        // The hand-made projections of 0.1.0 are gone: what is there now is a replay of the log.
        #expect(try Self.rows(old, "incidents") != incidents)
        #expect(try store.quietPeriod() == QuietPeriod.defaultMilliseconds)
        #expect(try store.projectionProgress() == (applied: 50, logEnd: 50))
        #expect(try store.verify().isClean)
        // Events 1 s apart on two sorts of keys: the component's and five incident keys.
        #expect(try store.allIncidents(asOf: 0).count == 1 + 6)
        let fresh = directory.path + "/fresh.db"
        _ = try EventStore(StoreConfiguration(path: fresh))
        #expect(try Self.schema(old) == Self.schema(fresh))
        // events: table, 2 indexes, 2 triggers; incidents: table, 2 indexes (007 moved the active keys to a
        // table of their own).
        #expect(try Self.schema(old).count == 8)

        // The log goes on where it was: seq stays gapless, duplicates of old ids are still caught.
        let appended = try store.append([
            EventLogTests.incoming("portal", id: "id-1"), EventLogTests.incoming("portal", id: "id-new"),
        ])
        #expect(appended.seqs == [nil, 51])
    }

    @Test func theRebuiltTablesKeepTheirRules() throws {
        let directory = try EventLogTests.Directory()
        let path = directory.path + "/events.db"
        try Self.oldStore(path)
        _ = try EventStore(StoreConfiguration(path: path))
        let queue = try DatabaseQueue(path: path)
        func refused(_ sql: String) throws -> String? {
            do {
                try queue.write { try $0.execute(sql: sql) }
                return nil
            } catch let error as DatabaseError {
                return error.message
            }
        }
        #expect(try refused("UPDATE events SET service = 'b'") == "the event log is append-only: UPDATE refused")
        #expect(try refused("DELETE FROM events") == "the event log is append-only: DELETE refused")
        #expect(
            try refused(
                """
                INSERT INTO events (ts, received_at, service, component, kind, level)
                VALUES (1, 1, 'a', 'b', 'pool.warning', 'loud')
                """
            )?.hasPrefix("CHECK constraint failed") == true
        )
        #expect(try refused("UPDATE incidents SET state = 'closed'")?.hasPrefix("CHECK constraint failed") == true)
        #expect(try refused("UPDATE incidents SET state = 'resolved' WHERE state = 'open'") == nil)
        #expect(try queue.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM events") } == 50)
    }
}
