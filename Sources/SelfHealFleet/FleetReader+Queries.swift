import PostgresNIO
import SelfHealEvents
import SelfHealStore

// The reads of the query API in SQL over the central schema (schema/postgresql/). What is not SQL (the quiet
// rule, the figures' arithmetic, which events an incident shows) is the local store's own code.

extension FleetReader {
    /// Calls `body` for each event of the central log with ts in range, in (ts, fleet_seq) order, a page at a
    /// time; each has its `fleet_seq` as seq and its host.
    public func forEachEvent(_ filter: EventFilter, _ body: (StoredEvent) throws -> Void) throws(StoreError) {
        try read("cannot read events") { session in
            var remaining = filter.limit ?? .max
            // (ts, fleet_seq) order, by pages after the last row seen (fleet_seq is at least 1).
            var after = (ts: filter.since, seq: Int64(0))
            while remaining > 0 {
                var sql = SQLBuilder(
                    "SELECT \(unescaped: Self.eventColumns) FROM fleet_events WHERE ts >= \(filter.since) AND ts < \(filter.until)"
                )
                sql.add(" AND ts >= ", after.ts)
                sql.add(" AND (ts, fleet_seq) > (", after.ts)
                sql.add(", ", after.seq)
                sql.add(")")
                if let service = filter.service { sql.add(" AND service = ", service) }
                if let kind = filter.kind { sql.add(" AND kind = ", kind) }
                let page = min(remaining, pageSize)
                sql.add(" ORDER BY ts, fleet_seq LIMIT ", Int64(page))
                let rows = try session.query(sql.query)
                for row in rows {
                    let event = try Self.storedEvent(row)
                    try body(event)
                    after = (event.timestamp, event.seq)
                }
                remaining -= rows.count
                if rows.count < page { break }
            }
        }
    }

    /// The fleet keeps no rejected lines (each host keeps its own): none.
    public func forEachReject(
        since: Int64,
        until: Int64,
        _ body: (RejectedLine) throws -> Void
    ) throws(StoreError) {}

    /// The figures of SPEC section 5 over `[since, until)` as of `asOf`: whole hours from `fleet_counters`, the rest
    /// from `fleet_events`, incidents from `fleet_incidents` by the state the quiet rule shows as of `asOf`.
    public func stats(since: Int64, until: Int64, service: String? = nil, asOf: Int64) throws(StoreError) -> Stats {
        var stats = Stats.empty(since: since, until: until, asOf: asOf)
        guard since < until else { return stats }
        let parts = Stats.parts(since: since, until: until)
        try read("cannot read the figures") { session in
            let quietPeriod = try Self.quietPeriod(session)
            if let hours = parts.hours {
                var sql = SQLBuilder(
                    """
                    SELECT coalesce(sum(events), 0)::bigint, coalesce(sum(timeout_prevented), 0)::bigint,
                        coalesce(sum(transition_blocked), 0)::bigint, coalesce(sum(ratelimit_throttled), 0)::bigint
                    FROM fleet_counters WHERE hour >= \(hours.lowerBound) AND hour < \(hours.upperBound)
                    """
                )
                if let service { sql.add(" AND service = ", service) }
                for row in try session.query(sql.query) {
                    let cells = row.makeRandomAccess()
                    stats.addCounterSums(try (0..<4).map { try cells[$0].decode(Int64.self) })
                }
            }
            for range in parts.events {
                var sql = SQLBuilder(
                    """
                    SELECT kind, count(*)::bigint FROM fleet_events
                    WHERE ts >= \(range.lowerBound) AND ts < \(range.upperBound)
                    """
                )
                if let service { sql.add(" AND service = ", service) }
                sql.add(" GROUP BY kind")
                for row in try session.query(sql.query) {
                    let (kind, count) = try row.decode((String, Int64).self)
                    stats.addEvents(kind: kind, count: count)
                }
            }
            var sql = SQLBuilder(
                """
                SELECT id, state, resolved_at, last_event_at, recovery_ms FROM fleet_incidents
                WHERE opened_at >= \(since) AND opened_at < \(until)
                """
            )
            if let service { sql.add(" AND service = ", service) }
            for row in try session.query(sql.query) {
                let (id, stateName, resolvedAt, lastEventAt, recoveryMs) = try row.decode(
                    (Int64, String, Int64?, Int64, Int64?).self
                )
                guard let state = IncidentState(rawValue: stateName) else {
                    throw StoreError("fleet incident \(id) has an unknown state \(stateName)")
                }
                let shown = IncidentRecord.shown(
                    state: state,
                    resolvedAt: resolvedAt,
                    lastEventAt: lastEventAt,
                    asOf: asOf,
                    quietPeriod: quietPeriod
                )
                stats.count(shown.state, recoveryMs: recoveryMs)
            }
        }
        stats.recoveryTimes.sort()
        return stats
    }

