import Foundation
import SelfHealEvents

@testable import SelfHealStore

/// A store in a fresh temporary directory, removed when the value goes away.
final class TemporaryStore {
    let directory: String
    let path: String
    let store: EventStore

    init(
        projections: [any Projection]? = nil,
        quietPeriod: Int64? = nil,
        workingSetLimit: Int = 50_000
    ) throws {
        directory = (NSTemporaryDirectory() as NSString).appendingPathComponent("selfheal-test-\(UUID().uuidString)")
        path = (directory as NSString).appendingPathComponent("events.db")
        store = try EventStore(
            StoreConfiguration(
                path: path,
                durability: .normal,
                quietPeriod: quietPeriod,
                workingSetLimit: workingSetLimit
            ),
            projections: projections
        )
    }

    /// Opens the same database again (another process's view, or after a restart).
    func reopen(projections: [any Projection]? = nil, workingSetLimit: Int = 50_000) throws -> EventStore {
        try EventStore(
            StoreConfiguration(path: path, durability: .normal, workingSetLimit: workingSetLimit),
            projections: projections
        )
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    @discardableResult
    func append(_ events: IncomingEvent...) throws -> AppendResult { try store.append(events) }

    /// The only incident of the store as of `asOf`, nil when there are none or several.
    func onlyIncident(asOf: Int64 = testAsOf) throws -> Incident? {
        let all = try store.allIncidents(asOf: asOf)
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

/// The reads' clock in these tests unless a test says otherwise: an hour into the test day, before anything it
/// sends goes quiet under the default quiet period (4 hours).
let testAsOf = day + hourMs

extension EventStore {
    /// Every incident as of ``testAsOf``.
    func allIncidents() throws -> [Incident] { try allIncidents(asOf: testAsOf) }

    /// The figures as of ``testAsOf``.
    func stats(since: Int64, until: Int64, service: String? = nil) throws -> Stats {
        try stats(since: since, until: until, service: service, asOf: testAsOf)
    }
}

extension IncidentFilter {
    /// A filter as of ``testAsOf``.
    init(
        since: Int64,
        until: Int64,
        service: String? = nil,
        state: IncidentState? = nil,
        minimumLevel: EventLevel? = nil
    ) {
        self.init(
            since: since,
            until: until,
            asOf: testAsOf,
            service: service,
            state: state,
            minimumLevel: minimumLevel
        )
    }
}
