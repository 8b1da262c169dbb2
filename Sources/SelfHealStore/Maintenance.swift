import Foundation
import GRDB
import SelfHealEvents

/// What `rebuild` did.
public struct RebuildResult: Sendable {
    /// Events replayed.
    public var events: Int64
    /// Wall time of the replay, seconds.
    public var seconds: Double

    /// Events replayed per second.
    public var eventsPerSecond: Double { seconds > 0 ? Double(events) / seconds : 0 }
}

/// What `verify` found.
public struct VerifyReport: Sendable {
    /// Events in the log.
    public var events: Int64 = 0
    /// Incidents the projections hold.
    public var incidents: Int64 = 0
    /// Counter rows the projections hold.
    public var counterRows: Int64 = 0
    /// Problems in the log (gaps, rows that do not decode), at most ``VerifyReport/limit``.
    public var logProblems: [String] = []
    /// Differences between the projections and a fresh replay, at most ``VerifyReport/limit``.
    public var projectionDifferences: [String] = []
    /// Problems and differences beyond those listed.
    public var unlisted: Int = 0
    /// The hash chain recomputed from the rows as they are (tamper evidence, HashChainCheck.swift).
    public var chain = ChainReport()

    /// How many problems of each sort are listed.
    public static let limit = 50

    /// An empty report (nothing found yet).
    package init() {}

    /// Whether the log is sound and the projections equal a fresh replay.
    public var isClean: Bool {
        logProblems.isEmpty && projectionDifferences.isEmpty && unlisted == 0 && chain.problems.isEmpty
    }

    package mutating func log(_ problem: String) {
        if logProblems.count < Self.limit { logProblems.append(problem) } else { unlisted += 1 }
    }

    package mutating func differs(_ difference: String) {
        if projectionDifferences.count < Self.limit { projectionDifferences.append(difference) } else { unlisted += 1 }
    }
}

