import GRDB
import SelfHealEvents

extension EventStore {
    /// How far the projections are behind the log: the seq they reflect and the log's last seq.
    public func projectionProgress() throws(StoreError) -> (applied: Int64, logEnd: Int64) {
        do {
            return try database.read { db in
                let applied = try Int64.fetchOne(db, sql: "SELECT last_seq FROM projection_state WHERE id = 1") ?? 0
                let end = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
                return (applied, end)
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read the event store")
        }
    }

    /// Events with seq in `(after, through]`, at most `limit`, in seq order, with the fields the projections
    /// read (no attrs, peer or receive time).
    static func projectionEvents(_ db: Database, after: Int64, through: Int64, limit: Int) throws -> [StoredEvent] {
        let statement = try FastStatement(
            db,
            sql: """
                SELECT seq, ts, service, component, kind, level, message, incident FROM events
                WHERE seq > ?1 AND seq <= ?2 ORDER BY seq LIMIT ?3
                """
        )
        statement.bind(1, after)
        statement.bind(2, through)
        statement.bind(3, Int64(limit))
        var events: [StoredEvent] = []
        events.reserveCapacity(min(limit, 20_000))
        var kinds = EventKindCache()
        while try statement.step() {
            let seq = statement.int64(0)
            let kind = try kinds.kind(statement.string(4), seq: seq)
            let level = try kinds.level(statement.string(5), seq: seq)
            let timestamp = statement.int64(1)
            let event = Event(
                service: statement.string(2),
                kind: kind,
                component: statement.string(3),
                timestamp: timestamp,
                level: level,
                message: statement.optionalString(6),
                incident: statement.optionalString(7)
            )
            events.append(StoredEvent(seq: seq, timestamp: timestamp, receivedAt: timestamp, event: event, peer: nil))
        }
        return events
    }
}

extension EventStore {
    /// The projections' rows as they are: every incident by id, every counters row by hour and service (the
    /// fleet's tests compare the central store's with these).
    package func projectionRows() throws -> (incidents: [IncidentRecord], counters: [(CounterKey, CounterValues)]) {
        try database.read { db in
            var incidents: [IncidentRecord] = []
            let statement = try FastStatement(db, sql: "SELECT \(IncidentColumns.list) FROM incidents ORDER BY id")
            while try statement.step() { incidents.append(try IncidentColumns.record(statement)) }
            let counters = try Row.fetchAll(
                db,
                sql: """
                    SELECT hour, service, events, timeout_prevented, transition_blocked, ratelimit_throttled
                    FROM counters ORDER BY hour, service
                    """
            ).map { row in
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
            return (incidents, counters)
        }
    }
}
