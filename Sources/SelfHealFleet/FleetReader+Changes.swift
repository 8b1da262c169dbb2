import PostgresNIO
import SelfHealStore

/// What the central projector changed since the last look, for the HTTP API's stream over the fleet (the local
/// daemon learns it from its commits; `central --http` polls): the incidents it opened, changed or ended.
///
/// Only an active incident (the store holds it with no end) takes events or ends, and new incidents get ids above
/// every earlier one; so a look reads the incidents with an id above the last seen and those that were active,
/// by primary key, never the whole table.
public struct FleetChanges: Sendable {
    /// The fleet_seq the projections had applied at the last look.
    public private(set) var applied: Int64
    private var highestID: Int64
    private var active: [Int64]

    /// The state of the fleet now: a later ``poll(_:)`` reports what changed after it.
    public init(_ reader: FleetReader) throws(StoreError) {
        (applied, highestID, active) = try reader.read("cannot read the fleet's incidents") { session in
            let applied = try Self.applied(session)
            let highest =
                try session.query("SELECT max(id) FROM fleet_incidents").first?.decode(Int64?.self) ?? nil
            let active = try session.query("SELECT id FROM fleet_incidents WHERE ended_at IS NULL ORDER BY id")
                .map { try $0.decode(Int64.self) }
            return (applied, highest ?? 0, active)
        }
    }

    /// Looks again: the fleet_seq applied now, and the ids of the incidents opened, changed or ended since the
    /// last look, ascending.
    public mutating func poll(_ reader: FleetReader) throws(StoreError) -> (applied: Int64, changed: [Int64]) {
        let (before, highestID, active) = (applied, highestID, active)
        let (now, rows) = try reader.read("cannot read the fleet's incidents") { session in
            let now = try Self.applied(session)
            guard now != before else { return (now, [(id: Int64, lastSeq: Int64, isActive: Bool)]()) }
            var bindings = PostgresBindings()
            bindings.append(highestID)
            bindings.append(active)
            let rows = try session.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT id, last_seq, ended_at IS NULL FROM fleet_incidents
                        WHERE id > $1 OR id = ANY($2) ORDER BY id
                        """,
                    binds: bindings
                )
            )
            return (now, try rows.map { row in try row.decode((Int64, Int64, Bool).self) }.map { ($0, $1, $2) })
        }
        guard now != before else { return (now, []) }
        let changed = rows.filter { $0.id > highestID || $0.lastSeq > before || !$0.isActive }.map(\.id)
        applied = now
        self.highestID = max(highestID, rows.last?.id ?? 0)
        self.active = rows.filter(\.isActive).map(\.id)
        return (now, changed)
    }

    private static func applied(_ session: FleetSession) throws -> Int64 {
        try session.query("SELECT last_fleet_seq FROM fleet_projection_state WHERE id = 1").first?.decode(Int64.self)
            ?? 0
    }
}
