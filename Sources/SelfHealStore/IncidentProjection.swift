import GRDB
import SelfHealEvents
import Synchronization

/// The incidents and hourly counters of SPEC section 5, kept in the append's transaction.
///
/// A batch is applied in memory (the active incidents it touches and the counters), then each changed row is
/// written once. The active incidents are cached between batches; the cache is trusted only when it reflects
/// the seq just before the batch and its last transaction committed: a rollback drops it, and the next batch
/// reloads the active incidents from the database. When the log is ahead of the projections (events appended
/// by a writer without projections), the missing events are replayed from the log first.
public final class IncidentProjection: Projection {
    private struct State {
        var ledger: IncidentLedger?
        var awaitingOutcome = false
    }

    private let state = Mutex(State())

    /// Creates the projection; one per process that appends.
    public init() {}

    public func reset(_ db: Database) throws {
        state.withLock { $0.ledger = nil }
        try db.execute(
            sql: """
                DELETE FROM incidents;
                DELETE FROM counters;
                UPDATE projection_state SET last_seq = 0;
                """
        )
        watchOutcome(db)
    }

    public func apply(_ events: EventBatch, _ db: Database) throws {
        guard let first = events.firstSeq else { return }
        var ledger = try ledger(before: first, db)
        try Self.apply(events, to: &ledger, db)
        state.withLock { $0.ledger = ledger }
        watchOutcome(db)
    }

    /// Brings the projections up to the end of the log (after events appended without them).
    public func catchUp(_ db: Database) throws {
        let lastSeq = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        let ledger = try ledger(before: lastSeq + 1, db)
        state.withLock { $0.ledger = ledger }
        watchOutcome(db)
    }

    /// The ledger that reflects every event before `seq`: the cached one when it does, else loaded.
    private func ledger(before seq: Int64, _ db: Database) throws -> IncidentLedger {
        // Taken out while in use: an error on the way leaves no cache behind, so the next batch reloads.
        if let cached = state.withLock({ $0.ledger.take() }), cached.lastSeq == seq - 1 { return cached }
        var ledger = try Self.load(db)
        guard ledger.lastSeq <= seq - 1 else {
            throw StoreError(
                "the projections reflect seq \(ledger.lastSeq), past the log's \(seq - 1): run 'selfheal rebuild'"
            )
        }
        // Replay what the log holds beyond the projections, in chunks.
        while ledger.lastSeq < seq - 1 {
            let events = try EventStore.projectionEvents(db, after: ledger.lastSeq, through: seq - 1, limit: 10_000)
            guard !events.isEmpty else {
                throw StoreError("the log has no event after seq \(ledger.lastSeq): run 'selfheal verify'")
            }
            try Self.apply(EventBatch(events), to: &ledger, db)
        }
        return ledger
    }

    /// Drops the cache if the current transaction rolls back (once per transaction).
    private func watchOutcome(_ db: Database) {
        let register = state.withLock { state in
            defer { state.awaitingOutcome = true }
            return !state.awaitingOutcome
        }
        guard register else { return }
        db.afterNextTransaction(
            onCommit: { [self] _ in state.withLock { $0.awaitingOutcome = false } },
            onRollback: { [self] _ in
                state.withLock {
                    $0.ledger = nil
                    $0.awaitingOutcome = false
                }
            }
        )
    }

    /// The active incidents and the seq the projections reflect, from the database.
    static func load(_ db: Database) throws -> IncidentLedger {
        let lastSeq = try Int64.fetchOne(db, sql: "SELECT last_seq FROM projection_state WHERE id = 1") ?? 0
        let nextID = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM incidents") ?? 0) + 1
        var active: [IncidentKey: IncidentRecord] = [:]
        let rows = try Row.fetchCursor(
            db,
            sql: """
                SELECT \(IncidentColumns.list) FROM incidents INDEXED BY incidents_long
                WHERE span_class = 3 AND resolved_at IS NULL
                """
        )
        while let row = try rows.next() {
            let record = try IncidentColumns.record(row)
            active[record.key] = record
        }
        return IncidentLedger(active: active, nextID: nextID, lastSeq: lastSeq)
    }