extension EventStore {
    /// Replays the whole log into fresh projections in one transaction (SPEC section 4).
    /// - Parameter quietPeriod: a new quiet period for the store (milliseconds), set in the same transaction;
    ///   nil keeps the store's own.
    public func rebuild(quietPeriod: Int64? = nil) throws(StoreError) -> RebuildResult {
        if let quietPeriod, !QuietPeriod.allowed.contains(quietPeriod) {
            throw StoreError("the quiet period must be between 1 minute and 30 days")
        }
        let projections = projections
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let events = try database.write { db in
                if let quietPeriod {
                    try db.execute(
                        sql: "UPDATE store_settings SET quiet_period_ms = ? WHERE id = 1",
                        arguments: [quietPeriod]
                    )
                }
                for projection in projections { try projection.reset(db) }
                return try Self.replay(db, into: projections, db)
            }
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            return RebuildResult(events: events, seconds: seconds)
        } catch {
            throw StoreError.wrapping(error, "cannot rebuild the projections")
        }
    }

    /// Replays the log of `source` from seq 1 into the projections of `target`; returns the events replayed.
    private static func replay(
        _ source: Database,
        into projections: [any Projection],
        _ target: Database
    ) throws
        -> Int64
    {
        let end = try Int64.fetchOne(source, sql: "SELECT max(seq) FROM events") ?? 0
        var after: Int64 = 0
        var count: Int64 = 0
        while after < end {
            let events = try projectionEvents(source, after: after, through: end, limit: 20_000)
            guard let last = events.last else { break }
            for projection in projections { _ = try projection.apply(EventBatch(events), target) }
            after = last.seq
            count += Int64(events.count)
        }
        return count
    }

    /// Checks the log (gapless seq from 1, every row decodes, the hash chain recomputes) and that the projections
    /// equal a fresh replay of
    /// it, all in one read snapshot: safe beside a running daemon. The replay goes to a temporary database.
    public func verify(temporaryDirectory: String = NSTemporaryDirectory()) throws(StoreError) -> VerifyReport {
        let path = (temporaryDirectory as NSString).appendingPathComponent("selfheal-verify-\(UUID().uuidString).db")
        defer {
            for suffix in ["", "-journal", "-wal", "-shm"] {
                try? FileManager.default.removeItem(atPath: path + suffix)
            }
        }
        do {
            var configuration = Configuration()
            configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = OFF") }
            let replay = try DatabaseQueue(path: path, configuration: configuration)
            try Self.migrator.migrate(replay)
            var report = VerifyReport()
            try database.read { db in
                try Self.checkLog(db, &report)
                report.chain = try HashChain.check(db)
                let quietPeriod = try Self.quietPeriod(db)
                do {
                    try replay.write { replayDB in
                        try replayDB.execute(
                            sql: "UPDATE store_settings SET quiet_period_ms = ? WHERE id = 1",
                            arguments: [quietPeriod]
                        )
                        _ = try Self.replay(db, into: [IncidentProjection()], replayDB)
                    }
                } catch {
                    // A log with a row that does not decode has no fresh replay to compare with.
                    report.differs("no fresh replay to compare with: \(StoreError.wrapping(error, "replay failed"))")
                    return
                }
                try replay.read { replayDB in try Self.compareProjections(db, replayDB, &report) }
            }
            return report
        } catch {
            throw StoreError.wrapping(error, "cannot verify the event store")
        }
    }

    private static func checkLog(_ db: Database, _ report: inout VerifyReport) throws {
        let row = try Row.fetchOne(db, sql: "SELECT count(*), min(seq), max(seq) FROM events")
        let count: Int64 = row?[0] ?? 0
        let lowest: Int64? = row?[1]
        let highest: Int64? = row?[2]
        report.events = count
        if count > 0 && (lowest != 1 || highest != count) {
            report.log("seq is not gapless: \(count) events hold seqs \(lowest ?? 0) to \(highest ?? 0)")
            let gaps = try Int64.fetchAll(
                db,
                sql: """
                    SELECT seq FROM events AS e WHERE seq > 1 AND NOT EXISTS (SELECT 1 FROM events WHERE seq = e.seq - 1)
                    ORDER BY seq LIMIT 10
                    """
            )
            for seq in gaps { report.log("seq \(seq) follows a gap") }
        }
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT seq, ts, received_at, service, component, kind, level, message, incident, event_id, attrs,
                       peer_uid, peer_pid
                FROM events ORDER BY seq
                """
        )
        while let row = try rows.next() {
            do {
                _ = try storedEvent(row)
            } catch {
                let seq: Int64? = row[0]
                report.log("event \(seq.map(String.init) ?? "?") does not decode: \(error)")
            }
        }
    }

    /// Compares the store's projections (`db`) with a fresh replay (`replay`), row by row in key order.
    private static func compareProjections(_ db: Database, _ replay: Database, _ report: inout VerifyReport) throws {
        let applied = try Int64.fetchOne(db, sql: "SELECT last_seq FROM projection_state WHERE id = 1") ?? 0
        let fresh = try Int64.fetchOne(replay, sql: "SELECT last_seq FROM projection_state WHERE id = 1") ?? 0
        if applied != fresh {
            report.differs("the projections reflect the log up to seq \(applied), the log ends at \(fresh)")
        }

        let incidentSQL = "SELECT \(IncidentColumns.list) FROM incidents ORDER BY id"
        let stored = try FastStatement(db, sql: incidentSQL)
        let expected = try FastStatement(replay, sql: incidentSQL)
        func compareIncidents(_ stored: IncidentRecord?, _ expected: IncidentRecord?) {
            switch (stored, expected) {
            case (let stored?, nil): report.differs("incident \(stored.id) is not in a fresh replay")
            case (nil, let expected?): report.differs("incident \(expected.id) is missing (a fresh replay has it)")
            case (let stored?, let expected?):
                report.incidents += 1
                if stored != expected {
                    report.differs(
                        "incident \(stored.id) differs: \(describe(stored)) ; a fresh replay gives \(describe(expected))"
                    )
                }
            case (nil, nil): break
            }
        }
        try merge(
            { try stored.step() ? try IncidentColumns.record(stored) : nil },
            { try expected.step() ? try IncidentColumns.record(expected) : nil },
            order: { $0.id < $1.id },
            pairs: compareIncidents
        )
        let counterSQL = """
            SELECT hour, service, events, timeout_prevented, transition_blocked, ratelimit_throttled
            FROM counters ORDER BY hour, service
            """
        let storedCounters = try Row.fetchCursor(db, sql: counterSQL)
        let expectedCounters = try Row.fetchCursor(replay, sql: counterSQL)
        func compareCounters(_ stored: (CounterKey, CounterValues)?, _ expected: (CounterKey, CounterValues)?) {
            guard let key = (stored ?? expected)?.0 else { return }
            let name = "counters of hour \(Timestamp.formatRFC3339(key.hour * 3_600_000)), service \(key.service)"
            if stored != nil { report.counterRows += 1 }
            if stored?.1 != expected?.1 {
                report.differs("\(name): \(describe(stored?.1)) ; a fresh replay gives \(describe(expected?.1))")
            }
        }
        try merge(
            { try storedCounters.next().map(counterRow) },
            { try expectedCounters.next().map(counterRow) },
            order: { ($0.0.hour, $0.0.service) < ($1.0.hour, $1.0.service) },
            pairs: compareCounters
        )
        try checkIndexOfKeys(db, &report)
    }

    /// The index of keys (`incident_keys`, migration 007) names only active incidents, each under its key's
    /// hash. Which active incidents it names depends on the writer's working set, so no replay can say.
    private static func checkIndexOfKeys(_ db: Database, _ report: inout VerifyReport) throws {
        let entries = try FastStatement(
            db,
            sql: """
                SELECT k.key_hash, k.id, i.id, i.service, i.incident, i.component, i.ended_at
                FROM incident_keys k LEFT JOIN incidents i ON i.id = k.id ORDER BY k.key_hash, k.id
                """
        )
        while try entries.step() {
            let id = entries.int64(1)
            guard entries.optionalInt64(2) != nil else {
                report.differs("the index of active keys names incident \(id), which does not exist")
                continue
            }
            if entries.optionalInt64(6) != nil {
                report.differs("the index of active keys names incident \(id), which has ended")
            }
            let incident = entries.optionalString(4)
            let key = IncidentKey(
                service: entries.string(3),
                name: incident ?? entries.string(5),
                byIncident: incident != nil
            )
            if UInt64(bitPattern: entries.int64(0)) != key.hash {
                report.differs("the index of active keys names incident \(id) under another key's hash")
            }
        }
    }

    private static func counterRow(_ row: Row) -> (CounterKey, CounterValues) {
        (
            CounterKey(hour: row[0], service: row[1]),
            CounterValues(
                events: row[2],
                timeoutPrevented: row[3],
                transitionBlocked: row[4],
                ratelimitThrottled: row[5]
            )
        )
    }

    /// Walks two sequences sorted by the same order, calling `body` with the matching pairs and the lone items.
    package static func merge<T>(
        _ left: () throws -> T?,
        _ right: () throws -> T?,
        order: (T, T) -> Bool,
        pairs body: (T?, T?) -> Void
    ) throws {
        var a = try left()
        var b = try right()
        while a != nil || b != nil {
            if let x = a, let y = b, order(y, x) {
                body(nil, y)
                b = try right()
            } else if let x = a, let y = b, !order(x, y) {
                body(x, y)
                a = try left()
                b = try right()
            } else if let x = a {
                body(x, nil)
                a = try left()
            } else {
                body(nil, b)
                b = try right()
            }
        }
    }

    package static func describe(_ record: IncidentRecord) -> String {
        let times = [
            "opened \(record.openedAt)", "last event \(record.lastEventAt)",
            "resolved \(record.resolvedAt.map(String.init) ?? "null")",
            "failed \(record.failedAt.map(String.init) ?? "null")",
            "ended \(record.endedAt.map(String.init) ?? "null")",
        ]
        let rest = [
            "events \(record.eventCount)", "actions \(record.actions.sorted)",
            "seqs \(record.firstSeq)-\(record.lastSeq)",
            "key \(record.key.service)/\(record.key.name)\(record.key.byIncident ? " (incident)" : "")",
        ]
        return (["state \(record.state.rawValue)", "peak \(record.peakLevel.name)"] + times + rest).joined(
            separator: ", "
        )
    }

    package static func describe(_ values: CounterValues?) -> String {
        guard let values else { return "no row" }
        return "events \(values.events), prevented \(values.timeoutPrevented)/\(values.transitionBlocked)/"
            + "\(values.ratelimitThrottled)"
    }
}
