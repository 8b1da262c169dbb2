import Foundation
import Testing

/// Every route and error code over real HTTP against a real `selfheal serve --http` process.
@Suite(.serialized) struct RouteTests {
    @Test func errorsAreJSONWithTheRightCodes() throws {
        let daemon = try HTTPDaemon()
        let health = try daemon.get("/healthz", headers: [:])
        #expect(health.status == 200)
        #expect(health.text == "{\"status\":\"ok\"}\n")

        let unknown = try daemon.get("/api/v1/nothing")
        #expect(unknown.status == 404)
        #expect(unknown.header("Content-Type") == "application/json")
        #expect((unknown.object["error"] as? String)?.contains("/api/v1/nothing") == true)

        let wrongMethod = try request("DELETE", "/api/v1/stats", port: daemon.port, headers: HTTPDaemon.authorized)
        #expect(wrongMethod.status == 405)
        #expect(wrongMethod.header("Allow") == "GET")
        #expect(wrongMethod.object["error"] != nil)
        let putEvents = try request("PUT", "/api/v1/events", port: daemon.port, headers: HTTPDaemon.authorized)
        #expect(putEvents.status == 405)
        #expect(putEvents.header("Allow") == "GET, POST")

        let cases: [(path: String, names: String)] = [
            ("/api/v1/events?since=yesterday", "\"since\""),
            ("/api/v1/events?until=2025-02-30", "\"until\""),
            ("/api/v1/events?limit=0", "\"limit\""),
            ("/api/v1/events?kind=pool.warnign", "\"kind\""),
            ("/api/v1/events?service=bad%20name", "\"service\""),
            ("/api/v1/incidents?state=closed", "\"state\""),
            ("/api/v1/incidents?min_level=loud", "\"min_level\""),
            ("/api/v1/incidents?since=now&until=-1h", "\"since\""),
            ("/api/v1/stats?tz=Mars/Olympus", "\"tz\""),
            ("/api/v1/stats?colour=red", "\"colour\""),
            ("/api/v1/rejects?since=-1h&since=-2h", "\"since\""),
            ("/api/v1/incidents/abc", "\"id\""),
            ("/api/v1/stream?x=1", "\"x\""),
        ]
        for (path, name) in cases {
            let reply = try daemon.get(path)
            #expect(reply.status == 400, "\(path)")
            #expect((reply.object["error"] as? String)?.contains(name) == true, "\(path): \(reply.text)")
        }
        let missing = try daemon.get("/api/v1/incidents/999")
        #expect(missing.status == 404)
        #expect(missing.text == "{\"error\":\"no incident 999\"}\n")
    }

    @Test func queriesGiveTheCommandLinesJSONBytes() throws {
        let daemon = try HTTPDaemon()
        let body = """
            {"service":"checkout","kind":"breaker.opened","component":"db","ts":"2025-11-25T09:00:00.000Z","id":"a1"}
            {"service":"checkout","kind":"retry.attempt","component":"db","ts":"2025-11-25T09:00:01.000Z"}
            {"service":"checkout","kind":"breaker.closed","component":"db","ts":"2025-11-25T09:00:05.500Z"}
            {"service":"portal","kind":"retry.exhausted","incident":"INC-7","ts":"2025-11-25T10:00:00.000Z"}
            {"service":"portal","kind":"timeout.prevented","ts":"2025-11-25T11:00:00.000Z"}
            {"service":"portal","kind":"nope"}

            """
        let reply = try daemon.post(body)
        #expect(reply.status == 200)
        #expect(
            reply.text
                == "{\"op\":\"sync\",\"ok\":true,\"accepted\":5,\"duplicates\":0,\"rejected\":1,\"last_seq\":5,"
                + "\"errors\":[{\"line\":6,\"error\":\"unknown kind \\\"nope\\\"\"}]}\n"
        )
        let range = ["--since", "2025-11-25T00:00:00Z", "--until", "2025-11-26T00:00:00Z"]
        let query = "since=2025-11-25T00:00:00Z&until=2025-11-26T00:00:00Z"
        let pairs: [(path: String, command: [String])] = [
            ("/api/v1/events?\(query)", ["events"] + range),
            (
                "/api/v1/events?\(query)&service=portal&kind=timeout.prevented",
                ["events", "--service", "portal", "--kind", "timeout.prevented"] + range
            ),
            ("/api/v1/incidents?\(query)", ["incidents"] + range),
            (
                "/api/v1/incidents?\(query)&state=failed&min_level=failure",
                ["incidents", "--state", "failed", "--min-level", "failure"] + range
            ),
            ("/api/v1/stats?\(query)", ["stats"] + range),
            ("/api/v1/stats?\(query)&service=portal", ["stats", "--service", "portal"] + range),
        ]
        for (path, command) in pairs {
            let http = try daemon.get(path)
            let cli = try Binary.run(command + ["--data-dir", daemon.dataDirectory, "--format", "json"])
            #expect(http.status == 200, "\(path)")
            #expect(cli.status == 0, "\(cli.stderr)")
            #expect(http.text == cli.stdout, "\(path)")
        }
        let rejects = try daemon.get("/api/v1/rejects")
        let cliRejects = try Binary.run([
            "rejects", "--since", "-1h", "--data-dir", daemon.dataDirectory, "--format", "json",
        ])
        #expect(rejects.text == cliRejects.stdout)
        #expect(rejects.array.first?["line"] as? Int == 6)