    /// Applies events to the ledger and writes every changed row once.
    static func apply(_ events: EventBatch, to ledger: inout IncidentLedger, _ db: Database) throws {
        ledger.apply(events)
        try write(ledger, db)
    }

    private static func write(_ ledger: IncidentLedger, _ db: Database) throws {
        let update = try FastStatement(
            db,
            sql: """
                UPDATE incidents SET state = ?1, peak_level = ?2, resolved_at = ?3, failed_at = ?4, recovery_ms = ?5,
                    event_count = ?6, actions = ?7, last_seq = ?8, span_class = ?10
                WHERE id = ?9
                """
        )
        try ledger.forEachTouched { existed, record in
            guard existed else { return }
            update.bind(1, record.state.rawValue)
            update.bind(2, Int64(record.peakLevel.rawValue))
            update.bind(3, record.resolvedAt)
            update.bind(4, record.failedAt)
            update.bind(5, record.recoveryMs)
            update.bind(6, record.eventCount)
            update.bind(7, record.actions.json)
            update.bind(8, record.lastSeq)
            update.bind(9, record.id)
            update.bind(10, record.spanClass)
            try update.run()
        }
        // The opened ones, in order of their ids.
        var inserts = MultiRowWriter(db, count: ledger.openedCount, columns: IncidentColumns.count) { rows in
            IncidentColumns.insertSQL[rows - 1]
        }
        try ledger.forEachTouched { existed, record in
            guard !existed else { return }
            try inserts.add { statement, first in IncidentColumns.bind(record, to: statement, from: first) }
        }
        try inserts.finish()
        // Most rows exist already (the current hour): update, and insert only when there was nothing to update
        // (an upsert of several rows per statement cost more, measured).
        let addToCounters = try FastStatement(
            db,
            sql: """
                UPDATE counters SET events = events + ?3, timeout_prevented = timeout_prevented + ?4,
                    transition_blocked = transition_blocked + ?5, ratelimit_throttled = ratelimit_throttled + ?6,
                    incidents_open = incidents_open + ?7, incidents_resolved = incidents_resolved + ?8,
                    incidents_failed = incidents_failed + ?9, recovery_ms_sum = recovery_ms_sum + ?10
                WHERE hour = ?1 AND service = ?2
                """
        )
        let insertCounters = try FastStatement(
            db,
            sql: """
                INSERT INTO counters
                    (hour, service, events, timeout_prevented, transition_blocked, ratelimit_throttled,
                     incidents_open, incidents_resolved, incidents_failed, recovery_ms_sum)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                """
        )
        for (key, change) in ledger.counterChanges.rows where !change.isZero {
            for statement in [addToCounters, insertCounters] {
                statement.bind(1, key.hour)
                statement.bind(2, key.service)
                statement.bind(3, change.events)
                statement.bind(4, change.timeoutPrevented)
                statement.bind(5, change.transitionBlocked)
                statement.bind(6, change.ratelimitThrottled)
                statement.bind(7, change.open)
                statement.bind(8, change.resolved)
                statement.bind(9, change.failed)
                statement.bind(10, change.recoverySum)
                if try statement.runCountingChanges() > 0 { break }
            }
        }
        let progress = try FastStatement(db, sql: "UPDATE projection_state SET last_seq = ?1 WHERE id = 1")
        progress.bind(1, ledger.lastSeq)
        try progress.run()
    }
}

/// The columns of the incidents table, in one order for reading and writing.
enum IncidentColumns {
    static let list = """
        id, service, component, incident, kind, title, state, peak_level, opened_at, resolved_at, failed_at, \
        recovery_ms, event_count, actions, first_seq, last_seq, span_class
        """

