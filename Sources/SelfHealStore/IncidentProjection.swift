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
                DELETE FROM incident_keys;
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
    /// others in the index of keys (made anew here, so that it never outlives the working set it complements)
    /// and in its filter.
    func load(_ db: Database) throws -> IncidentLedger {
        let quietPeriod = try EventStore.quietPeriod(db)
        let lastSeq = try Int64.fetchOne(db, sql: "SELECT last_seq FROM projection_state WHERE id = 1") ?? 0
        let nextID = (try Int64.fetchOne(db, sql: "SELECT max(id) FROM incidents") ?? 0) + 1
        let source = SQLiteIncidentSource(db: db)
        // Every active incident is of span class 3 (not ended), most recently opened first.
        let activeSQL = """
            FROM incidents INDEXED BY incidents_long WHERE span_class = 3 AND ended_at IS NULL ORDER BY opened_at DESC
            """
        let statement = try FastStatement(db, sql: "SELECT \(IncidentColumns.list) \(activeSQL) LIMIT ?1")
        statement.bind(1, Int64(workingSetLimit))
        var active: [IncidentRecord] = []
        while try statement.step() { active.append(try IncidentColumns.record(statement)) }
        try db.execute(sql: "DELETE FROM incident_keys")
        var evicted = EvictedKeys()
        var evictedCount = 0
        if active.count == workingSetLimit {
            // The others, indexed in sorted chunks of bounded size.
            let rest = try FastStatement(
                db,
                sql: "SELECT id, service, incident, component \(activeSQL) LIMIT -1 OFFSET ?1"
            )
            rest.bind(1, Int64(workingSetLimit))
            var chunk: [IndexedKey] = []
            func flush() throws {
                chunk.sort()
                try source.index(chunk)
                evictedCount += chunk.count
                chunk.removeAll(keepingCapacity: true)
            }
            while try rest.step() {
                let incident = rest.optionalString(2)
                let key = IncidentKey(
                    service: rest.string(1),
                    name: incident ?? rest.string(3),
                    byIncident: incident != nil
                )
                evicted.insert(key.hash)
                chunk.append(IndexedKey(hash: key.hash, id: rest.int64(0)))
                if chunk.count == 65_536 { try flush() }
            }
            try flush()
        }
        return IncidentLedger(
            quietPeriod: quietPeriod,
            workingSetLimit: workingSetLimit,
            nextID: nextID,
            lastSeq: lastSeq,
            active: active,
            evicted: evicted,
            evictedCount: evictedCount
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
        if !ledger.unindexed.isEmpty {
            let remove = try FastStatement(db, sql: "DELETE FROM incident_keys WHERE key_hash = ?1 AND id = ?2")
            for entry in ledger.unindexed {
                remove.bind(1, Int64(bitPattern: entry.hash))
                remove.bind(2, entry.id)
                try remove.run()
            }
        }
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

/// The active incidents SQLite holds outside the working set, through the index of keys `incident_keys`, in
/// the transaction of the batch being applied.
struct SQLiteIncidentSource: ActiveIncidentSource {
    let db: Database

    func activeIncident(_ key: IncidentKey) throws -> IncidentRecord? {
        let statement = try FastStatement(
            db,
            sql: """
                SELECT \(IncidentColumns.list) FROM incidents
                WHERE id IN (SELECT id FROM incident_keys WHERE key_hash = ?1) AND ended_at IS NULL
                """
        )
        statement.bind(1, Int64(bitPattern: key.hash))
        var found: IncidentRecord?
        // Keys that share a hash share its entries: the record's own key decides. At most one active incident
        // per key: the rules never open a second one.
        while try statement.step() {
            let record = try IncidentColumns.record(statement)
            if record.key == key { found = record }
        }
        return found
    }

    func index(_ entries: [IndexedKey]) throws {
        guard !entries.isEmpty else { return }
        let insert = try FastStatement(db, sql: "INSERT OR IGNORE INTO incident_keys (key_hash, id) VALUES (?1, ?2)")
        for entry in entries {
            insert.bind(1, Int64(bitPattern: entry.hash))
            insert.bind(2, entry.id)
            try insert.run()
        }
    }

    func forEachIndexedHash(_ body: (UInt64) -> Void) throws {
        let statement = try FastStatement(db, sql: "SELECT key_hash FROM incident_keys")
        while try statement.step() { body(UInt64(bitPattern: statement.int64(0))) }
    }
}