    /// Calls `body` for each fleet incident whose life overlaps the range as of `filter.asOf` and passes the filter,
    /// ordered by `opened_at`, then `id`, a page at a time.
    public func forEachIncident(_ filter: IncidentFilter, _ body: (Incident) throws -> Void) throws(StoreError) {
        try read("cannot read incidents") { session in
            let quietPeriod = try Self.quietPeriod(session)
            // A non-resolved incident overlaps when the read shows it active (last_event_at + Q > as_of) or ended
            // at or after since: last_event_at + Q >= min(since, as_of + 1) (as the local store reads it).
            let quietSince = min(filter.since, filter.asOf == .max ? .max : filter.asOf + 1)
            let (lastEventSince, overflow) = quietSince.subtractingReportingOverflow(quietPeriod)
            // As the local store bounds its scan: an incident the store ended within a span class's bound overlaps
            // the range only if opened at most that bound before it; class 3 (longer, or not ended) from its own
            // index. The span_class column is the local store's definition (IncidentRecord.spanClass).
            let reach = min(filter.since, quietSince)
            let bounds = IncidentRecord.spanBounds.map { bound in
                let (lowest, overflow) = reach.subtractingReportingOverflow(bound)
                return overflow ? Int64.min : lowest
            }
            var after = (openedAt: Int64.min, id: Int64.min)
            while true {
                var sql = SQLBuilder(
                    """
                    SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents
                    WHERE opened_at < \(filter.until)
                        AND (opened_at >= \(bounds[2]) AND (span_class = 0 AND opened_at >= \(bounds[0])
                                OR span_class = 1 AND opened_at >= \(bounds[1]) OR span_class = 2)
                            OR span_class = 3)
                        AND (resolved_at >= \(filter.since)
                            OR resolved_at IS NULL AND last_event_at >= \(overflow ? Int64.min : lastEventSince))
                    """
                )
                sql.add(" AND opened_at >= ", after.openedAt)
                sql.add(" AND (opened_at, id) > (", after.openedAt)
                sql.add(", ", after.id)
                sql.add(")")
                if let service = filter.service { sql.add(" AND service = ", service) }
                if let level = filter.minimumLevel { sql.add(" AND peak_level >= ", Int64(level.rawValue)) }
                sql.add(" ORDER BY opened_at, id LIMIT ", Int64(pageSize))
                let rows = try session.query(sql.query)
                for row in rows {
                    let incident = try FleetRows.incident(row).shown(asOf: filter.asOf, quietPeriod: quietPeriod)
                    after = (incident.openedAt, incident.id)
                    if let state = filter.state, incident.state != state { continue }
                    try body(incident)
                }
                if rows.count < pageSize { break }
            }
        }
    }

    /// One fleet incident by id, as of a time; nil when there is none.
    public func incident(id: Int64, asOf: Int64) throws(StoreError) -> Incident? {
        try read("cannot read incident \(id)") { session in
            let rows = try session.query(
                "SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents WHERE id = \(id)"
            )
            guard let row = rows.first else { return nil }
            return try FleetRows.incident(row).shown(asOf: asOf, quietPeriod: try Self.quietPeriod(session))
        }
    }

    /// The events of a fleet incident, in fleet_seq order: those of its key with a role that joins incidents,
    /// from its first fleet_seq to its last.
    public func events(of incident: Incident) throws(StoreError) -> [StoredEvent] {
        try read("cannot read the events of incident \(incident.id)") { session in
            var sql = SQLBuilder(
                """
                SELECT \(unescaped: Self.eventColumns) FROM fleet_events
                WHERE fleet_seq >= \(incident.firstSeq) AND fleet_seq <= \(incident.lastSeq)
                """
            )
            sql.add(" AND service = ", incident.service)
            if let key = incident.incident {
                sql.add(" AND incident = ", key)
            } else {
                sql.add(" AND incident IS NULL AND component = ", incident.component)
            }
            sql.add(" ORDER BY fleet_seq")
            return try session.query(sql.query).map(Self.storedEvent).filter(\.event.kind.joinsIncidents)
        }
    }

