import Logging
import NIOCore
import PostgresNIO
import SelfHealEvents
import SelfHealStore

/// What `verify --store` found: the local verify's report, over the fleet log and projections.
public struct FleetVerifyReport: Sendable {
    /// The log's problems, the projections' differences and the links' problems, as a local verify lists them.
    public var report = VerifyReport()
    /// The fleet_seq of the log's last event (fleet_head).
    public var head: Int64 = 0
    /// The fleet_seq the projections reflect (the projector's cursor); the replay compared goes up to it.
    public var applied: Int64 = 0
    /// Hosts that forwarded.
    public var hosts: Int = 0
}

/// `selfheal verify --store`: the fleet log checked (fleet_seq gapless from 1 to the head, each host's seqs
/// gapless up to its cursor, each host's links recomputed from the rows and chained to its last hash), then
/// replayed through the rules (the local store's ``IncidentLedger``, in memory) and compared with the fleet's
/// incidents, counters and cursor, all in one snapshot of the database: safe beside running `central`s.
public enum FleetVerifier {
    /// Verifies the central store at `url`.
    public static func verify(_ url: FleetStoreURL, logger: Logger) async throws(StoreError) -> FleetVerifyReport {
        let connection = try await FleetDatabase.connect(url, logger: logger)
        do {
            _ = try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            var result = FleetVerifyReport()
            try await checkLog(connection, logger, &result)
            try await checkLinks(connection, logger, &result)
            try await compareProjections(connection, logger, &result)
            _ = try? await connection.query("COMMIT", logger: logger)
            try? await connection.close()
            return result
        } catch {
            try? await connection.close()
            if let error = error as? StoreError { throw error }
            throw StoreError("cannot verify the central store: \(FleetDatabase.describe(error))")
        }
    }

    /// The first row of a query.
    private static func firstRow(
        _ query: PostgresQuery,
        _ connection: PostgresConnection,
        _ logger: Logger
    ) async throws -> PostgresRow? {
        for try await row in try await connection.query(query, logger: logger) { return row }
        return nil
    }

    private static func checkLog(
        _ connection: PostgresConnection,
        _ logger: Logger,
        _ result: inout FleetVerifyReport
    ) async throws {
        result.head =
            try await firstRow("SELECT last_fleet_seq FROM fleet_head WHERE id = 1", connection, logger)?.decode(
                Int64.self
            ) ?? 0
        let (count, lowest, highest) =
            try await firstRow(
                "SELECT count(*)::bigint, min(fleet_seq), max(fleet_seq) FROM fleet_events",
                connection,
                logger
            )?.decode((Int64, Int64?, Int64?).self) ?? (Int64(0), nil, nil)
        result.report.events = count
        if count != result.head || (count > 0 && (lowest != 1 || highest != count)) {
            result.report.log(
                "fleet_seq is not gapless: \(count) events hold fleet_seqs \(lowest ?? 0) to \(highest ?? 0), "
                    + "the head is \(result.head)"
            )
            let gaps = try await connection.query(
                """
                SELECT fleet_seq FROM fleet_events AS e
                WHERE fleet_seq > 1 AND NOT EXISTS (SELECT 1 FROM fleet_events WHERE fleet_seq = e.fleet_seq - 1)
                ORDER BY fleet_seq LIMIT 10
                """,
                logger: logger
            )
            for try await seq in gaps.decode(Int64.self) { result.report.log("fleet_seq \(seq) follows a gap") }
        }
        let hosts = try await connection.query(
            """
            SELECT coalesce(h.host_id, e.host_id), h.forwarded_seq, coalesce(e.n, 0), e.lowest, e.highest
            FROM fleet_hosts h FULL JOIN (
                SELECT host_id, count(*)::bigint AS n, min(seq) AS lowest, max(seq) AS highest
                FROM fleet_events GROUP BY host_id
            ) e ON e.host_id = h.host_id ORDER BY 1
            """,
            logger: logger
        )
        for try await (host, forwarded, n, lowest, highest) in hosts.decode(
            (String, Int64?, Int64, Int64?, Int64?).self
        ) {
            result.hosts += 1
            guard let forwarded else {
                result.report.log("host \(host) has events but no row in fleet_hosts")
                continue
            }
            if n != forwarded || (n > 0 && (lowest != 1 || highest != n)) {
                result.report.log(
                    "host \(host): \(n) events hold seqs \(lowest ?? 0) to \(highest ?? 0), its cursor is \(forwarded)"
                )
            }
        }
    }

