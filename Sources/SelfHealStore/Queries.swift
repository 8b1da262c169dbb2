import Foundation
import GRDB
import SelfHealEvents

/// A filter over stored events.
public struct EventFilter: Sendable {
    /// Events with `ts >= since` (epoch milliseconds).
    public var since: Int64
    /// Events with `ts < until` (epoch milliseconds).
    public var until: Int64
    /// Only this service, when set.
    public var service: String?
    /// Only this kind, when set.
    public var kind: String?
    /// At most this many events (the first ones), when set.
    public var limit: Int?

    /// Creates a filter over `[since, until)`.
    public init(since: Int64, until: Int64, service: String? = nil, kind: String? = nil, limit: Int? = nil) {
        self.since = since
        self.until = until
        self.service = service
        self.kind = kind
        self.limit = limit
    }
}

extension EventStore {
    /// Calls `body` for each stored event with ts in range, in (ts, seq) order, without loading them all.
    public func forEachEvent(_ filter: EventFilter, _ body: (StoredEvent) throws -> Void) throws(StoreError) {
        var sql = "SELECT \(Self.eventColumns) FROM events WHERE ts >= ? AND ts < ?"
        var arguments: StatementArguments = [filter.since, filter.until]
        if let service = filter.service {
            sql += " AND service = ?"
            arguments += [service]
        }
        if let kind = filter.kind {
            sql += " AND kind = ?"
            arguments += [kind]
        }
        sql += " ORDER BY ts, seq"
        if let limit = filter.limit {
            sql += " LIMIT ?"
            arguments += [limit]
        }
        do {
            try database.read { db in
                let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
                while let row = try rows.next() { try body(try Self.storedEvent(row)) }
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read events")
        }
    }

    /// The columns ``storedEvent(_:)`` decodes, in its order.
    static let eventColumns = """
        seq, ts, received_at, service, component, kind, level, message, incident, event_id, attrs, peer_uid, peer_pid
        """

    /// Decodes one row of the events table; a row that does not decode is an error naming its seq.
    static func storedEvent(_ row: Row) throws -> StoredEvent {
        let seq: Int64 = row[0]
        let kindName: String = row[5]
        let levelName: String = row[6]
        guard let kind = EventKind(name: kindName) else {
            throw StoreError("event \(seq) has unknown kind \(kindName)")
        }
        guard let level = EventLevel(name: levelName) else {
            throw StoreError("event \(seq) has unknown level \(levelName)")
        }
        let timestamp: Int64 = row[1]
        let uid: Int64? = row[11]
        let pid: Int64? = row[12]
        let event = Event(
            service: row[3],
            kind: kind,
            component: row[4],
            timestamp: timestamp,
            level: level,
            message: row[7],
            incident: row[8],
            id: row[9],
            attributesJSON: row[10]
        )
        var peer: Peer?
        if let uid, let pid { peer = Peer(uid: UInt32(truncatingIfNeeded: uid), pid: Int32(truncatingIfNeeded: pid)) }
        return StoredEvent(seq: seq, timestamp: timestamp, receivedAt: row[2], event: event, peer: peer)
    }

    /// Calls `body` for each rejected line received in `[since, until)`, oldest first.
    public func forEachReject(since: Int64, until: Int64, _ body: (RejectedLine) throws -> Void) throws(StoreError) {
        do {
            try database.read { db in
                let rows = try Row.fetchCursor(
                    db,
                    sql: """
                        SELECT received_at, line, error, raw, peer_uid, peer_pid FROM rejects
                        WHERE received_at >= ? AND received_at < ? ORDER BY received_at, id
                        """,
                    arguments: [since, until]
                )
                while let row = try rows.next() {
                    let raw: Data = row[3]
                    let uid: Int64? = row[4]
                    let pid: Int64? = row[5]
                    var peer: Peer?
                    if let uid, let pid {
                        peer = Peer(uid: UInt32(truncatingIfNeeded: uid), pid: Int32(truncatingIfNeeded: pid))
                    }
                    try body(
                        RejectedLine(receivedAt: row[0], line: row[1], error: row[2], raw: Array(raw), peer: peer)
                    )
                }
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read rejected lines")
        }
    }
}
