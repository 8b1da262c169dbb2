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
        var stats = Stats.empty(since: since, until: until, asOf: asOf)
        guard since < until else { return stats }
        let parts = Stats.parts(since: since, until: until)
        do {
            try database.read { db in
                if let hours = parts.hours {
                    try Self.addCounters(
                        &stats,
                        firstHour: hours.lowerBound,
                        endHour: hours.upperBound,
                        service: service,
                        db
                    )
                }
                for range in parts.events {
                    try Self.addEvents(&stats, since: range.lowerBound, until: range.upperBound, service: service, db)
                }
                try Self.addIncidents(&stats, service: service, db)
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read the figures")
        }
        stats.recoveryTimes.sort()
        return stats
    }

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
        stats.addCounterSums((0..<4).map { (row[$0] as Int64?) ?? 0 })
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
            stats.addEvents(kind: row[0], count: row[1])
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

extension Stats {
    /// No figures yet over `[since, until)`: every prevent kind of the vocabulary listed at 0.
    package static func empty(since: Int64, until: Int64, asOf: Int64) -> Stats {
        Stats(
            since: since,
            until: until,
            asOf: asOf,
            preventedByKind: Dictionary(uniqueKeysWithValues: preventKinds.map { ($0, 0) })
        )
    }

    /// Where the event figures of `[since, until)` come from: the whole UTC hours (hour numbers, as the counters
    /// rows hold them) from the hourly counters, the parts of the range that do not fill an hour from the events
    /// themselves (at most two ranges of milliseconds, each shorter than an hour).
    package static func parts(since: Int64, until: Int64) -> (hours: Range<Int64>?, events: [Range<Int64>]) {
        guard since < until else { return (nil, []) }
        let hour: Int64 = 3_600_000
        let firstHour = hourOf(since - 1) + 1
        let endHour = hourOf(until)
        guard firstHour < endHour else { return (nil, [since..<until]) }
        let edges = [since..<firstHour * hour, endHour * hour..<until].filter { !$0.isEmpty }
        return (firstHour..<endHour, edges)
    }

    /// Adds the sums of counters rows: events, then the prevent kinds' columns in their order
    /// (`timeout_prevented`, `transition_blocked`, `ratelimit_throttled`).
    package mutating func addCounterSums(_ sums: [Int64]) {
        events += sums[0]
        for (kind, sum) in zip(CounterValues.preventKinds, sums[1...3]) {
            preventedByKind[kind, default: 0] += sum
        }
    }

    /// Adds `count` events of a kind read from the log.
    package mutating func addEvents(kind: String, count: Int64) {
        events += count
        if Self.preventKindSet.contains(kind) { preventedByKind[kind, default: 0] += count }
    }

    /// The prevent kinds of the vocabulary.
    static let preventKinds: [String] = EventKind.vocabulary.filter { $0.role == .prevent }.map(\.name).sorted()
    private static let preventKindSet = Set(preventKinds)
}
