import Logging
import PostgresNIO
import SelfHealFleet
import SelfHealStore
import Testing

/// The central schema on a real PostgreSQL server: migrations apply once, the log refuses UPDATE, DELETE and
/// TRUNCATE, and a bad URL gets a one-line error.
struct FleetSchemaTests {
    let logger = Logger(label: "test")

    @Test func migrationsApplyOnceAndTheLogIsAppendOnly() async throws {
        let server = try TestPostgresServer.shared()
        let url = try FleetStoreURL(try server.makeDatabase())
        let connection = try await FleetDatabase.connect(url, logger: logger)
        do {
            try await checkMigrationsAndAppendOnly(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    private func checkMigrationsAndAppendOnly(_ connection: PostgresConnection) async throws {
        let applied = try await FleetDatabase.migrate(connection, logger: logger)
        #expect(applied == FleetDatabase.migrations.map(\.name))
        #expect(try await FleetDatabase.migrate(connection, logger: logger).isEmpty)
        try await connection.query(
            """
            INSERT INTO fleet_events (fleet_seq, host_id, seq, ts, received_at, service, component, kind, level)
            VALUES (1, 'a', 1, 0, 0, 'svc', 'db', 'error.detected', 'warning')
            """,
            logger: logger
        )
        for statement in [
            "UPDATE fleet_events SET kind = 'x'", "DELETE FROM fleet_events", "TRUNCATE fleet_events",
        ] {
            await #expect(throws: PSQLError.self) {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
        do {
            try await connection.query("DELETE FROM fleet_events", logger: logger)
        } catch {
            #expect(FleetDatabase.describe(error).contains("fleet_events is append-only: DELETE refused"))
        }
        let count = try await connection.query("SELECT count(*)::bigint FROM fleet_events", logger: logger)
        for try await value in count.decode(Int64.self) { #expect(value == 1) }
    }

    @Test(arguments: [
        ("mysql://u@h/db", "not a postgresql:// URL"),
        ("postgresql:///db", "names no host"),
        ("postgresql://h/db", "names no user"),
        ("postgresql://u@h", "names no database"),
        ("postgresql://u:secret@h", "postgresql://u:***@h"),
    ])
    func badURLsGetOneLineErrors(url: String, message: String) {
        #expect {
            try FleetStoreURL(url)
        } throws: { error in
            let text = "\(error)"
            return text.contains(message) && !text.contains("secret") && !text.contains("\n")
        }
    }

    @Test func anUnreachableServerIsNamed() async throws {
        let port = try TestPostgresServer.freePort()
        let url = try FleetStoreURL("postgresql://postgres@127.0.0.1:\(port)/postgres")
        await #expect {
            _ = try await FleetDatabase.connect(url, logger: logger)
        } throws: { error in
            "\(error)".contains("cannot connect to the central store postgresql://postgres@127.0.0.1:\(port)/postgres")
        }
    }
}
