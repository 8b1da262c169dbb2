import Logging
import NIOCore
import PostgresNIO
import SelfHealEvents
import SelfHealStore

/// Where the ledger finds the active incidents it does not hold in memory, on the central store: the partial
/// index `fleet_incidents_active` (service, incident, component) WHERE ended_at IS NULL names every active
/// incident, so the store needs no index of its own. Before a batch, ``prefetch(_:for:)`` reads the active
/// incidents of every key of the batch the ledger may ask about, in two queries; a key it did not foresee (one
/// the ledger evicts as the batch begins) costs one query of its own. Lookups block the projector's thread (never
/// an event loop).
final class FleetIncidentSource: ActiveIncidentSource {
    let connection: PostgresConnection
    let logger: Logger
    /// The batch's prefetched answers: a record, or nil for a key known to have no active incident.
    private var prefetched: [IncidentKey: IncidentRecord?] = [:]

    init(connection: PostgresConnection, logger: Logger) {
        self.connection = connection
        self.logger = logger
    }

    /// Reads the active incidents of the batch's keys that the ledger may look up.
    func prefetch(_ events: [StoredEvent], for ledger: IncidentLedger) throws {
        prefetched.removeAll(keepingCapacity: true)
        var byIncident: (services: [String], names: [String]) = ([], [])
        var byComponent: (services: [String], names: [String]) = ([], [])
        for stored in events {
            let event = stored.event
            let role = event.kind.role
            guard role == .detect || role == .mitigate || role == .recover || role == .fail else { continue }
            let key = IncidentKey(
                service: event.service,
                name: event.incident ?? event.component,
                byIncident: event.incident != nil
            )
            guard ledger.mayLookUp(key), prefetched.updateValue(nil, forKey: key) == nil else { continue }
            if key.byIncident {
                byIncident.services.append(key.service)
                byIncident.names.append(key.name)
            } else {
                byComponent.services.append(key.service)
                byComponent.names.append(key.name)
            }
        }
        // postgres-nio never answers a query written to a closed connection.
        guard !connection.isClosed else { throw FleetProjectionWriter.SessionClosed() }
        var pending: [EventLoopFuture<PostgresQueryResult>] = []
        if !byIncident.services.isEmpty {
            pending.append(
                connection.query(
                    """
                    SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents
                    WHERE ended_at IS NULL AND (service, incident) IN (
                        SELECT * FROM unnest(\(byIncident.services)::text[], \(byIncident.names)::text[]))
                    """,
                    logger: logger
                )
            )
        }
        if !byComponent.services.isEmpty {
            pending.append(
                connection.query(
                    """
                    SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents
                    WHERE ended_at IS NULL AND incident IS NULL AND (service, component) IN (
                        SELECT * FROM unnest(\(byComponent.services)::text[], \(byComponent.names)::text[]))
                    """,
                    logger: logger
                )
            )
        }
        for future in pending {
            for row in try future.wait() {
                let record = try FleetRows.incident(row)
                prefetched[record.key] = record
            }
        }
    }

    func activeIncident(_ key: IncidentKey) throws -> IncidentRecord? {
        if let answer = prefetched.removeValue(forKey: key) { return answer }
        let query: PostgresQuery =
            key.byIncident
            ? """
            SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents
            WHERE service = \(key.service) AND incident = \(key.name) AND ended_at IS NULL
            """
            : """
            SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents
            WHERE service = \(key.service) AND incident IS NULL AND component = \(key.name) AND ended_at IS NULL
            """
        let rows = try connection.query(query, logger: logger).wait()
        // At most one active incident per key: the rules never open a second one.
        return try rows.map(FleetRows.incident).first { $0.key == key }
    }

    /// Nothing to do: the partial index of the active incidents is the index.
    func index(_ entries: [IndexedKey]) throws {}

    func forEachIndexedHash(_ body: (UInt64) -> Void) throws {
        let rows = try connection.query(
            "SELECT service, incident, component FROM fleet_incidents WHERE ended_at IS NULL",
            logger: logger
        ).wait()
        for row in rows {
            let (service, incident, component) = try row.decode((String, String?, String).self)
            body(IncidentKey(service: service, name: incident ?? component, byIncident: incident != nil).hash)
        }
    }
}

/// Writes what one batch did to the fleet's projections, in the transaction that moves the cursor.
enum FleetProjectionWriter {
    /// Raised when the cursor is not where this projector left it: another one applied meanwhile.
    struct CursorMoved: Error, CustomStringConvertible {
        var expected: Int64
        var description: String {
            "the fleet projections' cursor moved away from fleet_seq \(expected): another central applied"
        }
    }

    /// Raised instead of sending a query on a session that has closed (the store went away: the projector
    /// reconnects; not a ``StoreError``, which would stop it).
    struct SessionClosed: Error, CustomStringConvertible {
        var description: String { "the connection to the central store closed" }
    }