        let limited = try daemon.get("/api/v1/events?\(query)&limit=2")
        #expect(limited.array.map { $0["seq"] as? Int } == [1, 2])

        let incidents = try daemon.get("/api/v1/incidents?\(query)").array
        let first = try #require(incidents.first?["id"] as? Int)
        let incident = try daemon.get("/api/v1/incidents/\(first)")
        #expect(incident.status == 200)
        let events = try #require(incident.object["events"] as? [[String: Any]])
        #expect(events.map { $0["seq"] as? Int } == [1, 2, 3])
        #expect(incident.object["state"] as? String == "resolved")
    }

    @Test func tokensGuardEveryPathButHealth() throws {
        let daemon = try HTTPDaemon()
        let anonymous = try daemon.get("/api/v1/stats", headers: [:])
        #expect(anonymous.status == 401)
        #expect(anonymous.headers.filter { $0.name == "WWW-Authenticate" }.count == 2)
        #expect(anonymous.object["error"] != nil)
        #expect(try daemon.get("/metrics", headers: [:]).status == 401)
        #expect(try daemon.get("/api/v1/nothing", headers: [:]).status == 401)
        #expect(try daemon.post("{}", headers: [:]).status == 401)
        #expect(try daemon.get("/api/v1/stats", headers: ["Authorization": "Bearer wrong"]).status == 401)
        #expect(
            try daemon.get("/api/v1/stats", headers: ["Authorization": "Bearer \(HTTPDaemon.token)x"]).status == 401
        )
        #expect(try daemon.get("/api/v1/stats", headers: ["Authorization": "Token \(HTTPDaemon.token)"]).status == 401)
        #expect(try daemon.get("/healthz", headers: [:]).status == 200)
        #expect(try daemon.get("/api/v1/stats").status == 200)
        #expect(try daemon.get("/api/v1/stats", headers: ["Authorization": "Bearer second-token"]).status == 200)
        let basic = Data("anyone:\(HTTPDaemon.token)".utf8).base64EncodedString()
        #expect(try daemon.get("/api/v1/stats", headers: ["Authorization": "Basic \(basic)"]).status == 200)
        let wrongBasic = Data("\(HTTPDaemon.token):nothing".utf8).base64EncodedString()
        #expect(try daemon.get("/api/v1/stats", headers: ["Authorization": "Basic \(wrongBasic)"]).status == 401)
        #expect(daemon.stop() == 0)
        #expect(!daemon.log.contains(HTTPDaemon.token))
        #expect(!daemon.log.contains("second-token"))
    }

    @Test func withoutTokensLoopbackOnlyAndNoIngest() throws {
        let daemon = try HTTPDaemon(tokens: false)
        #expect(try daemon.get("/api/v1/stats", headers: [:]).status == 200)
        let ingest = try daemon.post(eventLines(1), headers: [:])
        #expect(ingest.status == 403)
        #expect((ingest.object["error"] as? String)?.contains("--http-token-file") == true)
        #expect(try daemon.get("/api/v1/events").array.isEmpty)
        daemon.stop()

        let directory = try ScratchDirectory()
        let refused = try Binary.run(["serve", "--data-dir", directory.path, "--http", "0.0.0.0:0"])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("without --http-token-file"))
        #expect(refused.stderr.split(separator: "\n").count == 1)
        let empty = directory.file("empty-tokens")
        try "# nothing\n".write(toFile: empty, atomically: true, encoding: .utf8)
        let noTokens = try Binary.run([
            "serve", "--data-dir", directory.path, "--http", "127.0.0.1:0", "--http-token-file", empty,
        ])
        #expect(noTokens.status != 0)
        #expect(noTokens.stderr.contains("holds no token"))
        let badAddress = try Binary.run(["serve", "--data-dir", directory.path, "--http", "localhost"])
        #expect(badAddress.status != 0)
        #expect(badAddress.stderr.contains("ADDR:PORT"))
    }
}
