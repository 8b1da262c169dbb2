import Foundation
import SelfHealEvents
import SelfHealFleet
import SelfHealStore
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// `selfheal serve --forward` against a real PostgreSQL server and real daemons.
@Suite(.serialized) struct ForwardTests {
    /// The sum of the hosts' cursors in the central store; 0 before the forwarder created its tables.
    private func forwardedTotal(_ server: TestPostgresServer, _ url: String) -> Int64 {
        let text = try? server.psql(
            "SELECT coalesce(sum(forwarded_seq), 0) FROM fleet_hosts",
            database: databaseName(url)
        )
        return text.flatMap { Int64($0) } ?? 0
    }

    /// U+0000, which PostgreSQL's text cannot hold, reaches the fleet as U+FFFD instead of stopping the host's
    /// forwarding; the links are those of the stored rows, so verify passes.
    @Test func aNULCharacterIsForwardedAsTheReplacementCharacter() async throws {
        let server = try TestPostgresServer.shared()
        let url = try server.makeDatabase()
        let root = try ForwardDirectory()
        let daemon = try ForwardDaemon(root: root.path, name: "nul-1", arguments: ["--forward", url])
        let lines = [
            #"{"service":"portal","kind":"error.detected","component":"db","message":"a\u0000b","incident":"k\u0000","id":"e\u00001"}"#,
            #"{"service":"portal","kind":"retry.succeeded","component":"db","incident":"k\u0000"}"#,
        ]
        #expect(try daemon.ingest(lines) == 2)
        try waitUntil("2 events forwarded", timeout: 60) { forwardedTotal(server, url) == 2 }
        let stored = try server.psql(
            "SELECT message || '|' || incident || '|' || event_id FROM fleet_events WHERE seq = 1",
            database: databaseName(url)
        )
        #expect(stored == "a\u{FFFD}b|k\u{FFFD}|e\u{FFFD}1")
        #expect(try daemon.localEvents().first?.event.message == "a\u{0}b")
        let verify = try SelfhealBinary.run(["verify", "--store", url], in: root.path)
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
    }

