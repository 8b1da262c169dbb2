import Foundation
import SelfHealEvents
import SelfHealStore

/// A store in a fresh temporary directory, removed when the value goes away.
final class TemporaryStore {
    let directory: String
    let path: String
    let store: EventStore

    init(projections: [any Projection] = [IncidentProjection()]) throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("selfheal-test-\(UUID().uuidString)")
        path = (directory as NSString).appendingPathComponent("events.db")
        store = try EventStore(StoreConfiguration(path: path, durability: .normal), projections: projections)
    }

    /// Opens the same database again (another process's view, or after a restart).
    func reopen(projections: [any Projection] = [IncidentProjection()]) throws -> EventStore {
        try EventStore(StoreConfiguration(path: path, durability: .normal), projections: projections)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    @discardableResult
    func append(_ events: IncomingEvent...) throws -> AppendResult { try store.append(events) }

    /// The only incident of the store, nil when there are none or several.
    func onlyIncident() throws -> Incident? {
        let all = try store.allIncidents()
        return all.count == 1 ? all[0] : nil
    }
}

/// An event ready to append; `ts` in epoch milliseconds.
func incoming(
    _ kind: EventKind,
    ts: Int64,
    service: String = "portal",
    component: String = "db-pool",
    incident: String? = nil,
    level: EventLevel? = nil,
    message: String? = nil,
    id: String? = nil
) -> IncomingEvent {
    IncomingEvent(
        event: Event(
            service: service,
            kind: kind,
            component: component,
            timestamp: ts,
            level: level,
            message: message,
            incident: incident,
            id: id
        ),
        receivedAt: ts,
        peer: nil
    )
}

/// 2025-11-25T00:00:00Z, epoch milliseconds: a Tuesday.
let day: Int64 = 1_764_028_800_000
let hourMs: Int64 = 3_600_000
