import GRDB
import SelfHealEvents

extension EventStore {
    /// Calls `body` for each incident whose life overlaps the range (`opened_at < until` and `resolved_at`
    /// null or `>= since`) and passes the filter, ordered by `opened_at`, then `id`.
    public func forEachIncident(_ filter: IncidentFilter, _ body: (Incident) throws -> Void) throws(StoreError) {
        var conditions = ""
        if filter.service != nil { conditions += " AND service = ?4" }
        if filter.state != nil { conditions += " AND state = ?5" }
        if filter.minimumLevel != nil { conditions += " AND peak_level >= ?6" }
        do {
            try database.read { db in
                // An incident that lasts at most a class's bound overlaps the range only if opened at most that
                // bound before it. Classes 0-2 come from one range of the opening-time index, which holds the
                // class, so the incidents of the day before the range that cannot reach it cost no table lookup.
                // Class 3 (active or longer than a day) comes from its own small index. Both are in opening
                // order; merge them.
                let bounds = IncidentRecord.spanBounds.map { max(Timestamp.minimum - 1, filter.since - $0) }
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
                                AND (resolved_at IS NULL OR resolved_at >= ?3)\(conditions)
                            ORDER BY opened_at
                            """
                    )
                    statement.bind(1, query.lowest)
                    statement.bind(2, filter.until)
                    statement.bind(3, filter.since)
                    if let service = filter.service { statement.bind(4, service) }
                    if let state = filter.state { statement.bind(5, state.rawValue) }
                    if let level = filter.minimumLevel { statement.bind(6, Int64(level.rawValue)) }
                    if query.classBounds {
                        statement.bind(7, bounds[0])
                        statement.bind(8, bounds[1])
                    }
                    streams.append(try IncidentStream(statement))
                }
                while true {
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
                    guard let index = next, let record = try streams[index].pop() else { break }
                    try body(record.incident)
                }
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read incidents")
        }
    }

    /// The incidents ``forEachIncident(_:_:)`` lists.
    public func incidents(_ filter: IncidentFilter) throws(StoreError) -> [Incident] {
        var incidents: [Incident] = []
        try forEachIncident(filter) { incidents.append($0) }
        return incidents
    }

    /// Every incident, by id (for tests and checks).
    public func allIncidents() throws(StoreError) -> [Incident] {
        do {
            return try database.read { db in
                let rows = try Row.fetchCursor(db, sql: "SELECT \(IncidentColumns.list) FROM incidents ORDER BY id")
                var incidents: [Incident] = []
                while let row = try rows.next() { incidents.append(try IncidentColumns.record(row).incident) }
                return incidents
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read incidents")
        }
    }

    /// The figures of SPEC section 5 over `[since, until)`, for one service or all.
    ///
    /// Whole UTC hours come from the hourly counters; the parts of a range that do not fill an hour are
    /// counted from the events and incidents themselves (at most two hours' worth); recovery percentiles come
    /// from the resolved incidents' recovery times (an index on opening time holds them).
    public func stats(since: Int64, until: Int64, service: String? = nil) throws(StoreError) -> Stats {
        var stats = Stats(
            since: since,
            until: until,
            events: 0,
            preventedByKind: Dictionary(uniqueKeysWithValues: Self.preventKinds.map { ($0, 0) }),
            resolved: 0,
            failed: 0,
            open: 0,
            recoveryTimes: []
        )
        guard since < until else { return stats }
        let hour: Int64 = 3_600_000
        let firstHour = hourOf(since - 1) + 1
        let endHour = hourOf(until)
        do {
            try database.read { db in
                if firstHour < endHour {
                    try Self.addCounters(&stats, firstHour: firstHour, endHour: endHour, service: service, db)
                    try Self.addRaw(&stats, since: since, until: firstHour * hour, service: service, db)
                    try Self.addRaw(&stats, since: endHour * hour, until: until, service: service, db)
                } else {
                    try Self.addRaw(&stats, since: since, until: until, service: service, db)
                }
                var sql = """
                    SELECT recovery_ms FROM incidents INDEXED BY incidents_by_opened_at
                    WHERE opened_at >= ? AND opened_at < ? AND state = 'resolved'
                    """
                var arguments: StatementArguments = [since, until]
                if let service {
                    sql += " AND service = ?"
                    arguments += [service]
                }
                stats.recoveryTimes = try Int64.fetchAll(db, sql: sql, arguments: arguments)
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read the figures")
        }
        stats.recoveryTimes.sort()
        return stats
    }

    /// The prevent kinds of the vocabulary.
    static let preventKinds: [String] = EventKind.vocabulary.filter { $0.role == .prevent }.map(\.name).sorted()
    private static let preventKindSet = Set(preventKinds)

    private static func addCounters(
        _ stats: inout Stats,
        firstHour: Int64,
        endHour: Int64,
        service: String?,
        _ db: Database
    ) throws {
        var sql = """
            SELECT sum(events), sum(timeout_prevented), sum(transition_blocked), sum(ratelimit_throttled),
                   sum(incidents_open), sum(incidents_resolved), sum(incidents_failed)
            FROM counters WHERE hour >= ? AND hour < ?
            """
        var arguments: StatementArguments = [firstHour, endHour]
        if let service {
            sql += " AND service = ?"
            arguments += [service]
        }
        guard let row = try Row.fetchOne(db, sql: sql, arguments: arguments) else { return }
        let sums: [Int64] = (0..<7).map { (row[$0] as Int64?) ?? 0 }
        stats.events += sums[0]
        for (kind, sum) in zip(CounterValues.preventKinds, sums[1...3]) {
            stats.preventedByKind[kind, default: 0] += sum
        }
        stats.open += sums[4]
        stats.resolved += sums[5]
        stats.failed += sums[6]
    }

    /// Adds a part of a range shorter than the hours around it, from the events and incidents themselves.
    private static func addRaw(
        _ stats: inout Stats,
        since: Int64,
        until: Int64,
        service: String?,
        _ db: Database
    )
        throws
    {
        guard since < until else { return }
        let serviceCondition = service == nil ? "" : " AND service = ?"
        var arguments: StatementArguments = [since, until]
        if let service { arguments += [service] }
        let events = try Row.fetchCursor(
            db,
            sql: "SELECT kind, count(*) FROM events WHERE ts >= ? AND ts < ?\(serviceCondition) GROUP BY kind",
            arguments: arguments
        )
        while let row = try events.next() {
            let kind: String = row[0]
            let count: Int64 = row[1]
            stats.events += count
            if preventKindSet.contains(kind) { stats.preventedByKind[kind, default: 0] += count }
        }
        let incidents = try Row.fetchCursor(
            db,
            sql: """
                SELECT state, count(*) FROM incidents INDEXED BY incidents_by_opened_at
                WHERE opened_at >= ? AND opened_at < ?\(serviceCondition)
                GROUP BY state
                """,
            arguments: arguments
        )
        while let row = try incidents.next() {
            let count: Int64 = row[1]
            switch IncidentState(rawValue: row[0]) {
            case .open: stats.open += count
            case .resolved: stats.resolved += count
            case .failed: stats.failed += count
            case nil: throw StoreError("an incident has an unknown state")
            }
        }
    }

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
        var kinds: [String: EventKind] = [:]
        while try statement.step() {
            let seq = statement.int64(0)
            let kindName = statement.string(4)
            let kind: EventKind
            if let known = kinds[kindName] {
                kind = known
            } else {
                guard let parsed = EventKind(name: kindName) else {
                    throw StoreError("event \(seq) has unknown kind \(kindName)")
                }
                kinds[kindName] = parsed
                kind = parsed
            }
            let levelName = statement.string(5)
            guard let level = EventLevel(name: levelName) else {
                throw StoreError("event \(seq) has unknown level \(levelName)")
            }
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

/// Incidents from one statement in (opened_at, id) order, when the statement gives them by opened_at only: the
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