    /// Recomputes every host's links from its rows, each from the previous link's stored hash (so that every
    /// link that differs is named), and checks the last against the host's last_hash.
    private static func checkLinks(
        _ connection: PostgresConnection,
        _ logger: Logger,
        _ result: inout FleetVerifyReport
    ) async throws {
        var links: [String: [(lastSeq: Int64, hash: [UInt8])]] = [:]
        let linkRows = try await connection.query(
            "SELECT host_id, last_seq, hash FROM fleet_links ORDER BY host_id, last_seq",
            logger: logger
        )
        for try await (host, lastSeq, hash) in linkRows.decode((String, Int64, ByteBuffer).self) {
            links[host, default: []].append((lastSeq, Array(hash.readableBytesView)))
            result.report.chain.links += 1
        }
        var lastHashes: [String: [UInt8]] = [:]
        let hostRows = try await connection.query("SELECT host_id, last_hash FROM fleet_hosts", logger: logger)
        for try await (host, hash) in hostRows.decode((String, ByteBuffer).self) {
            lastHashes[host] = Array(hash.readableBytesView)
        }

        var decoder = FleetRows.ProjectionDecoder()
        let rows = try await connection.query(
            "SELECT \(unescaped: FleetRows.allColumns) FROM fleet_events ORDER BY host_id, seq",
            logger: logger
        )
        var host: String?
        var hostLinks: ArraySlice<(lastSeq: Int64, hash: [UInt8])> = []
        var previous = EventRowsHasher.zero
        var hasher: EventRowsHasher?
        var linkStart: Int64 = 0
        var report = result.report.chain
        func finishHost() {
            guard let host else { return }
            if hasher != nil, let link = hostLinks.first {
                report.problem("host \(host): the link up to seq \(link.lastSeq) lacks events", seq: linkStart)
                hostLinks.removeFirst()
            }
            for link in hostLinks {
                report.problem("host \(host): the link up to seq \(link.lastSeq) covers no event", seq: linkStart)
            }
            let expected = links[host]?.last?.hash ?? EventRowsHasher.zero
            if lastHashes[host] != expected {
                report.problem("host \(host): its last_hash is not its last link's hash", seq: linkStart)
            }
        }
        for try await row in rows {
            let rowHost = try row.makeRandomAccess()[14].decode(String.self)
            let (fleetSeq, event): (Int64, StoredEvent)
            do {
                (fleetSeq, event) = try FleetRows.fullEvent(row, decoder: &decoder)
            } catch {
                result.report.log("a fleet event of host \(rowHost) does not decode: \(error)")
                continue
            }
            if rowHost != host {
                finishHost()
                host = rowHost
                hostLinks = links[rowHost]?[...] ?? []
                previous = EventRowsHasher.zero
                hasher = nil
            }
            guard let link = hostLinks.first else {
                report.problem("host \(rowHost): seq \(event.seq) (fleet_seq \(fleetSeq)) is in no link", seq: fleetSeq)
                continue
            }
            if hasher == nil {
                hasher = EventRowsHasher(previous: previous)
                linkStart = fleetSeq
            }
            hasher?.add(event)
            if event.seq >= link.lastSeq {
                if hasher?.finish() != link.hash {
                    report.problem(
                        "host \(rowHost): the link up to seq \(link.lastSeq) does not recompute: an event of it "
                            + "(from fleet_seq \(linkStart)) is not what was stored",
                        seq: linkStart
                    )
                }
                previous = link.hash
                hostLinks.removeFirst()
                hasher = nil
            }
        }
        finishHost()
        result.report.chain = report
    }

