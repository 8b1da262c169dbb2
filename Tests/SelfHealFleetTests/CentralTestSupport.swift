import Foundation
import Logging
import NIOCore
import PostgresNIO
import SelfHealEvents
import SelfHealFleet
import SelfHealStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A deterministic stream of the mixed workload's kinds over a few services, components and incident keys, with
/// quiet gaps longer than the default quiet period now and then.
struct FleetTestStream {
    private var random: SplitMix64
    private var clock: Int64 = 1_764_000_000_000
    private let byRole: [EventRole: [EventKind]]
    private let components: UInt64

    init(seed: UInt64, components: UInt64 = 6) {
        random = SplitMix64(seed: seed)
        self.components = components
        byRole = Dictionary(grouping: EventKind.vocabulary, by: \.role)
    }

    mutating func next() -> Event {
        let roll = random.next() % 100
        let role: EventRole =
            switch roll {
            case 0..<30: .detect
            case 30..<52: .mitigate
            case 52..<70: .recover
            case 70..<76: .fail
            case 76..<90: .prevent
            default: .info
            }
        let kinds = byRole[role] ?? []
        let kind = kinds[Int(random.next() % UInt64(kinds.count))]
        let gap = random.next() % 1_000 == 0 ? Int64(5 * 3_600_000) : Int64(random.next() % 30_000)
        clock += gap
        let service = "svc-\(random.next() % 4)"
        let byIncident = random.next() % 5 == 0
        return Event(
            service: service,
            kind: kind,
            component: "comp-\(random.next() % components)",
            timestamp: clock,
            level: random.next() % 7 == 0 ? .critical : nil,
            message: random.next() % 3 == 0 ? "attempt \(random.next() % 9)" : nil,
            incident: byIncident ? "inc-\(random.next() % 3)" : nil,
            attributesJSON: random.next() % 2 == 0 ? "{\"n\":\(random.next() % 100)}" : nil
        )
    }

    mutating func take(_ count: Int) -> [Event] { (0..<count).map { _ in next() } }
}

/// Appends events to the central log as the forwarder does: each batch, the head, the host's cursor and its link
/// in one transaction; and the same events, in the same order, to a local store.
final class FleetTestLog {
    private(set) var connection: PostgresConnection
    let url: String
    let local: EventStore
    let localDirectory: String
    private let logger = Logger(label: "test")

