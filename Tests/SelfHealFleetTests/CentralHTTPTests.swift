import Foundation
import SelfHealFleet
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `selfheal central --http` as a real process over a real PostgreSQL: the API answers what the read commands
/// give over the fleet, the dashboard is served, ingest is refused with one line, and SIGTERM stops it cleanly.
@Suite(.serialized)
struct CentralHTTPTests {
    @Test func centralServesTheAPIAndTheDashboardOverTheFleet() async throws {
        let url = try TestPostgresServer.shared().makeDatabase()
        try await FleetTestLog.with(url: url) { log in
            var stream = FleetTestStream(seed: 21)
            try await log.append(stream.take(2_000), hosts: ["host-a", "host-b"], batch: 83)
            let addressFile = NSTemporaryDirectory() + "selfheal-central-http-\(UUID().uuidString).address"
            defer { unlink(addressFile) }
            let central = try CentralProcess(
                store: url,
                arguments: ["--http", "127.0.0.1:0", "--http-address-file", addressFile]
            )
            try await log.waitCaughtUp()
            let port = try await FleetReadAPI.port(addressFile)

            let range = "since=1970-01-01T00:00:00Z&until=2100-01-01T00:00:00Z&as_of=2100-01-01T00:00:00Z"
            for (path, command) in [
                ("/api/v1/stats?\(range)", ["stats"]),
                ("/api/v1/incidents?\(range)", ["incidents"]),
            ] {
                let answer = try FleetReadAPI.get(path, port: port)
                let cli = try SelfhealBinary.run(
                    command + [
                        "--since", "1970-01-01T00:00:00Z", "--until", "2100-01-01T00:00:00Z", "--as-of",
                        "2100-01-01T00:00:00Z", "--format", "json", "--store", url,
                    ]
                )
                #expect(answer.status == 200)
                #expect(cli.status == 0, "\(cli.stderr)")
                #expect(answer.body.trimmingCharacters(in: .newlines) == cli.stdout.trimmingCharacters(in: .newlines))
                #expect(answer.body.count > 50)
            }
            let page = try FleetReadAPI.get("/", port: port)
            #expect(page.status == 200)
            #expect(page.body.contains("<html"))
            let ingest = try FleetReadAPI.get("/api/v1/events", port: port, method: "POST")
            #expect(ingest.status == 405)
            #expect(ingest.body.contains("this is the fleet's central store"))
            #expect(ingest.body.trimmingCharacters(in: .newlines).split(separator: "\n").count == 1)
            kill(central.process.processIdentifier, SIGTERM)
            central.process.waitUntilExit()
            #expect(central.process.terminationStatus == 0, "\(central.log)")
        }
    }
}