    static let count: Int32 = 17

    /// INSERTs of 1 to ``MultiRowWriter/rowsPerStatement`` incidents (see ``MultiRowWriter``).
    static let insertSQL: [String] = (1...MultiRowWriter.rowsPerStatement).map { rows in
        "INSERT INTO incidents (\(list)) VALUES \(MultiRowWriter.placeholders(rows: rows, columns: count))"
    }

    /// Binds a record's columns from parameter `first` on.
    static func bind(_ record: borrowing IncidentRecord, to statement: FastStatement, from first: Int32) {
        let base = first - 1
        statement.bind(base + 1, record.id)
        statement.bind(base + 2, record.key.service)
        statement.bind(base + 3, record.component)
        statement.bind(base + 4, record.key.byIncident ? record.key.name : nil)
        statement.bind(base + 5, record.kind)
        statement.bind(base + 6, record.title)
        statement.bind(base + 7, record.state.rawValue)
        statement.bind(base + 8, Int64(record.peakLevel.rawValue))
        statement.bind(base + 9, record.openedAt)
        statement.bind(base + 10, record.resolvedAt)
        statement.bind(base + 11, record.failedAt)
        statement.bind(base + 12, record.recoveryMs)
        statement.bind(base + 13, record.eventCount)
        statement.bind(base + 14, record.actions.json)
        statement.bind(base + 15, record.firstSeq)
        statement.bind(base + 16, record.lastSeq)
        statement.bind(base + 17, record.spanClass)
    }

    static func record(_ row: Row) throws -> IncidentRecord {
        let id: Int64 = row[0]
        guard let state = IncidentState(rawValue: row[6]) else {
            throw StoreError("incident \(id) has an unknown state")
        }
        guard let level = EventLevel(rawValue: row[7]) else { throw StoreError("incident \(id) has an unknown level") }
        let component: String = row[2]
        let incident: String? = row[3]
        return IncidentRecord(
            id: id,
            key: IncidentKey(service: row[1], name: incident ?? component, byIncident: incident != nil),
            component: component,
            kind: row[4],
            title: row[5],
            state: state,
            peakLevel: level,
            openedAt: row[8],
            resolvedAt: row[9],
            failedAt: row[10],
            eventCount: row[12],
            actions: ActionSet(parseActions(row[13])),
            firstSeq: row[14],
            lastSeq: row[15]
        )
    }

    /// The record in the current row of a statement that selects ``list``.
    static func record(_ statement: FastStatement) throws -> IncidentRecord {
        let id = statement.int64(0)
        guard let state = IncidentState(rawValue: statement.string(6)) else {
            throw StoreError("incident \(id) has an unknown state")
        }
        guard let level = EventLevel(rawValue: Int(statement.int64(7))) else {
            throw StoreError("incident \(id) has an unknown level")
        }
        let component = statement.string(2)
        let incident = statement.optionalString(3)
        let actionsText = statement.string(13)
        return IncidentRecord(
            id: id,
            key: IncidentKey(service: statement.string(1), name: incident ?? component, byIncident: incident != nil),
            component: component,
            kind: statement.string(4),
            title: statement.string(5),
            state: state,
            peakLevel: level,
            openedAt: statement.int64(8),
            resolvedAt: statement.optionalInt64(9),
            failedAt: statement.optionalInt64(10),
            eventCount: statement.int64(12),
            actions: ActionSet.byJSON[actionsText] ?? ActionSet(parseActions(actionsText)),
            firstSeq: statement.int64(14),
            lastSeq: statement.int64(15)
        )
    }

    /// The names of a JSON array of plain strings, as ``ActionSet/json`` writes it.
    static func parseActions(_ json: String) -> [String] {
        json.split(whereSeparator: { $0 == "[" || $0 == "]" || $0 == "," || $0 == "\"" }).map(String.init)
    }
}
