import GRDB
import SelfHealEvents

extension EventStore {
    /// Calls `body` for each incident whose life overlaps the range as of `filter.asOf` (`opened_at < until`
    /// and `ended_at` null or `>= since`) and passes the filter, ordered by `opened_at`, then `id`.
    public func forEachIncident(_ filter: IncidentFilter, _ body: (Incident) throws -> Void) throws(StoreError) {
        var conditions = ""
        if filter.service != nil { conditions += " AND service = ?5" }
        if filter.minimumLevel != nil { conditions += " AND peak_level >= ?6" }
        do {
            try database.read { db in
                let quietPeriod = try Self.quietPeriod(db)
                // A non-resolved incident overlaps when the read shows it active (last_event_at + Q > as_of) or
                // ended at or after since: last_event_at + Q >= min(since, as_of + 1).
                let quietSince = min(filter.since, filter.asOf == .max ? .max : filter.asOf + 1)
                // An incident that the store ended after at most a class's bound overlaps the range only if
                // opened at most that bound before it (and the end a read shows is never before the store's).
                // Classes 0-2 come from one range of the opening-time index, which holds the class, so those
                // that cannot reach the range cost no table lookup. Class 3 (not ended, or longer than a day)
                // comes from its own small index. Both are in opening order; merge them.
                let reach = min(filter.since, quietSince)
                let bounds = IncidentRecord.spanBounds.map { max(Timestamp.minimum - 1, reach - $0) }
                let queries: [(index: String, classes: String, lowest: Int64, classBounds: Bool)] = [
                    (
                        "incidents_by_opened_at",
                        "(span_class = 0 AND opened_at >= ?7 OR span_class = 1 AND opened_at >= ?8 OR span_class = 2)",
                        bounds[2], true
                    ),
                    ("incidents_long", "span_class = 3", Timestamp.minimum - 1, false),
                ]
                var streams: [IncidentStream] = []
                for query in queries {
                    let statement = try FastStatement(
                        db,
                        sql: """
                            SELECT \(IncidentColumns.list) FROM incidents INDEXED BY \(query.index)
                            WHERE opened_at >= ?1 AND opened_at < ?2 AND \(query.classes)
                                AND (resolved_at >= ?3 OR resolved_at IS NULL AND last_event_at >= ?4 - ?9)\(conditions)
                            ORDER BY opened_at
                            """
                    )
                    statement.bind(1, query.lowest)
                    statement.bind(2, filter.until)
                    statement.bind(3, filter.since)
                    statement.bind(4, quietSince)
                    if let service = filter.service { statement.bind(5, service) }
                    if let level = filter.minimumLevel { statement.bind(6, Int64(level.rawValue)) }
                    if query.classBounds {
                        statement.bind(7, bounds[0])
                        statement.bind(8, bounds[1])
                    }
                    statement.bind(9, quietPeriod)
                    streams.append(try IncidentStream(statement))
                }
                while let record = try IncidentStream.popFirst(&streams) {
                    let incident = record.shown(asOf: filter.asOf, quietPeriod: quietPeriod)
                    if let state = filter.state, incident.state != state { continue }
                    try body(incident)
                }
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read incidents")
        }
    }

    /// One incident by id, as of a time; nil when there is none.
    public func incident(id: Int64, asOf: Int64) throws(StoreError) -> Incident? {
        do {
            return try database.read { db in
                let statement = try FastStatement(
                    db,
                    sql: "SELECT \(IncidentColumns.list) FROM incidents WHERE id = ?1"
                )
                statement.bind(1, id)
                guard try statement.step() else { return nil }
                let record = try IncidentColumns.record(statement)
                while try statement.step() {}
                return record.shown(asOf: asOf, quietPeriod: try Self.quietPeriod(db))
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read incident \(id)")
        }
    }

    /// The events of an incident, in seq order: those of its key, with a role that drives incidents, from its
    /// first seq to its last (its key had no other active incident meanwhile).
    public func events(of incident: Incident) throws(StoreError) -> [StoredEvent] {
        let keyCondition = incident.incident == nil ? "incident IS NULL AND component = ?4" : "incident = ?4"
        var events: [StoredEvent] = []
        do {
            try database.read { db in
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT \(Self.eventColumns) FROM events
                        WHERE seq >= ?1 AND seq <= ?2 AND service = ?3 AND \(keyCondition) ORDER BY seq
                        """,
                    arguments: [
                        incident.firstSeq, incident.lastSeq, incident.service, incident.incident ?? incident.component,
                    ]
                )
                while let row = try rows.next() {
                    let event = try Self.storedEvent(row)
                    if event.event.kind.joinsIncidents { events.append(event) }
                }
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read the events of incident \(incident.id)")
        }
        return events
    }

    /// Every incident by id, as of a time (for tests and checks).
    public func allIncidents(asOf: Int64) throws(StoreError) -> [Incident] {
        do {
            return try database.read { db in
                let quietPeriod = try Self.quietPeriod(db)
                let statement = try FastStatement(db, sql: "SELECT \(IncidentColumns.list) FROM incidents ORDER BY id")
                var incidents: [Incident] = []
                while try statement.step() {
                    incidents.append(try IncidentColumns.record(statement).shown(asOf: asOf, quietPeriod: quietPeriod))
                }
                return incidents
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read incidents")
        }
    }
}

/// Incidents from statements in (opened_at, id) order, when each statement gives them by opened_at only: the
/// incidents opened at the same millisecond are read together and sorted by id.
private struct IncidentStream {
    private let statement: FastStatement
    /// The current group, last first.
    private var group: [IncidentRecord] = []
    /// The first incident of the next group.
    private var lookahead: IncidentRecord?

    init(_ statement: FastStatement) throws {
        self.statement = statement
        lookahead = try statement.step() ? try IncidentColumns.record(statement) : nil
        try refill()
    }

    /// The next incident, without taking it.
    var head: IncidentRecord? { group.last }

    /// Takes the next incident.
    mutating func pop() throws -> IncidentRecord? {
        let record = group.popLast()
        if group.isEmpty { try refill() }
        return record
    }

    /// Takes the first incident of several streams in (opened_at, id) order.
    static func popFirst(_ streams: inout [IncidentStream]) throws -> IncidentRecord? {
        var next: Int?
        for index in streams.indices {
            guard let head = streams[index].head else { continue }
            if let best = next, let current = streams[best].head,
                (current.openedAt, current.id) <= (head.openedAt, head.id)
            {
                continue
            }
            next = index
        }
        guard let index = next else { return nil }
        return try streams[index].pop()
    }

    private mutating func refill() throws {
        guard let first = lookahead else { return }
        group = [first]
        lookahead = nil
        while try statement.step() {
            let record = try IncidentColumns.record(statement)
            guard record.openedAt == first.openedAt else {
                lookahead = record
                break
            }
            group.append(record)
        }
        if group.count > 1 { group.sort { $0.id > $1.id } }
    }
}
