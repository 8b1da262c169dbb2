import Logging
import PostgresNIO
import SelfHealEvents
import SelfHealStore

/// The rows of the fleet's projections and log as the rules read them: `fleet_incidents` rows as
/// ``IncidentRecord``s, `fleet_events` rows as ``StoredEvent``s whose seq is the fleet_seq.
package enum FleetRows {
    /// The columns of `fleet_incidents`, in the order ``incident(_:)`` reads them.
    package static let incidentColumns = """
        id, service, component, incident, kind, title, state, peak_level, opened_at, last_event_at, resolved_at, \
        failed_at, ended_at, event_count, actions, first_seq, last_seq
        """

    /// An incident row selected with ``incidentColumns``.
    package static func incident(_ row: PostgresRow) throws -> IncidentRecord {
        let cells = row.makeRandomAccess()
        let id = try cells[0].decode(Int64.self)
        guard let state = IncidentState(rawValue: try cells[6].decode(String.self)) else {
            throw StoreError("fleet incident \(id) has an unknown state")
        }
        guard let level = EventLevel(rawValue: Int(try cells[7].decode(Int16.self))) else {
            throw StoreError("fleet incident \(id) has an unknown level")
        }
        let actionsJSON = try cells[14].decode(String.self)
        guard let actions = ActionSet.byJSON[actionsJSON] else {
            throw StoreError("fleet incident \(id) has unknown actions \(actionsJSON)")
        }
        let component = try cells[2].decode(String.self)
        let incident = try cells[3].decode(String?.self)
        return IncidentRecord.columns(
            id: id,
            key: IncidentKey(
                service: try cells[1].decode(String.self),
                name: incident ?? component,
                byIncident: incident != nil
            ),
            component: component,
            kind: try cells[4].decode(String.self),
            title: try cells[5].decode(String.self),
            state: state,
            peakLevel: level,
            openedAt: try cells[8].decode(Int64.self),
            lastEventAt: try cells[9].decode(Int64.self),
            resolvedAt: try cells[10].decode(Int64?.self),
            failedAt: try cells[11].decode(Int64?.self),
            endedAt: try cells[12].decode(Int64?.self),
            eventCount: try cells[13].decode(Int64.self),
            actions: actions,
            firstSeq: try cells[15].decode(Int64.self),
            lastSeq: try cells[16].decode(Int64.self)
        )
    }

    /// The columns of `fleet_events` the rules read, in the order ``ProjectionDecoder`` reads them.
    static let projectionColumns = "fleet_seq, ts, service, component, kind, level, message, incident"

    /// Decodes `fleet_events` rows into events for the rules, keeping the kinds it has parsed.
    struct ProjectionDecoder {
        private var kinds = EventKindCache(row: "fleet event")

        /// A row selected with ``projectionColumns``: its seq is the fleet_seq.
        mutating func event(_ row: PostgresRow) throws -> StoredEvent {
            // Cell by cell: `row.decode((Int64, Int64, String, ...).self)` instantiates the tuple's generic
            // metadata on every call, which was most of the projector's read-ahead thread.
            var cells = row.makeIterator()
            func next() throws -> PostgresCell {
                guard let cell = cells.next() else { throw StoreError("a fleet event row has too few columns") }
                return cell
            }
            let fleetSeq = try next().decode(Int64.self)
            let timestamp = try next().decode(Int64.self)
            let service = try next().decode(String.self)
            let component = try next().decode(String.self)
            let kindName = try next().decode(String.self)
            let levelName = try next().decode(String.self)
            let message = try next().decode(String?.self)
            let incident = try next().decode(String?.self)
            let event = Event(
                service: service,
                kind: try kinds.kind(kindName, seq: fleetSeq),
                component: component,
                timestamp: timestamp,
                level: try kinds.level(levelName, seq: fleetSeq),
                message: message,
                incident: incident
            )
            return StoredEvent(seq: fleetSeq, timestamp: timestamp, receivedAt: timestamp, event: event, peer: nil)
        }

        /// The kind of a name, parsed once.
        mutating func kind(_ name: String, _ fleetSeq: Int64) throws -> EventKind {
            try kinds.kind(name, seq: fleetSeq)
        }

        /// The level of a name.
        func level(_ name: String, _ fleetSeq: Int64) throws -> EventLevel { try kinds.level(name, seq: fleetSeq) }
    }

    /// Every column of `fleet_events`, in the order ``fullEvent(_:decoder:)`` reads them.
    static let allColumns = """
        fleet_seq, seq, ts, received_at, service, component, kind, level, message, incident, event_id, attrs, \
        peer_uid, peer_pid, host_id
        """

    /// A row selected with ``allColumns``, as its host stored it (seq: the host's; its host), and its fleet_seq.
    static func fullEvent(_ row: PostgresRow, decoder: inout ProjectionDecoder) throws -> (Int64, StoredEvent) {
        let cells = row.makeRandomAccess()
        let fleetSeq = try cells[0].decode(Int64.self)
        let kind = try decoder.kind(try cells[6].decode(String.self), fleetSeq)
        let level = try decoder.level(try cells[7].decode(String.self), fleetSeq)
        let timestamp = try cells[2].decode(Int64.self)
        let event = Event(
            service: try cells[4].decode(String.self),
            kind: kind,
            component: try cells[5].decode(String.self),
            timestamp: timestamp,
            level: level,
            message: try cells[8].decode(String?.self),
            incident: try cells[9].decode(String?.self),
            id: try cells[10].decode(String?.self),
            attributesJSON: try cells[11].decode(String?.self)
        )
        var peer: Peer?
        if let uid = try cells[12].decode(Int64?.self), let pid = try cells[13].decode(Int64?.self) {
            peer = Peer(uid: UInt32(truncatingIfNeeded: uid), pid: Int32(truncatingIfNeeded: pid))
        }
        let stored = StoredEvent(
            seq: try cells[1].decode(Int64.self),
            timestamp: timestamp,
            receivedAt: try cells[3].decode(Int64.self),
            event: event,
            peer: peer,
            host: try cells[14].decode(String.self)
        )
        return (fleetSeq, stored)
    }

    /// A `fleet_counters` row: hour, service, events, timeout_prevented, transition_blocked, ratelimit_throttled.
    package static func counter(_ row: PostgresRow) throws -> (CounterKey, CounterValues) {
        let (hour, service, events, timeout, transition, ratelimit) = try row.decode(
            (Int64, String, Int64, Int64, Int64, Int64).self
        )
        return (
            CounterKey(hour: hour, service: service),
            CounterValues(
                events: events,
                timeoutPrevented: timeout,
                transitionBlocked: transition,
                ratelimitThrottled: ratelimit
            )
        )
    }
}