    /// Replays the log up to the cursor through the rules in memory and compares with the stored projections.
    private static func compareProjections(
        _ connection: PostgresConnection,
        _ logger: Logger,
        _ result: inout FleetVerifyReport
    ) async throws {
        let (quietPeriod, applied) =
            try await firstRow(
                """
                SELECT (SELECT quiet_period_ms FROM fleet_settings WHERE id = 1),
                    (SELECT last_fleet_seq FROM fleet_projection_state WHERE id = 1)
                """,
                connection,
                logger
            )?.decode((Int64, Int64).self) ?? (QuietPeriod.defaultMilliseconds, Int64(0))
        result.applied = applied
        if applied > result.head {
            result.report.differs(
                "the projections reflect the log up to fleet_seq \(applied), the log ends at \(result.head)"
            )
        }
        let replay = try await FleetReplay.run(
            connection,
            logger,
            quietPeriod: quietPeriod,
            through: min(applied, result.head)
        )
        var expected = replay.incidents.sorted { $0.key < $1.key }.map { $0.value }[...]
        var stored: [IncidentRecord] = []
        let rows = try await connection.query(
            "SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents ORDER BY id",
            logger: logger
        )
        for try await row in rows { stored.append(try FleetRows.incident(row)) }
        var storedSlice = stored[...]
        var report = result.report
        try EventStore.merge(
            { storedSlice.popFirst() },
            { expected.popFirst() },
            order: { $0.id < $1.id },
            pairs: { stored, expected in
                switch (stored, expected) {
                case (let stored?, nil): report.differs("incident \(stored.id) is not in a fresh replay")
                case (nil, let expected?):
                    report.differs("incident \(expected.id) is missing (a fresh replay has it)")
                case (let stored?, let expected?):
                    report.incidents += 1
                    if stored != expected {
                        report.differs(
                            "incident \(stored.id) differs: \(EventStore.describe(stored)) ; a fresh replay gives "
                                + EventStore.describe(expected)
                        )
                    }
                case (nil, nil): break
                }
            }
        )
        var storedCounters: [(CounterKey, CounterValues)] = []
        let counterRows = try await connection.query(
            """
            SELECT hour, service, events, timeout_prevented, transition_blocked, ratelimit_throttled
            FROM fleet_counters
            """,
            logger: logger
        )
        for try await row in counterRows { storedCounters.append(try FleetRows.counter(row)) }
        // Sorted here, by the services' bytes: the server's collation need not be.
        let order: ((CounterKey, CounterValues), (CounterKey, CounterValues)) -> Bool = {
            $0.0.hour != $1.0.hour
                ? $0.0.hour < $1.0.hour : $0.0.service.utf8.lexicographicallyPrecedes($1.0.service.utf8)
        }
        storedCounters.sort(by: order)
        var storedCounterSlice = storedCounters[...]
        var expectedCounters = replay.counters.map { ($0.key, $0.value) }.sorted(by: order)[...]
        try EventStore.merge(
            { storedCounterSlice.popFirst() },
            { expectedCounters.popFirst() },
            order: order,
            pairs: { stored, expected in
                guard let key = (stored ?? expected)?.0 else { return }
                let name = "counters of hour \(Timestamp.formatRFC3339(key.hour * 3_600_000)), service \(key.service)"
                if stored != nil { report.counterRows += 1 }
                if stored?.1 != expected?.1 {
                    report.differs(
                        "\(name): \(EventStore.describe(stored?.1)) ; a fresh replay gives "
                            + EventStore.describe(expected?.1)
                    )
                }
            }
        )
        result.report = report
    }
}

/// A replay of the fleet log through the rules, in memory: the ledger keeps every active incident in its working
/// set, so its source is never asked.
struct FleetReplay {
    var incidents: [Int64: IncidentRecord] = [:]
    var counters: [CounterKey: CounterValues] = [:]

    private struct NoSource: ActiveIncidentSource {
        func activeIncident(_ key: IncidentKey) throws -> IncidentRecord? { nil }
        func index(_ entries: [IndexedKey]) throws {}
        func forEachIndexedHash(_ body: (UInt64) -> Void) throws {}
    }

    /// Replays fleet_seqs 1 through `through` in batches.
    static func run(
        _ connection: PostgresConnection,
        _ logger: Logger,
        quietPeriod: Int64,
        through: Int64
    ) async throws -> FleetReplay {
        var replay = FleetReplay()
        // Never evicts: 2^31 active incidents would not fit in memory anyway.
        var ledger = IncidentLedger(quietPeriod: quietPeriod, workingSetLimit: Int(Int32.max), nextID: 1, lastSeq: 0)
        var decoder = FleetRows.ProjectionDecoder()
        let rows = try await connection.query(
            """
            SELECT \(unescaped: FleetRows.projectionColumns) FROM fleet_events WHERE fleet_seq <= \(through)
            ORDER BY fleet_seq
            """,
            logger: logger
        )
        var batch: [StoredEvent] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            try ledger.apply(EventBatch(batch), source: NoSource())
            for touch in ledger.touches {
                let record = ledger.record(touch)
                replay.incidents[record.id] = record
            }
            for (key, values) in ledger.counterChanges.rows where !values.isZero {
                var row = replay.counters[key, default: CounterValues()]
                row.events += values.events
                row.timeoutPrevented += values.timeoutPrevented
                row.transitionBlocked += values.transitionBlocked
                row.ratelimitThrottled += values.ratelimitThrottled
                replay.counters[key] = row
            }
            batch.removeAll(keepingCapacity: true)
        }
        for try await row in rows {
            batch.append(try decoder.event(row))
            if batch.count == 10_000 { try flush() }
        }
        try flush()
        return replay
    }
}
