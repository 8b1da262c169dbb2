import GRDB
import SelfHealEvents

extension EventStore {
    /// The figures of SPEC section 5 over `[since, until)` as of `asOf`, for one service or all.
    ///
    /// Events and prevented events: whole UTC hours from the hourly counters, the parts of the range that do not
    /// fill an hour from the events themselves (at most two hours' worth). Incidents: those opened in range,
    /// from the index on opening time, which holds each one's state, recovery time and end; only those the
    /// store holds active need their last event's time, for the quiet rule.
    public func stats(since: Int64, until: Int64, service: String? = nil, asOf: Int64) throws(StoreError) -> Stats {
        var stats = Stats(
            since: since,
            until: until,
            asOf: asOf,
            preventedByKind: Dictionary(uniqueKeysWithValues: Self.preventKinds.map { ($0, 0) })
        )
        guard since < until else { return stats }
        let hour: Int64 = 3_600_000
        let firstHour = hourOf(since - 1) + 1
        let endHour = hourOf(until)
        do {
            try database.read { db in
                if firstHour < endHour {
                    try Self.addCounters(&stats, firstHour: firstHour, endHour: endHour, service: service, db)
                    try Self.addEvents(&stats, since: since, until: firstHour * hour, service: service, db)
                    try Self.addEvents(&stats, since: endHour * hour, until: until, service: service, db)
                } else {
                    try Self.addEvents(&stats, since: since, until: until, service: service, db)
                }
                try Self.addIncidents(&stats, service: service, db)
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
            SELECT sum(events), sum(timeout_prevented), sum(transition_blocked), sum(ratelimit_throttled)
            FROM counters WHERE hour >= ? AND hour < ?
            """
        var arguments: StatementArguments = [firstHour, endHour]
        if let service {
            sql += " AND service = ?"
            arguments += [service]
        }
        guard let row = try Row.fetchOne(db, sql: sql, arguments: arguments) else { return }
        let sums: [Int64] = (0..<4).map { (row[$0] as Int64?) ?? 0 }
        stats.events += sums[0]
        for (kind, sum) in zip(CounterValues.preventKinds, sums[1...3]) {
            stats.preventedByKind[kind, default: 0] += sum
        }
    }

    /// Adds the events of a part of a range shorter than the hours around it, from the events themselves.
    private static func addEvents(
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
    }

    /// Counts the incidents opened in range by the state a read as of `stats.asOf` shows.
    ///
    /// The scan reads the opening-time index only (it holds each one's state, service and recovery time); the
    /// few that the store holds open or expired need their row, for the quiet rule.
    private static func addIncidents(_ stats: inout Stats, service: String?, _ db: Database) throws {
        let quietPeriod = try quietPeriod(db)
        let statement = try FastStatement(
            db,
            sql: """
                SELECT state, recovery_ms, id FROM incidents INDEXED BY incidents_by_opened_at
                WHERE opened_at >= ?1 AND opened_at < ?2\(service == nil ? "" : " AND service = ?3")
                """
        )
        statement.bind(1, stats.since)
        statement.bind(2, stats.until)
        if let service { statement.bind(3, service) }
        let row = try FastStatement(db, sql: "SELECT last_event_at, ended_at FROM incidents WHERE id = ?1")
        stats.recoveryTimes.reserveCapacity(1_024)
        while try statement.step() {
            guard let state = statement.state(0) else {
                throw StoreError("incident \(statement.int64(2)) has an unknown state")
            }
            switch state {
            case .resolved, .failed:
                stats.count(state, recoveryMs: statement.optionalInt64(1))
            case .expired, .open:
                row.bind(1, statement.int64(2))
                var (last, endedAt) = (Int64.min, Int64.min)
                if try row.step() { (last, endedAt) = (row.int64(0), row.optionalInt64(1) ?? .min) }
                while try row.step() {}
                if state == .expired {
                    // Ended by a later event at last_event_at + Q: a read as of an earlier time still shows it open.
                    stats.count(endedAt <= stats.asOf ? .expired : .open, recoveryMs: nil)
                } else {
                    stats.count(last + quietPeriod <= stats.asOf ? .expired : .open, recoveryMs: nil)
                }
            }
        }
    }
}