    /// Raised when the batch's transaction ended in a rollback.
    struct RolledBack: Error, CustomStringConvertible {
        var description: String { "the batch's transaction rolled back" }
    }

    /// A null in a bigint array (postgres-nio's arrays hold no nulls).
    static let nullMarker = Int64.min

    /// Sends the incidents the batch touched, its counters and the cursor (from `previous` to the ledger's last
    /// seq) as one transaction, and returns at once: the statements are built from the ledger now, so the next
    /// batch may be applied while this one is written. The future fails with ``CursorMoved`` (and nothing is
    /// written) if the cursor moved, with ``RolledBack`` or the statement's error if the transaction did not
    /// commit.
    static func send(
        _ ledger: IncidentLedger,
        after previous: Int64,
        _ connection: PostgresConnection,
        logger: Logger
    ) -> EventLoopFuture<Void> {
        var opened = IncidentArrays()
        var changed = IncidentArrays()
        for touch in ledger.touches {
            if touch.existed { changed.append(ledger.record(touch)) } else { opened.append(ledger.record(touch)) }
        }
        var built: [PostgresQuery] = []
        if !opened.ids.isEmpty { built.append(opened.insert) }
        if !changed.ids.isEmpty { built.append(changed.update) }
        if !ledger.counterChanges.rows.isEmpty { built.append(counterUpsert(ledger.counterChanges)) }
        let statements = built
        // postgres-nio never answers a query written to a closed connection: fail instead of waiting for ever.
        let closed = SessionClosed()
        guard !connection.isClosed else { return connection.eventLoop.makeFailedFuture(closed) }
        let begin = connection.query("BEGIN", logger: logger)
        let cursor = connection.query(
            """
            UPDATE fleet_projection_state SET last_fleet_seq = \(ledger.lastSeq)
            WHERE id = 1 AND last_fleet_seq = \(previous)
            """,
            logger: logger
        )
        let eventLoop = connection.eventLoop
        let started = begin.and(cursor).flatMapError { error in
            // BEGIN or the cursor's update failed: end the transaction before telling.
            rollBack(connection, logger: logger).flatMapThrowing { _ -> (PostgresQueryResult, PostgresQueryResult) in
                throw error
            }
        }
        return started.flatMap { _, moved -> EventLoopFuture<Void> in
            guard moved.metadata.rows == 1 else {
                return rollBack(connection, logger: logger).flatMapThrowing { _ in
                    throw CursorMoved(expected: previous)
                }
            }
            guard !connection.isClosed else { return eventLoop.makeFailedFuture(closed) }
            // Sent together; a failed statement makes the COMMIT a rollback.
            let pending = statements.map { connection.query($0, logger: logger) }
            let commit = connection.query("COMMIT", logger: logger)
            return EventLoopFuture.whenAllComplete(pending + [commit], on: eventLoop).flatMap { results in
                for result in results {
                    if case .failure(let error) = result {
                        return rollBack(connection, logger: logger).flatMapThrowing { _ in throw error }
                    }
                }
                guard case .success(let done) = results.last, done.metadata.command == "COMMIT" else {
                    return eventLoop.makeFailedFuture(RolledBack())
                }
                return eventLoop.makeSucceededVoidFuture()
            }
        }
    }

    /// Sends ROLLBACK; its own failure (the connection gone) is not what the caller is told.
    static func rollBack(_ connection: PostgresConnection, logger: Logger) -> EventLoopFuture<Void> {
        connection.query("ROLLBACK", logger: logger).map { _ in () }.recover { _ in () }
    }

    /// One INSERT ... ON CONFLICT adding the batch's counts to the counters rows.
    static func counterUpsert(_ changes: CounterRows) -> PostgresQuery {
        var hours: [Int64] = []
        var services: [String] = []
        var events: [Int64] = []
        var timeouts: [Int64] = []
        var transitions: [Int64] = []
        var ratelimits: [Int64] = []
        for (key, values) in changes.rows where !values.isZero {
            hours.append(key.hour)
            services.append(key.service)
            events.append(values.events)
            timeouts.append(values.timeoutPrevented)
            transitions.append(values.transitionBlocked)
            ratelimits.append(values.ratelimitThrottled)
        }
        return """
            INSERT INTO fleet_counters (hour, service, events, timeout_prevented, transition_blocked, \
            ratelimit_throttled)
            SELECT * FROM unnest(\(hours)::bigint[], \(services)::text[], \(events)::bigint[], \
            \(timeouts)::bigint[], \(transitions)::bigint[], \(ratelimits)::bigint[])
            ON CONFLICT (hour, service) DO UPDATE SET events = fleet_counters.events + EXCLUDED.events,
                timeout_prevented = fleet_counters.timeout_prevented + EXCLUDED.timeout_prevented,
                transition_blocked = fleet_counters.transition_blocked + EXCLUDED.transition_blocked,
                ratelimit_throttled = fleet_counters.ratelimit_throttled + EXCLUDED.ratelimit_throttled
            """
    }
}

