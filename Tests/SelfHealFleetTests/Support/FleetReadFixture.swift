import Foundation
import GRDB
import Logging
import PostgresNIO
import SelfHealEvents
import SelfHealFleet
import SelfHealStore

/// One stream of events from three hosts, stored twice: in a local SQLite store fed the whole stream in fleet
/// order, and in a central PostgreSQL store filled as the forwarder and the central projector write it
/// (`fleet_events` in that same order, so fleet_seq = the local seq; `fleet_incidents` and `fleet_counters` copied
/// from the local store's projections, which the central projector's rules, the same code, give for that order).
struct FleetReadFixture {
    /// The local store's data directory.
    let dataDirectory: String
    /// The central store.
    let url: String
    /// Each stored event's host, by seq (= fleet_seq).
    let hostBySeq: [Int64: String]

    /// Not the default, so that a reader using the default instead of the store's own would be seen.
    static let quietPeriod: Int64 = 2 * 3_600_000
    /// 2025-11-25T00:00:00Z.
    static let firstDay: Int64 = 1_764_028_800_000
    static let hosts = ["web-1", "web-2", "worker-1"]

    static func make(server: TestPostgresServer, count: Int = 1_500) async throws -> FleetReadFixture {
        let dataDirectory = try temporaryDirectory()
        let path = (dataDirectory as NSString).appendingPathComponent("events.db")
        let store = try EventStore(StoreConfiguration(path: path, durability: .normal, quietPeriod: quietPeriod))
        let stream = events(count: count)
        var hostBySeq: [Int64: String] = [:]
        for start in stride(from: 0, to: stream.count, by: 50) {
            let batch = stream[start..<min(start + 50, stream.count)]
            let result = try store.append(batch.map(\.event))
            for (seq, item) in zip(result.seqs, batch) { if let seq { hostBySeq[seq] = item.host } }
        }
        let url = try server.makeDatabase()
        try await fill(url: url, localPath: path, hostBySeq: hostBySeq)
        return FleetReadFixture(dataDirectory: dataDirectory, url: url, hostBySeq: hostBySeq)
    }

    /// A deterministic stream over about three days: every role, keys by component and by incident (one equal
    /// to a component's name), quiet gaps longer than the quiet period, events out of ts order, events without
    /// ts, duplicates by id, messages with quotes and accents, attrs, peers.
    static func events(count: Int) -> [(host: String, event: IncomingEvent)] {
        var random = TestRandom(seed: 0x5E1F_4EA1)
        let kinds = [
            "error.detected", "error.detected", "pool.warning", "pool.critical", "health.unhealthy", "retry.attempt",
            "retry.attempt", "breaker.opened", "fallback.served", "retry.succeeded", "breaker.closed",
            "recovery.succeeded", "pool.recovered", "retry.exhausted", "intervention.required", "timeout.prevented",
            "transition.blocked", "ratelimit.throttled", "batch.completed", "x.deploy.finished",
        ].map { EventKind(name: $0)! }
        let services = ["portal", "billing", "search", "mail"]
        let components = ["db-pool", "openai", "/api/manager/assistance", "redis"]
        var time = firstDay + 1_234
        var stream: [(String, IncomingEvent)] = []
        for index in 0..<count {
            time += Int64(random.below(360_000))
            if random.below(70) == 0 { time += 3 * 3_600_000 }  // a quiet gap: longer than the quiet period
            var ts = time
            if random.below(10) == 0 { ts -= Int64(random.below(120_000)) }  // out of order
            let kind = kinds[random.below(kinds.count)]
            let incident: String? = random.below(5) == 0 ? ["INC-7", "INC-9", "db-pool"][random.below(3)] : nil
            let message: String? =
                switch random.below(4) {
                case 0: nil
                case 1: "upstream said \"no\" — naïve retry \(index)"
                default: "503 from upstream\nsecond line"
                }
            let event = Event(
                service: services[random.below(services.count)],
                kind: kind,
                component: components[random.below(components.count)],
                timestamp: random.below(20) == 0 ? nil : ts,
                level: random.below(15) == 0 ? .critical : nil,
                message: message,
                incident: incident,
                // Now and then an id seen before: a duplicate, not stored.
                id: random.below(4) == 0 ? "e\(random.below(10) == 0 ? max(0, index - 3) : index)" : nil,
                attributesJSON: random.below(3) == 0 ? #"{"used":9,"max":10,"note":"a \"b\""}"# : nil
            )
            let host = hosts[random.below(hosts.count)]
            let peer = random.below(2) == 0 ? Peer(uid: 1000, pid: Int32(4_000 + index)) : nil
            stream.append((host, IncomingEvent(event: event, receivedAt: time + 50, peer: peer)))
        }
        return stream
    }

