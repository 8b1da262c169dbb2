import Foundation
import Logging
import PostgresNIO
import SelfHealing
import SelfHealingPostgres
import Testing

/// The pool probe against a real PostgreSQL server (started by `scripts/test-postgres.sh`, with
/// max_connections=20): real connections are opened one by one until the thresholds cross.
@Suite(.serialized)
struct PostgresPoolProbeTests {
    /// The server's address, from `SELFHEAL_TEST_POSTGRES_URL`; fails the test (never skips) when unset.
    static func server() throws -> (host: String, port: Int, user: String, database: String) {
        guard let url = ProcessInfo.processInfo.environment["SELFHEAL_TEST_POSTGRES_URL"], !url.isEmpty else {
            throw SetupError(
                "SELFHEAL_TEST_POSTGRES_URL is not set: start a throwaway server with "
                    + "'export SELFHEAL_TEST_POSTGRES_URL=$(scripts/test-postgres.sh)' "
                    + "(it needs Debian's postgresql package: apt-get install -y postgresql)"
            )
        }
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port
        else { throw SetupError("SELFHEAL_TEST_POSTGRES_URL is not a postgresql://user@host:port/db URL: \(url)") }
        let database = components.path.isEmpty ? "postgres" : String(components.path.dropFirst())
        return (host, port, components.user ?? "postgres", database)
    }

    struct SetupError: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    @Test func poolEventsCrossAtEightyFiveAndNinetyTwoPercentOfMaxConnectionsWithRealConnections() async throws {
        let server = try Self.server()
        let configuration = PostgresClient.Configuration(
            host: server.host,
            port: server.port,
            username: server.user,
            password: nil,
            database: server.database,
            tls: .disable
        )
        var options = configuration
        options.options.maximumConnections = 1
        options.options.minimumConnections = 1
        let logger = Logger(label: "test")
        let client = PostgresClient(configuration: options, backgroundLogger: logger)
        let sink = RecordingEventSink()
        let probe = PostgresPoolProbe(client: client, reporter: EventReporter(sink: sink, service: "portal"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let baseline = try await probe.probe()
            #expect(baseline.max == 20)
            #expect(baseline.level == .normal)
            var extra: [PostgresConnection] = []
            var readings: [PostgresConnectionReading] = [baseline]
            // Open real connections until the server is at 19 of 20 (95%: past critical).
            var id = 1
            while readings.last!.used < 19 {
                let connection = try await PostgresConnection.connect(
                    configuration: .init(
                        host: server.host,
                        port: server.port,
                        username: server.user,
                        password: nil,
                        database: server.database,
                        tls: .disable
                    ),
                    id: id,
                    logger: logger
                )
                id += 1
                extra.append(connection)
                readings.append(try await probe.probe())
            }
            // Then close them until it is back under 85%.
            while readings.last!.used >= 17, let connection = extra.popLast() {
                try await connection.close()
                // The server ends the backend just after the connection closes: read until the count drops.
                let before = readings.last!.used
                var reading = try await probe.probe()
                for _ in 0..<200 where reading.used >= before {
                    try await Task.sleep(for: .milliseconds(10))
                    reading = try await probe.probe()
                }
                readings.append(reading)
            }
            for connection in extra { try await connection.close() }

            let kinds = sink.events.map(\.kind)
            #expect(kinds == [.poolWarning, .poolCritical, .poolRecovered])
            let used = sink.events.map { event -> Int in
                let attrs = try? JSONSerialization.jsonObject(with: Data((event.attributesJSON ?? "{}").utf8))
                return ((attrs as? [String: Any])?["used"] as? Int) ?? -1
            }
            // 17/20 = 85% is the first warning reading, 19/20 = 95% the first critical (18/20 = 90% is not).
            #expect(used == [17, 19, 16])
            #expect(sink.events.allSatisfy { $0.component == "db-pool" })
            #expect(readings.first { $0.used == 18 }?.level == .warning)
        }
    }
}
