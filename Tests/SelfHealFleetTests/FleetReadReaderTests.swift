import Foundation
import SelfHealEvents
import SelfHealFleet
import SelfHealStore
import Testing

/// The query API (``StoreReader``) of a ``FleetReader`` against a local ``EventStore`` fed the same events: what
/// the HTTP API serves (an incident with its events, the stream's incidents and figures), and a reader that
/// outlives its connection.
@Suite(.serialized) struct FleetReadReaderTests {
    @Test func theReaderAnswersAsTheLocalStore() async throws {
        let fixture = try await FleetReadCommandTests.fixture.get()
        let local = try EventStore(
            StoreConfiguration(path: "\(fixture.dataDirectory)/events.db", readOnly: true)
        )
        // Small pages, so that every read pages.
        let fleet = try FleetReader(try FleetStoreURL(fixture.url), pageSize: 100)
        defer { fleet.close() }
        #expect(try fleet.quietPeriod() == FleetReadFixture.quietPeriod)
        #expect(try fleet.lastSeq() == local.lastSeq())
        #expect(try fleet.chainHead() == nil)
        let progress = try fleet.projectionProgress()
        let localEnd = try local.lastSeq()
        #expect(progress.applied == localEnd && progress.logEnd == localEnd)
        var rejects = 0
        try fleet.forEachReject(since: .min, until: .max) { _ in rejects += 1 }
        #expect(rejects == 0)
        let day: Int64 = 86_400_000
        for asOf in [FleetReadFixture.firstDay + day + 43_200_000, FleetReadFixture.firstDay + 6 * day] {
            let incidents = try local.allIncidents(asOf: asOf)
            #expect(incidents.count > 50)
            #expect(try fleet.allIncidents(asOf: asOf) == incidents)
            // GET /api/v1/incidents/{id}: the incident with its events, in seq order; each event from its host.
            for incident in incidents {
                #expect(try fleet.incident(id: incident.id, asOf: asOf) == incident)
                let events = try fleet.events(of: incident)
                #expect(events.allSatisfy { $0.host == fixture.hostBySeq[$0.seq] })
                #expect(
                    events.map {
                        var event = $0
                        event.host = nil
                        return event
                    } == (try local.events(of: incident))
                )
                #expect(incident.json(events: events).contains("\"host\":\""))
            }
            #expect(try fleet.incident(id: 1_000_000, asOf: asOf) == nil)
            // The stream's figures of the last 24 hours, and its active incidents.
            #expect(
                try fleet.stats(since: asOf - day, until: asOf, service: nil, asOf: asOf)
                    == local.stats(since: asOf - day, until: asOf, service: nil, asOf: asOf)
            )
            let active = IncidentFilter(since: asOf, until: asOf + 1, asOf: asOf)
            #expect(try fleet.incidents(active) == local.incidents(active))
        }
        // A limit takes the first events in (ts, seq) order, across pages.
        let limited = EventFilter(since: .min, until: .max, limit: 1_007)
        var fleetEvents: [StoredEvent] = []
        try fleet.forEachEvent(limited) { fleetEvents.append($0) }
        var localEvents: [StoredEvent] = []
        try local.forEachEvent(limited) { localEvents.append($0) }
        #expect(
            fleetEvents.map {
                var event = $0
                event.host = nil
                return event
            } == localEvents
        )
    }

    @Test func aDroppedConnectionIsReplaced() async throws {
        let server = try TestPostgresServer.shared()
        let fixture = try await FleetReadCommandTests.fixture.get()
        let fleet = try FleetReader(try FleetStoreURL(fixture.url))
        defer { fleet.close() }
        let day: Int64 = 86_400_000
        let first = try fleet.stats(
            since: FleetReadFixture.firstDay,
            until: FleetReadFixture.firstDay + 3 * day,
            service: nil,
            asOf: .max
        )
        #expect(first.incidents > 0)
        // The server ends the pooled connection (as a restart or an administrator would).
        let database = String(fixture.url.split(separator: "/").last!)
        let ended = try server.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '\(database)' AND pid <> pg_backend_pid()"
        )
        #expect(Int(ended.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0 >= 1)
        let again = try fleet.stats(
            since: FleetReadFixture.firstDay,
            until: FleetReadFixture.firstDay + 3 * day,
            service: nil,
            asOf: .max
        )
        #expect(again == first)
    }
}
