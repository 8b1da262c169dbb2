import GRDB
import SelfHealEvents
import Synchronization

/// The incidents and hourly counters of SPEC section 5, kept in the append's transaction.
///
/// A batch is applied in memory by the ``IncidentLedger`` (the active incidents it touches and the counters),
/// then each changed row is written once. The ledger is kept between batches; it is trusted only when it
/// reflects the seq just before the batch and its last transaction committed: a rollback drops it, and the
/// next batch reloads it from the database. When the log is ahead of the projections (events appended by a
/// writer without them, or a store migrated from an older version), the missing events are replayed from the
/// log first.
final class IncidentProjection: Projection {
    private struct State {
        var ledger: IncidentLedger?
        var awaitingOutcome = false
    }

    private let state = Mutex(State())
    /// The most active incidents kept in memory between batches.
    let workingSetLimit: Int

    /// Creates the projection; one per process that appends.
    init(workingSetLimit: Int = IncidentProjection.defaultWorkingSetLimit) {
        self.workingSetLimit = workingSetLimit
    }

    /// The default working set: 20,000 active incidents, about 10 MB.
    static let defaultWorkingSetLimit = StoreConfiguration(path: "").workingSetLimit

    func reset(_ db: Database) throws {
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

    func apply(_ events: EventBatch, _ db: Database) throws -> [Int64] {
        guard let first = events.firstSeq else { return [] }
        var ledger = try ledger(before: first, db)
        let changed = try Self.apply(events, to: &ledger, db)
        state.withLock { $0.ledger = ledger }
        watchOutcome(db)
        return changed
    }

    func catchUp(_ db: Database) throws {
        let lastSeq = try Int64.fetchOne(db, sql: "SELECT max(seq) FROM events") ?? 0
        let ledger = try ledger(before: lastSeq + 1, db)
        state.withLock { $0.ledger = ledger }
        watchOutcome(db)
    }

    /// The ledger that reflects every event before `seq`: the cached one when it does, else loaded.
    private func ledger(before seq: Int64, _ db: Database) throws -> IncidentLedger {
        // Taken out while in use: an error on the way leaves no cache behind, so the next batch reloads.
        if let cached = state.withLock({ $0.ledger.take() }), cached.lastSeq == seq - 1 { return cached }
        var ledger = try load(db)
        guard ledger.lastSeq <= seq - 1 else {
            throw StoreError(
                "the projections reflect seq \(ledger.lastSeq), past the log's \(seq - 1): run 'selfheal rebuild'"
            )
        }
        // Replay what the log holds beyond the projections, in chunks.
        while ledger.lastSeq < seq - 1 {
            let events = try EventStore.projectionEvents(db, after: ledger.lastSeq, through: seq - 1, limit: 20_000)
            guard !events.isEmpty else {
                throw StoreError("the log has no event after seq \(ledger.lastSeq): run 'selfheal verify'")
            }
            _ = try Self.apply(EventBatch(events), to: &ledger, db)
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

    /// The ledger as the database holds it: the most recently opened active incidents in its working set, the
    /// keys of the others in its filter.
    func load(_ db: Database) throws -> IncidentLedger {
        let quietPeriod = try EventStore.quietPeriod(db)
        let lastSeq = try Int64.fetchOne(db, sql: "SELECT last_seq FROM projection_state WHERE id = 1") ?? 0
        let nextID = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM incidents") ?? 0) + 1
        let source = SQLiteIncidentSource(db: db)
        let activeCount =
            try Int.fetchOne(
                db,
                sql: "SELECT count(*) FROM incidents INDEXED BY incidents_active WHERE ended_at IS NULL"
            ) ?? 0
        var evicted = EvictedKeys()
        if activeCount > workingSetLimit {
            // Those loaded below are in the filter too; the working set is asked first, so that costs nothing.
            try source.forEachActiveKey { evicted.insert($0.hash) }
        }
        let statement = try FastStatement(
            db,
            sql: """
                SELECT \(IncidentColumns.list) FROM incidents INDEXED BY incidents_long
                WHERE span_class = 3 AND ended_at IS NULL ORDER BY opened_at DESC LIMIT ?1
                """
        )
        statement.bind(1, Int64(workingSetLimit))
        var active: [IncidentRecord] = []
        while try statement.step() { active.append(try IncidentColumns.record(statement)) }
        return IncidentLedger(
            quietPeriod: quietPeriod,
            workingSetLimit: workingSetLimit,
            nextID: nextID,
            lastSeq: lastSeq,
            active: active,
            evicted: evicted,
            evictedCount: max(0, activeCount - active.count)
        )
    }

    /// Applies events to the ledger and writes every changed row once; returns the ids of the incidents the
    /// events opened, changed or ended.
    static func apply(_ events: EventBatch, to ledger: inout IncidentLedger, _ db: Database) throws -> [Int64] {
        try ledger.apply(events, source: SQLiteIncidentSource(db: db))
        return try write(ledger, db)
    }

    private static func write(_ ledger: IncidentLedger, _ db: Database) throws -> [Int64] {
        // Events that only join an incident change no indexed column: their UPDATE leaves the indexes alone.
        let join = try FastStatement(
            db,
            sql: """
                UPDATE incidents SET peak_level = ?2, last_event_at = ?3, event_count = ?4, actions = ?5, last_seq = ?6
                WHERE id = ?1
                """
        )
        let transition = try FastStatement(
            db,
            sql: """
                UPDATE incidents SET peak_level = ?2, last_event_at = ?3, event_count = ?4, actions = ?5,
                    last_seq = ?6, state = ?7, resolved_at = ?8, failed_at = ?9, ended_at = ?10, recovery_ms = ?11,
                    span_class = ?12
                WHERE id = ?1
                """
        )
        var changed: [Int64] = []
        changed.reserveCapacity(ledger.touches.count)
        for touch in ledger.touches where touch.existed {
            let record = ledger.record(touch)
            let update = touch.transitioned ? transition : join
            update.bind(1, record.id)
            update.bind(2, Int64(record.peakLevel.rawValue))
            update.bind(3, record.lastEventAt)
            update.bind(4, record.eventCount)
            update.bind(5, record.actions.json)
            update.bind(6, record.lastSeq)
            if touch.transitioned {
                update.bind(7, record.state.rawValue)
                update.bind(8, record.resolvedAt)
                update.bind(9, record.failedAt)
                update.bind(10, record.endedAt)
                update.bind(11, record.recoveryMs)
                update.bind(12, record.spanClass)
            }
            try update.run()
            changed.append(record.id)
        }
        // The opened ones, in order of their ids.
        var inserts = MultiRowWriter(db, count: ledger.openedCount, columns: IncidentColumns.count) { rows in
            IncidentColumns.insertSQL[rows - 1]
        }
        for touch in ledger.touches where !touch.existed {
            let record = ledger.record(touch)
            try inserts.add { statement, first in IncidentColumns.bind(record, to: statement, from: first) }
            changed.append(record.id)
        }
        try inserts.finish()
        try writeCounters(ledger.counterChanges, db)
        let progress = try FastStatement(db, sql: "UPDATE projection_state SET last_seq = ?1 WHERE id = 1")
        progress.bind(1, ledger.lastSeq)
        try progress.run()
        return changed
    }

    /// Adds the batch's counts to the counters rows: most rows exist already (the current hour), so update, and
    /// insert only when there was nothing to update (an upsert of several rows per statement cost more).
    private static func writeCounters(_ changes: CounterRows, _ db: Database) throws {
        let add = try FastStatement(
            db,
            sql: """
                UPDATE counters SET events = events + ?3, timeout_prevented = timeout_prevented + ?4,
                    transition_blocked = transition_blocked + ?5, ratelimit_throttled = ratelimit_throttled + ?6
                WHERE hour = ?1 AND service = ?2
                """
        )
        let insert = try FastStatement(
            db,
            sql: """
                INSERT INTO counters (hour, service, events, timeout_prevented, transition_blocked, ratelimit_throttled)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                """
        )
        for (key, change) in changes.rows where !change.isZero {
            for statement in [add, insert] {
                statement.bind(1, key.hour)
                statement.bind(2, key.service)
                statement.bind(3, change.events)
                statement.bind(4, change.timeoutPrevented)
                statement.bind(5, change.transitionBlocked)
                statement.bind(6, change.ratelimitThrottled)
                if try statement.runCountingChanges() > 0 { break }
            }
        }
    }
}

/// The active incidents SQLite holds, through the partial index `incidents_active`, in the transaction of the
/// batch being applied.
struct SQLiteIncidentSource: ActiveIncidentSource {
    let db: Database

    func activeIncident(_ key: IncidentKey) throws -> IncidentRecord? {
        let statement: FastStatement
        if key.byIncident {
            statement = try FastStatement(
                db,
                sql: """
                    SELECT \(IncidentColumns.list) FROM incidents INDEXED BY incidents_active
                    WHERE service = ?1 AND incident = ?2 AND ended_at IS NULL
                    """
            )
        } else {
            statement = try FastStatement(
                db,
                sql: """
                    SELECT \(IncidentColumns.list) FROM incidents INDEXED BY incidents_active
                    WHERE service = ?1 AND incident IS NULL AND component = ?2 AND ended_at IS NULL
                    """
            )
        }
        statement.bind(1, key.service)
        statement.bind(2, key.name)
        guard try statement.step() else { return nil }
        let record = try IncidentColumns.record(statement)
        // At most one active incident per key: the rules never open a second one.
        while try statement.step() {}
        return record
    }

    func forEachActiveKey(_ body: (IncidentKey) -> Void) throws {
        let statement = try FastStatement(
            db,
            sql: """
                SELECT service, incident, component FROM incidents INDEXED BY incidents_active
                WHERE ended_at IS NULL
                """
        )
        while try statement.step() {
            let incident = statement.optionalString(1)
            body(
                IncidentKey(
                    service: statement.string(0),
                    name: incident ?? statement.string(2),
                    byIncident: incident != nil
                )
            )
        }
    }
}
