import Foundation
import SelfHealEvents
import SelfHealFleet
import SelfHealStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// SPEC section 10's promise, end to end with real processes: three daemons on three data directories, each
/// fed its share of one stream, forward to one PostgreSQL; `selfheal central` applies the rules; the fleet's
/// incidents, figures and events then equal those of one local store fed the whole stream in fleet order.
@Suite(.serialized)
struct FleetCorrectnessTests {
    /// Day 1 of the stream, 2025-11-24T00:00:00Z, epoch milliseconds.
    static let start: Int64 = 1_763_942_400_000

    @Test func threeHostsEqualOneStoreFedTheWholeStreamInFleetOrder() throws {
        let server = try TestPostgresServer.shared()
        let url = try server.makeDatabase()
        let database = databaseName(url)
        let root = try ForwardDirectory()
        let central = try CentralProcess(store: url)
        let hosts = try (1...3).map { number in
            try ForwardDaemon(
                root: root.path,
                name: "host-\(number)",
                arguments: ["--forward", url, "--host-id", "host-\(number)"]
            )
        }
        // Each host gets chunks of the stream in turn, so that one incident's events arrive from several hosts
        // (the same service on several hosts is one service) and the fleet's order interleaves the hosts.
        let stream = Self.stream()
        var accepted = 0
        for (index, chunk) in stride(from: 0, to: stream.count, by: 37).map({
            Array(stream[$0..<min($0 + 37, stream.count)])
        }).enumerated() {
            accepted += try hosts[index % 3].ingest(chunk)
        }
        #expect(accepted == stream.count)
        try waitUntil("every event forwarded and applied", timeout: 120) {
            let counts = try server.psql(
                """
                SELECT (SELECT count(*) FROM fleet_events), (SELECT last_fleet_seq FROM fleet_projection_state)
                """,
                database: database
            )
            return counts == "\(stream.count)|\(stream.count)"
        }
        // The reference: one local store fed the fleet's events in fleet_seq order, each as its wire line.
        let fleetOrder = try server.psql(
            """
            SELECT json_strip_nulls(json_build_object('service', service, 'kind', kind, 'component', component,
                'ts', ts, 'level', level, 'message', message, 'incident', incident, 'id', event_id,
                'attrs', attrs::json))
            FROM fleet_events ORDER BY fleet_seq
            """,
            database: database
        ).split(separator: "\n").map(String.init)
        #expect(fleetOrder.count == stream.count)
        let reference = try ForwardDaemon(root: root.path, name: "reference", arguments: [])
        #expect(try reference.ingest(fleetOrder) == stream.count)

        let range = ["--since", "2025-11-24T00:00:00Z", "--until", "2025-11-27T00:00:00Z"]
        for asOf in ["2025-11-24T12:00:00Z", "2025-11-26T00:00:00Z", "2025-11-27T00:00:00Z"] {
            for command in [["incidents"], ["stats"], ["stats", "--service", "portal"]] {
                let arguments = command + range + ["--as-of", asOf, "--format", "json"]
                let fleet = try SelfhealBinary.run(arguments + ["--store", url], in: root.path)
                let local = try SelfhealBinary.run(arguments + ["--data-dir", reference.dataDirectory], in: root.path)
                #expect(fleet.status == 0, "\(fleet.stderr)")
                #expect(local.status == 0, "\(local.stderr)")
                #expect(fleet.stdout == local.stdout, "\(arguments.joined(separator: " "))")
                #expect(fleet.stdout.count > 100)
            }
        }
        // Events: the same (seq is the fleet_seq), but for the host each carries, and the time the reference
        // store received them and the process that sent them (later, from this test).
        let events = ["events"] + range + ["--format", "json"]
        let fleetEvents = try SelfhealBinary.run(events + ["--store", url], in: root.path)
        let localEvents = try SelfhealBinary.run(events + ["--data-dir", reference.dataDirectory], in: root.path)
        let received = /"received_at":"[^"]*",/
        let peer = /,"peer":\{"uid":\d+,"pid":\d+\}/
        let withoutHost = fleetEvents.stdout.replacing(/,"host":"host-[123]"/, with: "").replacing(received, with: "")
            .replacing(peer, with: "")
        #expect(withoutHost == localEvents.stdout.replacing(received, with: "").replacing(peer, with: ""))
        #expect(withoutHost.count > 100_000)
        #expect(fleetEvents.stdout.contains(#""host":"host-2""#))
        // And the whole of it checks out.
        let verify = try SelfhealBinary.run(["verify", "--store", url], in: root.path)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        central.kill()
    }

    /// 2,400 events over two and a half days: pool warnings that recover, errors retried then recovered or
    /// exhausted, breakers, errors that go quiet and come back days later (a new incident after the quiet
    /// period), incidents keyed by `incident`, and prevent and info events, in time order.
    static func stream() -> [String] {
        var generator = SplitMix64(seed: 13)
        var lines: [String] = []
        var ts = start
        let services = ["portal", "api", "mail"]
        let components = ["db-pool", "openai", "smtp", "/api/manager/assistance"]
        while lines.count < 2_400 {
            ts += Int64(generator.next() % 240_000)
            let service = services[Int(generator.next() % 3)]
            let component = components[Int(generator.next() % 4)]
            let correlation = generator.next() % 4 == 0 ? #","incident":"order-\#(generator.next() % 40)""# : ""
            let kinds: [String]
            switch generator.next() % 10 {
            case 0...3: kinds = ["error.detected", "retry.attempt", "retry.succeeded"]
            case 4: kinds = ["error.detected", "retry.attempt", "retry.exhausted"]
            case 5: kinds = ["pool.warning", "pool.critical", "pool.recovered"]
            case 6: kinds = ["health.degraded"]  // goes quiet
            case 7: kinds = ["timeout.prevented", "transition.blocked"]
            case 8: kinds = ["breaker.opened", "breaker.half_opened", "breaker.closed"]
            default: kinds = ["batch.completed", "x.custom.note"]
            }
            for kind in kinds {
                ts += Int64(generator.next() % 20_000)
                lines.append(
                    #"{"service":"\#(service)","kind":"\#(kind)","component":"\#(component)","ts":\#(ts)\#(correlation),"attrs":{"n":\#(lines.count)}}"#
                )
            }
        }
        return lines
    }
}