    init(url: String, quietPeriod: Int64? = nil) async throws {
        self.url = url
        localDirectory = NSTemporaryDirectory() + "selfheal-central-\(UUID().uuidString)"
        local = try EventStore(
            StoreConfiguration(path: localDirectory + "/events.db", durability: .normal, quietPeriod: quietPeriod)
        )
        connection = try await FleetDatabase.connect(try FleetStoreURL(url), logger: logger)
        do {
            try await FleetDatabase.migrate(connection, logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs `body` with a log on a fresh database, closed afterwards whatever happens.
    static func with(url: String, quietPeriod: Int64? = nil, _ body: (FleetTestLog) async throws -> Void) async throws {
        let log = try await FleetTestLog(url: url, quietPeriod: quietPeriod)
        do {
            try await body(log)
        } catch let error as PSQLError {
            await log.close()
            throw CentralProcess.Failure(FleetDatabase.describe(error))
        } catch {
            await log.close()
            throw error
        }
        await log.close()
    }

    /// Connects again (after the server was stopped and started).
    func reconnect() async throws {
        try? await connection.close()
        connection = try await FleetDatabase.connect(try FleetStoreURL(url), logger: logger)
    }

    func close() async {
        try? await connection.close()
        try? FileManager.default.removeItem(atPath: localDirectory)
    }

    /// Forwards `events` from `host` in batches of `batch`, round-robin over `hosts` when given several.
    func append(_ events: [Event], hosts: [String], batch: Int) async throws {
        var offset = 0
        var turn = 0
        while offset < events.count {
            let chunk = Array(events[offset..<min(offset + batch, events.count)])
            try await append(chunk, host: hosts[turn % hosts.count])
            offset += chunk.count
            turn += 1
        }
    }

    /// One batch from one host.
    func append(_ events: [Event], host: String) async throws {
        _ = try local.append(events.map { IncomingEvent(event: $0, receivedAt: $0.timestamp ?? 0, peer: nil) })
        try await connection.query("BEGIN", logger: logger)
        do {
            var forwarded: Int64 = 0
            var previous = EventRowsHasher.zero
            for try await (seq, hash) in try await connection.query(
                "SELECT forwarded_seq, last_hash FROM fleet_hosts WHERE host_id = \(host) FOR UPDATE",
                logger: logger
            ).decode((Int64, ByteBuffer).self) {
                forwarded = seq
                previous = Array(hash.readableBytesView)
            }
            var head: Int64 = 0
            for try await value in try await connection.query(
                """
                UPDATE fleet_head SET last_fleet_seq = last_fleet_seq + \(Int64(events.count)) WHERE id = 1
                RETURNING last_fleet_seq
                """,
                logger: logger
            ).decode(Int64.self) { head = value }
            let firstFleetSeq = head - Int64(events.count) + 1
            let hasher = EventRowsHasher(previous: previous)
            var sql = """
                INSERT INTO fleet_events (fleet_seq, host_id, seq, ts, received_at, service, component, kind, level,
                    message, incident, event_id, attrs, peer_uid, peer_pid) VALUES
                """
            var bindings = PostgresBindings(capacity: events.count * 15)
            for (index, event) in events.enumerated() {
                let seq = forwarded + Int64(index) + 1
                let ts = event.timestamp ?? 0
                let stored = StoredEvent(seq: seq, timestamp: ts, receivedAt: ts, event: event, peer: nil)
                hasher.add(stored)
                let base = index * 15
                sql += (index == 0 ? "" : ",") + "(" + (1...15).map { "$\(base + $0)" }.joined(separator: ",") + ")"
                bindings.append(firstFleetSeq + Int64(index))
                bindings.append(host)
                bindings.append(seq)
                bindings.append(ts)
                bindings.append(ts)
                bindings.append(event.service)
                bindings.append(event.component)
                bindings.append(event.kind.name)
                bindings.append(event.effectiveLevel.name)
                bindings.append(event.message)
                bindings.append(event.incident)
                bindings.append(event.id)
                bindings.append(event.attributesJSON)
                bindings.appendNull()
                bindings.appendNull()
            }
            try await connection.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            let last = forwarded + Int64(events.count)
            let hash = ByteBuffer(bytes: hasher.finish())
            try await connection.query(
                "INSERT INTO fleet_links (host_id, last_seq, hash) VALUES (\(host), \(last), \(hash))",
                logger: logger
            )
            try await connection.query(
                """
                INSERT INTO fleet_hosts (host_id, forwarded_seq, last_ts, last_hash)
                VALUES (\(host), \(last), \(events.last?.timestamp), \(hash))
                ON CONFLICT (host_id) DO UPDATE SET forwarded_seq = EXCLUDED.forwarded_seq,
                    last_ts = EXCLUDED.last_ts, last_hash = EXCLUDED.last_hash, updated_at = now()
                """,
                logger: logger
            )
            try await connection.query("COMMIT", logger: logger)
        } catch {
            _ = try? await connection.query("ROLLBACK", logger: logger)
            throw error
        }
    }

    /// fleet_head and the projector's cursor.
    func progress() async throws -> (head: Int64, applied: Int64) {
        for try await row in try await connection.query(
            """
            SELECT (SELECT last_fleet_seq FROM fleet_head WHERE id = 1),
                (SELECT last_fleet_seq FROM fleet_projection_state WHERE id = 1)
            """,
            logger: logger
        ).decode((Int64, Int64).self) { return (row.0, row.1) }
        return (0, 0)
    }

    /// Waits until the projector has applied the whole log.
    func waitCaughtUp(timeout: Duration = .seconds(120)) async throws {
        try await poll("the projector to apply the whole fleet log", timeout: timeout) {
            let (head, applied) = try await progress()
            return applied == head
        }
    }

    /// The fleet's incidents and counters as the central store holds them.
    func fleetRows() async throws -> (incidents: [IncidentRecord], counters: [(CounterKey, CounterValues)]) {
        var incidents: [IncidentRecord] = []
        for try await row in try await connection.query(
            "SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents ORDER BY id",
            logger: logger
        ) { incidents.append(try FleetRows.incident(row)) }
        var counters: [(CounterKey, CounterValues)] = []
        for try await row in try await connection.query(
            """
            SELECT hour, service, events, timeout_prevented, transition_blocked, ratelimit_throttled
            FROM fleet_counters ORDER BY hour, service COLLATE "C"
            """,
            logger: logger
        ) { counters.append(try FleetRows.counter(row)) }
        return (incidents, counters)
    }

    /// Runs SQL (no results).
    func execute(_ sql: String) async throws {
        _ = try await connection.simpleQuery(sql).get()
    }
}

/// Polls `condition` until it holds; throws, naming what it waited for, after `timeout`.
func poll(
    _ what: String,
    timeout: Duration = .seconds(60),
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while try await !condition() {
        guard clock.now < deadline else { throw CentralProcess.Failure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// A real `selfheal central` process, its stderr collected in a file.
final class CentralProcess {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    let process = Process()
    let logPath: String

    init(store: String, arguments: [String] = []) throws {
        logPath = NSTemporaryDirectory() + "selfheal-central-\(UUID().uuidString).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = SelfhealBinary.url
        process.arguments = ["central", "--store", store] + arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: logPath)
        try process.run()
    }

    deinit {
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: logPath)
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Waits until its log has a line containing `text`.
    func waitForLog(_ text: String, timeout: Duration = .seconds(60)) async throws {
        try await poll("central to log \"\(text)\" (its log: \(log))", timeout: timeout) {
            if !process.isRunning && !log.contains(text) {
                throw Failure("central exited with status \(process.terminationStatus): \(log)")
            }
            return log.contains(text)
        }
    }

    /// SIGKILL, and waits for it to be gone.
    func kill() {
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

