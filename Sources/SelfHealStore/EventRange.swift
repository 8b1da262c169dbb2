import GRDB
import SelfHealEvents

extension EventStore {
    /// The events with seq after `after`, at most `limit`, in seq order, every column (what the fleet's forwarder
    /// ships). A row that does not decode is an error naming its seq.
    public func events(after: Int64, limit: Int) throws(StoreError) -> [StoredEvent] {
        do {
            return try database.read { db in
                let statement = try FastStatement(
                    db,
                    sql: "SELECT \(Self.eventColumns) FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2"
                )
                statement.bind(1, after)
                statement.bind(2, Int64(limit))
                var events: [StoredEvent] = []
                events.reserveCapacity(min(limit, 20_000))
                var kinds = EventKindCache()
                while try statement.step() {
                    events.append(try Self.rangeEvent(statement, kinds: &kinds))
                }
                return events
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read events")
        }
    }

    /// The receive time of the event with this seq; nil when there is none.
    public func receivedAt(seq: Int64) throws(StoreError) -> Int64? {
        do {
            return try database.read { db in
                try Int64.fetchOne(db, sql: "SELECT received_at FROM events WHERE seq = ?", arguments: [seq])
            }
        } catch {
            throw StoreError.wrapping(error, "cannot read events")
        }
    }

    /// Decodes the current row of a statement over ``eventColumns``.
    private static func rangeEvent(_ statement: FastStatement, kinds: inout EventKindCache) throws -> StoredEvent {
        let seq = statement.int64(0)
        let kind = try kinds.kind(statement.string(5), seq: seq)
        let level = try kinds.level(statement.string(6), seq: seq)
        let timestamp = statement.int64(1)
        let event = Event(
            service: statement.string(3),
            kind: kind,
            component: statement.string(4),
            timestamp: timestamp,
            level: level,
            message: statement.optionalString(7),
            incident: statement.optionalString(8),
            id: statement.optionalString(9),
            attributesJSON: statement.optionalString(10)
        )
        var peer: Peer?
        if let uid = statement.optionalInt64(11), let pid = statement.optionalInt64(12) {
            peer = Peer(uid: UInt32(truncatingIfNeeded: uid), pid: Int32(truncatingIfNeeded: pid))
        }
        return StoredEvent(seq: seq, timestamp: timestamp, receivedAt: statement.int64(2), event: event, peer: peer)
    }
}