    @Test func eventsReachTheFleetLogOnceInSeqOrderWithTheirLinks() async throws {
        let server = try TestPostgresServer.shared()
        let url = try server.makeDatabase()
        let root = try ForwardDirectory()
        let daemon = try ForwardDaemon(
            root: root.path,
            name: "web-1",
            arguments: ["--forward", url, "--host-id", "web-1", "--http", "127.0.0.1:0"]
        )
        var acknowledged = 0
        for part in 0..<3 {
            acknowledged += try daemon.ingest(forwardLines(service: "portal", count: 700, from: part * 700))
        }
        #expect(acknowledged == 2_100)
        try waitUntil("2,100 events forwarded", timeout: 60) { forwardedTotal(server, url) == 2_100 }
        let central = try await CentralLog.read(url)
        #expect(central.fleetSeqIsGapless)
        central.expectHolds(host: "web-1", local: try daemon.localEvents())
        // The state file and the metrics follow the commit: wait for them.
        var object: [String: Any] = [:]
        try waitUntil("selfheal status to show the last batch", timeout: 30) {
            let status = try SelfhealBinary.run(
                ["status", "--data-dir", daemon.dataDirectory, "--format", "json"],
                in: root.path
            )
            guard status.status == 0 else { throw ForwardTestError("status failed: \(status.stderr)") }
            object = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any] ?? [:]
            return (object["forward"] as? [String: Any])?["forwarded_seq"] as? Int == 2_100
        }
        let forward = try #require(object["forward"] as? [String: Any])
        #expect(object["last_seq"] as? Int == 2_100)
        #expect(forward["forwarded_seq"] as? Int == 2_100)
        #expect(forward["lag_events"] as? Int == 0)
        #expect(forward["up"] as? Bool == true)
        #expect((forward["store"] as? String).map { $0.hasPrefix("postgresql://postgres@127.0.0.1:") } == true)
        let address = try String(
            contentsOfFile: (daemon.dataDirectory as NSString).appendingPathComponent("http.address"),
            encoding: .utf8
        ).trimmingCharacters(in: .whitespacesAndNewlines)
        let metricsURL = try #require(URL(string: "http://\(address)/metrics"))
        var metrics: [Substring] = []
        let deadline = Date().addingTimeInterval(30)
        while !metrics.contains("selfheal_forward_events_total 2100"), Date() < deadline {
            if !metrics.isEmpty { try await Task.sleep(for: .milliseconds(20)) }
            let (body, _) = try await URLSession.shared.data(from: metricsURL)
            metrics = String(decoding: body, as: UTF8.self).split(separator: "\n")
        }
        #expect(metrics.contains("selfheal_forward_events_total 2100"))
        #expect(metrics.contains("selfheal_forward_lag_events 0.0"))
        #expect(metrics.contains("selfheal_forward_lag_seconds 0.0"))
        #expect(metrics.contains("selfheal_forward_up 1.0"))
        #expect(daemon.stop() == 0)
    }

    @Test func postgresStoppedWhileThreeDaemonsIngestLosesNothingAndLogsOnceEachWay() async throws {
        let server = try TestPostgresServer.start()
        defer { server.stop() }
        let url = server.url()
        let root = try ForwardDirectory()
        let hosts = ["host-a", "host-b", "host-c"]
        let daemons = try hosts.map { host in
            try ForwardDaemon(root: root.path, name: host, arguments: ["--forward", url, "--host-id", host])
        }
        var acknowledged = 0
        for (index, daemon) in daemons.enumerated() {
            acknowledged += try daemon.ingest(forwardLines(service: "svc-\(index)", count: 300))
        }
        try waitUntil("the first events forwarded", timeout: 60) { forwardedTotal(server, url) == Int64(acknowledged) }
        try server.pause()
        for round in 1...3 {
            for (index, daemon) in daemons.enumerated() {
                acknowledged += try daemon.ingest(
                    forwardLines(service: "svc-\(index)", count: 400, from: round * 1_000)
                )
            }
        }
        for daemon in daemons {
            try waitUntil("\(daemon.dataDirectory) to notice", timeout: 30) {
                daemon.log.contains("the central store is unreachable")
            }
            var status = ""
            try waitUntil("selfheal status to say the store is unreachable", timeout: 30) {
                status = try SelfhealBinary.run(["status", "--data-dir", daemon.dataDirectory], in: root.path).stdout
                return status.contains("unreachable")
            }
            #expect(status.contains("forward lag: 1200 events"), "\(status)")
        }
        try server.resume()
        try waitUntil("every acknowledged event forwarded", timeout: 90) {
            forwardedTotal(server, url) == Int64(acknowledged)
        }
        let central = try await CentralLog.read(url)
        #expect(central.rows.count == acknowledged)
        #expect(central.fleetSeqIsGapless)
        for (host, daemon) in zip(hosts, daemons) {
            central.expectHolds(host: host, local: try daemon.localEvents())
            try waitUntil("\(host) to log that the store is back", timeout: 10) {
                daemon.log.contains("the central store is back")
            }
            #expect(daemon.stop() == 0)
            let log = daemon.log
            #expect(log.components(separatedBy: "the central store is unreachable").count == 2, "\(log)")
            #expect(log.components(separatedBy: "the central store is back").count == 2, "\(log)")
            #expect(log.contains("waiting=1200"), "\(log)")
        }
    }

    @Test func aDaemonKilledMidBatchResumesWithoutLossOrDuplicate() async throws {
        let server = try TestPostgresServer.shared()
        let url = try server.makeDatabase()
        let root = try ForwardDirectory()
        let daemon = try ForwardDaemon(
            root: root.path,
            name: "killed",
            arguments: ["--forward", url, "--host-id", "killed"]
        )
        let total = 60_000
        #expect(try daemon.ingest(forwardLines(service: "portal", count: total)) == total)
        // SIGKILL while the forwarder is between its first batch and its last.
        try waitUntil("forwarding under way", timeout: 60) { forwardedTotal(server, url) > 0 }
        let before = forwardedTotal(server, url)
        #expect(daemon.stop(signal: SIGKILL) != 0)
        try daemon.start()
        try waitUntil("all forwarded after the restart", timeout: 120) { forwardedTotal(server, url) == Int64(total) }
        let central = try await CentralLog.read(url)
        #expect(before < Int64(total), "the kill came after the last batch: the test did not test a restart")
        #expect(central.rows.count == total)
        #expect(central.fleetSeqIsGapless)
        central.expectHolds(host: "killed", local: try daemon.localEvents())
        #expect(daemon.stop() == 0)
    }

    @Test(arguments: [
        (["--forward", "mysql://u@h/db"], "not a postgresql:// URL"),
        (["--forward", "postgresql://h/db"], "names no user"),
        (["--forward", "postgresql://u@h:5432/db", "--host-id", String(repeating: "h", count: 256)], "256 bytes"),
        (["--forward", "postgresql://u@h:5432/db", "--host-id", ""], "host id is empty"),
        (["--forward", "postgresql://u@h:5432/db", "--host-id", "a\u{7}b"], "control character"),
        (["--host-id", "web-1"], "--host-id needs --forward"),
    ])
    func aBadForwardURLOrHostIDFailsWithOneLine(arguments: [String], message: String) throws {
        let root = try ForwardDirectory()
        let result = try SelfhealBinary.run(["serve", "--data-dir", root.path] + arguments, in: root.path)
        #expect(result.status == 1)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test func backoffDoublesToItsCapWithFullJitter() {
        let backoff = ForwardBackoff(initial: .milliseconds(100), cap: .seconds(10))
        #expect(
            (0...8).map { backoff.bound(attempt: $0) } == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1_600),
                .milliseconds(3_200), .milliseconds(6_400), .seconds(10), .seconds(10),
            ]
        )
        #expect(backoff.bound(attempt: 1_000) == .seconds(10))
        #expect(backoff.delay(attempt: 3, unit: 0) == .zero)
        #expect(backoff.delay(attempt: 3, unit: 0.5) == .milliseconds(400))
        #expect(backoff.delay(attempt: 20, unit: 1) == .seconds(10))
    }
}