    /// Writes the central tables from the local store's rows.
    private static func fill(url: String, localPath: String, hostBySeq: [Int64: String]) async throws {
        let logger = Logger(label: "test")
        let connection = try await FleetDatabase.connect(try FleetStoreURL(url), logger: logger)
        do {
            try await FleetDatabase.migrate(connection, logger: logger)
            let local = try DatabaseQueue(path: localPath, configuration: readOnly)
            let (events, incidents, counters) = try local.read { db in
                (
                    try Row.fetchAll(
                        db,
                        sql: """
                            SELECT seq, ts, received_at, service, component, kind, level, message, incident, event_id,
                                attrs, peer_uid, peer_pid
                            FROM events ORDER BY seq
                            """
                    ),
                    try Row.fetchAll(db, sql: "SELECT \(incidentColumns) FROM incidents ORDER BY id"),
                    try Row.fetchAll(db, sql: "SELECT \(counterColumns) FROM counters")
                )
            }
            var nextSeq: [String: Int64] = [:]
            let eventRows = try events.map { row -> [DatabaseValue] in
                let seq: Int64 = row[0]
                guard let host = hostBySeq[seq] else { throw FixtureError("no host for seq \(seq)") }
                nextSeq[host, default: 0] += 1
                return [seq.databaseValue, host.databaseValue, nextSeq[host]!.databaseValue]
                    + (1..<row.count).map { row[$0] as DatabaseValue }
            }
            try await insert(
                eventRows,
                into: "fleet_events",
                columns: """
                    fleet_seq, host_id, seq, ts, received_at, service, component, kind, level, message, incident, \
                    event_id, attrs, peer_uid, peer_pid
                    """,
                connection
            )
            try await insert(incidents.map(values), into: "fleet_incidents", columns: incidentColumns, connection)
            try await insert(counters.map(values), into: "fleet_counters", columns: counterColumns, connection)
            let last = Int64(events.count)
            try await connection.query("UPDATE fleet_head SET last_fleet_seq = \(last)", logger: logger)
            try await connection.query("UPDATE fleet_projection_state SET last_fleet_seq = \(last)", logger: logger)
            try await connection.query("UPDATE fleet_settings SET quiet_period_ms = \(quietPeriod)", logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    private static let incidentColumns = """
        id, service, component, incident, kind, title, state, peak_level, opened_at, last_event_at, resolved_at, \
        failed_at, ended_at, recovery_ms, event_count, actions, first_seq, last_seq, span_class
        """
    private static let counterColumns =
        "hour, service, events, timeout_prevented, transition_blocked, ratelimit_throttled"

    private static var readOnly: Configuration {
        var configuration = Configuration()
        configuration.readonly = true
        return configuration
    }

    private static func values(_ row: Row) -> [DatabaseValue] { (0..<row.count).map { row[$0] as DatabaseValue } }

    /// Multi-row INSERTs of SQLite values (integers, text, NULL) into a central table.
    private static func insert(
        _ rows: [[DatabaseValue]],
        into table: String,
        columns: String,
        _ connection: PostgresConnection
    ) async throws {
        for start in stride(from: 0, to: rows.count, by: 200) {
            var bindings = PostgresBindings()
            var tuples: [String] = []
            for row in rows[start..<min(start + 200, rows.count)] {
                var placeholders: [String] = []
                for value in row {
                    switch value.storage {
                    case .null: bindings.appendNull()
                    case .int64(let number): bindings.append(number)
                    case .string(let text): bindings.append(text)
                    default: throw FixtureError("unexpected value \(value) for \(table)")
                    }
                    placeholders.append("$\(bindings.count)")
                }
                tuples.append("(" + placeholders.joined(separator: ", ") + ")")
            }
            let sql = "INSERT INTO \(table) (\(columns)) VALUES " + tuples.joined(separator: ", ")
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: Logger(label: "test"))
        }
    }

    static func temporaryDirectory() throws -> String {
        let path = (NSTemporaryDirectory() as NSString).appendingPathComponent("selfheal-fleet-read-\(UUID())")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A small deterministic generator (SplitMix64) for the test streams.
struct TestRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `0..<bound`.
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
