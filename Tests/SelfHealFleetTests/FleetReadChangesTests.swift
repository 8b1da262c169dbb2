import Logging
import PostgresNIO
import SelfHealFleet
import SelfHealStore
import Testing

/// ``FleetChanges`` reports the incidents the central projector opened, changed or ended between two looks,
/// as the central tables say after each of its transactions (written here with SQL as it writes them).
struct FleetReadChangesTests {
    @Test func eachLookReportsWhatTheProjectorOpenedChangedOrEnded() async throws {
        let server = try TestPostgresServer.shared()
        let url = try server.makeDatabase()
        let database = String(url.split(separator: "/").last!)
        let logger = Logger(label: "test")
        let connection = try await FleetDatabase.connect(try FleetStoreURL(url), logger: logger)
        try await FleetDatabase.migrate(connection, logger: logger)
        try await connection.close()
        func sql(_ text: String) throws { try server.psql(text, database: database) }
        func incident(_ id: Int, lastSeq: Int, endedAt: String) -> String {
            """
            INSERT INTO fleet_incidents VALUES (\(id), 'portal', 'db', NULL, 'error.detected', 'Error on db', 'open', 1,
                \(id * 1_000), \(id * 1_000), NULL, NULL, \(endedAt), NULL, 1, '[]', \(lastSeq), \(lastSeq), 3);
            """
        }
        try sql(
            incident(1, lastSeq: 3, endedAt: "5000") + incident(2, lastSeq: 7, endedAt: "NULL")
                + incident(3, lastSeq: 10, endedAt: "NULL") + "UPDATE fleet_projection_state SET last_fleet_seq = 10;"
        )
        let reader = try FleetReader(try FleetStoreURL(url))
        defer { reader.close() }
        var changes = try FleetChanges(reader)
        #expect(changes.applied == 10)
        #expect(try changes.poll(reader) == (10, []))
        // One transaction of the projector: an event joins 2, a later event finds 3 quiet and ends it, 4 opens,
        // 5 opens and ends.
        try sql(
            """
            BEGIN;
            UPDATE fleet_incidents SET last_seq = 12, event_count = 2 WHERE id = 2;
            UPDATE fleet_incidents SET state = 'expired', ended_at = 20000 WHERE id = 3;
            \(incident(4, lastSeq: 13, endedAt: "NULL"))
            \(incident(5, lastSeq: 11, endedAt: "6000"))
            UPDATE fleet_projection_state SET last_fleet_seq = 13;
            COMMIT;
            """
        )
        #expect(try changes.poll(reader) == (13, [2, 3, 4, 5]))
        #expect(try changes.poll(reader) == (13, []))
        try sql(
            "UPDATE fleet_incidents SET last_seq = 14 WHERE id = 4; UPDATE fleet_projection_state SET last_fleet_seq = 14;"
        )
        #expect(try changes.poll(reader) == (14, [4]))
        #expect(changes.applied == 14)
    }
}