    /// Every fleet incident by id, as of a time.
    public func allIncidents(asOf: Int64) throws(StoreError) -> [Incident] {
        try read("cannot read incidents") { session in
            let quietPeriod = try Self.quietPeriod(session)
            var incidents: [Incident] = []
            var after = Int64.min
            while true {
                let rows = try session.query(
                    """
                    SELECT \(unescaped: FleetRows.incidentColumns) FROM fleet_incidents WHERE id > \(after)
                    ORDER BY id LIMIT \(Int64(pageSize))
                    """
                )
                for row in rows {
                    let incident = try FleetRows.incident(row).shown(asOf: asOf, quietPeriod: quietPeriod)
                    after = incident.id
                    incidents.append(incident)
                }
                if rows.count < pageSize { return incidents }
            }
        }
    }

    /// The fleet's quiet period (`fleet_settings`), milliseconds.
    public func quietPeriod() throws(StoreError) -> Int64 {
        try read("cannot read the quiet period") { session in try Self.quietPeriod(session) }
    }

    /// How far the fleet's projections are behind its log: the fleet_seq the central projector has applied and the
    /// log's last fleet_seq.
    public func projectionProgress() throws(StoreError) -> (applied: Int64, logEnd: Int64) {
        try read("cannot read the central log") { session in
            let rows = try session.query(
                """
                SELECT (SELECT last_fleet_seq FROM fleet_projection_state WHERE id = 1),
                    (SELECT last_fleet_seq FROM fleet_head WHERE id = 1)
                """
            )
            guard let row = rows.first else { return (0, 0) }
            let (applied, end) = try row.decode((Int64?, Int64?).self)
            return (applied ?? 0, end ?? 0)
        }
    }

    /// The last `fleet_seq` of the central log; 0 when it is empty.
    public func lastSeq() throws(StoreError) -> Int64 {
        try read("cannot read the central log") { session in
            try session.query("SELECT last_fleet_seq FROM fleet_head WHERE id = 1").first?.decode(Int64.self) ?? 0
        }
    }

    /// The fleet's log has a hash chain per host (`fleet_links`), not one head: nil.
    public func chainHead() throws(StoreError) -> ChainHead? { nil }

    static func quietPeriod(_ session: FleetSession) throws -> Int64 {
        try session.query("SELECT quiet_period_ms FROM fleet_settings WHERE id = 1").first?.decode(Int64.self)
            ?? QuietPeriod.defaultMilliseconds
    }

    /// The columns ``storedEvent(_:)`` decodes.
    static let eventColumns = FleetRows.allColumns

    /// An event of the central log as a read shows it: its seq is its `fleet_seq`, its host the host that
    /// forwarded it.
    static func storedEvent(_ row: PostgresRow) throws -> StoredEvent {
        var decoder = FleetRows.ProjectionDecoder()
        var (fleetSeq, event) = try FleetRows.fullEvent(row, decoder: &decoder)
        event.seq = fleetSeq
        return event
    }
}

/// A query built in parts: SQL text, and values bound as parameters (`$1`, `$2`...) where they go.
struct SQLBuilder {
    private var sql: String
    private var bindings: PostgresBindings

    /// Starts from a query whose interpolated values are bound (``PostgresQuery``'s interpolation).
    init(_ start: PostgresQuery) {
        sql = start.sql
        bindings = start.binds
    }

    /// Appends SQL text.
    mutating func add(_ text: String) { sql += text }

    /// Appends SQL text, then a value bound as the next parameter.
    mutating func add(_ text: String, _ value: Int64) {
        bindings.append(value)
        sql += "\(text)$\(bindings.count)"
    }

    /// Appends SQL text, then a value bound as the next parameter.
    mutating func add(_ text: String, _ value: String) {
        bindings.append(value)
        sql += "\(text)$\(bindings.count)"
    }

    /// The query built.
    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: bindings) }
}