/// Incident records as one array per column, for a multi-row upsert through unnest.
struct IncidentArrays {
    var ids: [Int64] = []
    var services: [String] = []
    var components: [String] = []
    var incidents: [String] = []
    var hasIncident: [Bool] = []
    var kinds: [String] = []
    var titles: [String] = []
    var states: [String] = []
    var levels: [Int64] = []
    var openedAt: [Int64] = []
    var lastEventAt: [Int64] = []
    var resolvedAt: [Int64] = []
    var failedAt: [Int64] = []
    var endedAt: [Int64] = []
    var recoveryMs: [Int64] = []
    var eventCounts: [Int64] = []
    var actions: [String] = []
    var firstSeqs: [Int64] = []
    var lastSeqs: [Int64] = []
    var spanClasses: [Int64] = []

    mutating func append(_ record: IncidentRecord) {
        let null = FleetProjectionWriter.nullMarker
        ids.append(record.id)
        services.append(record.key.service)
        components.append(record.component)
        incidents.append(record.key.byIncident ? record.key.name : "")
        hasIncident.append(record.key.byIncident)
        kinds.append(record.kind)
        titles.append(record.title)
        states.append(record.state.rawValue)
        levels.append(Int64(record.peakLevel.rawValue))
        openedAt.append(record.openedAt)
        lastEventAt.append(record.lastEventAt)
        resolvedAt.append(record.resolvedAt ?? null)
        failedAt.append(record.failedAt ?? null)
        endedAt.append(record.endedAt ?? null)
        recoveryMs.append(record.recoveryMs ?? null)
        eventCounts.append(record.eventCount)
        actions.append(record.actions.json)
        firstSeqs.append(record.firstSeq)
        lastSeqs.append(record.lastSeq)
        spanClasses.append(record.spanClass)
    }

    /// One INSERT of the incidents the batch opened (a plain INSERT: an upsert costs a speculative insertion
    /// per row).
    var insert: PostgresQuery {
        let null = FleetProjectionWriter.nullMarker
        return """
            INSERT INTO fleet_incidents (id, service, component, incident, kind, title, state, peak_level, opened_at,
                last_event_at, resolved_at, failed_at, ended_at, recovery_ms, event_count, actions, first_seq,
                last_seq, span_class)
            SELECT id, service, component, CASE WHEN has_incident THEN incident END, kind, title, state, peak_level,
                opened_at, last_event_at, NULLIF(resolved_at, \(null)), NULLIF(failed_at, \(null)),
                NULLIF(ended_at, \(null)), NULLIF(recovery_ms, \(null)), event_count, actions, first_seq, last_seq,
                span_class
            FROM unnest(\(ids)::bigint[], \(services)::text[], \(components)::text[], \(incidents)::text[],
                \(hasIncident)::boolean[], \(kinds)::text[], \(titles)::text[], \(states)::text[], \(levels)::bigint[],
                \(openedAt)::bigint[], \(lastEventAt)::bigint[], \(resolvedAt)::bigint[], \(failedAt)::bigint[],
                \(endedAt)::bigint[], \(recoveryMs)::bigint[], \(eventCounts)::bigint[], \(actions)::text[],
                \(firstSeqs)::bigint[], \(lastSeqs)::bigint[], \(spanClasses)::bigint[])
                AS u(id, service, component, incident, has_incident, kind, title, state, peak_level, opened_at,
                    last_event_at, resolved_at, failed_at, ended_at, recovery_ms, event_count, actions, first_seq,
                    last_seq, span_class)
            """
    }

    /// One UPDATE of the incidents the batch changed: the columns an event can change.
    var update: PostgresQuery {
        let null = FleetProjectionWriter.nullMarker
        return """
            UPDATE fleet_incidents AS f SET peak_level = u.peak_level, last_event_at = u.last_event_at,
                resolved_at = NULLIF(u.resolved_at, \(null)), failed_at = NULLIF(u.failed_at, \(null)),
                ended_at = NULLIF(u.ended_at, \(null)), recovery_ms = NULLIF(u.recovery_ms, \(null)),
                event_count = u.event_count, actions = u.actions, last_seq = u.last_seq, state = u.state,
                span_class = u.span_class
            FROM unnest(\(ids)::bigint[], \(levels)::bigint[], \(lastEventAt)::bigint[], \(resolvedAt)::bigint[],
                \(failedAt)::bigint[], \(endedAt)::bigint[], \(recoveryMs)::bigint[], \(eventCounts)::bigint[],
                \(actions)::text[], \(lastSeqs)::bigint[], \(states)::text[], \(spanClasses)::bigint[])
                AS u(id, peak_level, last_event_at, resolved_at, failed_at, ended_at, recovery_ms, event_count, actions,
                    last_seq, state, span_class)
            WHERE f.id = u.id
            """
    }
}
