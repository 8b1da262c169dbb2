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

    public func apply(_ events: [StoredEvent], _ db: Database) throws {
        guard let first = events.first else { return }
        var ledger = try ledger(before: first.seq, db)
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
            try Self.apply(events, to: &ledger, db)
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
            sql: "SELECT \(IncidentColumns.list) FROM incidents WHERE resolved_at IS NULL"
        )
        while let row = try rows.next() {
            let record = try IncidentColumns.record(row)
            active[record.key] = record
        }
        return IncidentLedger(active: active, nextID: nextID, lastSeq: lastSeq)
    }

    /// Applies events to the ledger and writes every changed row once.
    static func apply(_ events: [StoredEvent], to ledger: inout IncidentLedger, _ db: Database) throws {
        ledger.beginBatch()
        for event in events { ledger.apply(event) }
        ledger.settleIncidentCounters()
        try write(ledger, db)
    }

    private static func write(_ ledger: IncidentLedger, _ db: Database) throws {
        // Updates before inserts: an incident resolved in this batch frees its key for one opened after it.
        let update = try db.cachedStatement(
            sql: """
                UPDATE incidents SET state = ?, peak_level = ?, resolved_at = ?, failed_at = ?, recovery_ms = ?,
                    event_count = ?, actions = ?, last_seq = ?
                WHERE id = ?
                """
        )
        var inserts: [IncidentRecord] = []
        for (before, after) in ledger.touched.values {
            guard before != nil else {
                inserts.append(after)
                continue
            }
            update.setUncheckedArguments([
                after.state.rawValue, after.peakLevel.rawValue, after.resolvedAt, after.failedAt, after.recoveryMs,
                after.eventCount, IncidentColumns.actionsJSON(after.actions), after.lastSeq, after.id,
            ])
            try update.execute()
        }
        let insert = try db.cachedStatement(
            sql: """
                INSERT INTO incidents (\(IncidentColumns.list))
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        for record in inserts.sorted(by: { $0.id < $1.id }) {
            insert.setUncheckedArguments(IncidentColumns.arguments(record))
            try insert.execute()
        }
        let upsert = try db.cachedStatement(
            sql: """
                INSERT INTO counters
                    (hour, service, kind, events, incidents_open, incidents_resolved, incidents_failed, recovery_ms_sum)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (hour, service, kind) DO UPDATE SET
                    events = events + excluded.events,
                    incidents_open = incidents_open + excluded.incidents_open,
                    incidents_resolved = incidents_resolved + excluded.incidents_resolved,
                    incidents_failed = incidents_failed + excluded.incidents_failed,
                    recovery_ms_sum = recovery_ms_sum + excluded.recovery_ms_sum
                """
        )
        for (key, change) in ledger.counterChanges where !change.isZero {
            upsert.setUncheckedArguments([
                key.hour, key.service, key.kind, change.events, change.open, change.resolved, change.failed,
                change.recoverySum,
            ])
            try upsert.execute()
        }
        try db.execute(sql: "UPDATE projection_state SET last_seq = ? WHERE id = 1", arguments: [ledger.lastSeq])
    }
}

/// The columns of the incidents table, in one order for reading and writing.
enum IncidentColumns {
    static let list = """
        id, service, component, incident, key, kind, title, state, peak_level, opened_at, resolved_at, failed_at, \
        recovery_ms, event_count, actions, first_seq, last_seq
        """

    static func arguments(_ record: IncidentRecord) -> StatementArguments {
        [
            record.id, record.key.service, record.component, record.key.byIncident ? record.key.name : nil,
            record.key.name, record.kind, record.title, record.state.rawValue, record.peakLevel.rawValue,
            record.openedAt, record.resolvedAt, record.failedAt, record.recoveryMs, record.eventCount,
            actionsJSON(record.actions), record.firstSeq, record.lastSeq,
        ]
    }

    static func record(_ row: Row) throws -> IncidentRecord {
        let id: Int64 = row[0]
        guard let state = IncidentState(rawValue: row[7]) else { throw StoreError("incident \(id) has an unknown state") }
        guard let level = EventLevel(rawValue: row[8]) else { throw StoreError("incident \(id) has an unknown level") }
        let incident: String? = row[3]
        return IncidentRecord(
            id: id,
            key: IncidentKey(service: row[1], name: row[4], byIncident: incident != nil),
            component: row[2],
            kind: row[5],
            title: row[6],
            state: state,
            peakLevel: level,
            openedAt: row[9],
            resolvedAt: row[10],
            failedAt: row[11],
            eventCount: row[13],
            actions: ActionSet(parseActions(row[14])),
            firstSeq: row[15],
            lastSeq: row[16]
        )
    }

    /// `["breaker.opened","retry.attempt"]`.
    static func actionsJSON(_ actions: ActionSet) -> String {
        JSONText.array(actions.sorted.map(JSONText.quoted))
    }

    /// The names of a JSON array of plain strings, as ``actionsJSON(_:)`` writes it.
    static func parseActions(_ json: String) -> [String] {
        json.split(whereSeparator: { $0 == "[" || $0 == "]" || $0 == "," || $0 == "\"" }).map(String.init)
    }
}
