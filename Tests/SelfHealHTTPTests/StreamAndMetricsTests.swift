import Foundation
import SelfHealing
import Testing

/// One server-sent event.
struct ServerSentEvent {
    var id: String?
    var event: String?
    var data: String
}

/// Reads `GET /api/v1/stream` event by event.
final class StreamReader {
    let connection: RawHTTPConnection
    let head: HTTPReply
    private var pending = ""

    init(port: Int, lastEventID: String? = nil) throws {
        connection = try RawHTTPConnection(port: port, timeoutSeconds: 20)
        var headers = HTTPDaemon.authorized
        headers["Accept"] = "text/event-stream"
        if let lastEventID { headers["Last-Event-ID"] = lastEventID }
        try connection.sendHead(method: "GET", path: "/api/v1/stream", headers: headers)
        head = try connection.readHead()
    }

    /// The next event (comments and `retry:` skipped).
    func next() throws -> ServerSentEvent {
        while true {
            if let end = pending.range(of: "\n\n") {
                let block = pending[..<end.lowerBound]
                pending = String(pending[end.upperBound...])
                var event = ServerSentEvent(data: "")
                var sawData = false
                for line in block.split(separator: "\n") {
                    if line.hasPrefix("id: ") { event.id = String(line.dropFirst(4)) }
                    if line.hasPrefix("event: ") { event.event = String(line.dropFirst(7)) }
                    if line.hasPrefix("data: ") {
                        event.data += String(line.dropFirst(6))
                        sawData = true
                    }
                }
                if sawData { return event }
                continue
            }
            guard let chunk = try connection.readChunk() else { throw HTTPTestError("the stream ended") }
            pending += String(decoding: chunk, as: UTF8.self)
        }
    }

    /// Reads until an event satisfies `condition`, returning every event read.
    func read(until condition: (ServerSentEvent) -> Bool) throws -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        while true {
            let event = try next()
            events.append(event)
            if condition(event) { return events }
        }
    }
}

extension ServerSentEvent {
    var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(data.utf8))) as? [String: Any] ?? [:]
    }

    func isIncident(service: String, state: String) -> Bool {
        event == "incident" && object["service"] as? String == service && object["state"] as? String == state
    }
}

@Suite(.serialized) struct StreamAndMetricsTests {
    @Test func theStreamReplaysWhatAReconnectingClientMissed() throws {
        let daemon = try HTTPDaemon()
        let first = try StreamReader(port: daemon.port)
        #expect(first.head.status == 200)
        #expect(first.head.header("Content-Type") == "text/event-stream")
        let snapshot = try first.read { $0.event == "stats" }
        #expect(snapshot.last?.id == nil)  // a snapshot, not a replay: no ids
        let watcher = try StreamReader(port: daemon.port)
        _ = try watcher.read { $0.event == "stats" }

        #expect(try daemon.post("{\"service\":\"s1\",\"kind\":\"breaker.opened\"}\n").status == 200)
        let opened = try first.read { $0.isIncident(service: "s1", state: "open") }.last!
        let lastID = try #require(opened.id)
        #expect(opened.object["event_count"] as? Int == 1)
        first.connection.shutdownWrite()

        // While the first client is away: s1 recovers, s2 opens. The watcher sees both published.
        #expect(try daemon.post("{\"service\":\"s1\",\"kind\":\"breaker.closed\"}\n").status == 200)
        #expect(try daemon.post("{\"service\":\"s2\",\"kind\":\"pool.critical\"}\n").status == 200)
        _ = try watcher.read { $0.isIncident(service: "s2", state: "open") }

        let again = try StreamReader(port: daemon.port, lastEventID: lastID)
        let missed = try again.read { $0.isIncident(service: "s2", state: "open") }
        #expect(missed.contains { $0.isIncident(service: "s1", state: "resolved") })
        #expect(missed.allSatisfy { $0.id != nil && $0.id != lastID })
        #expect(!missed.contains { $0.isIncident(service: "s1", state: "open") })

        // The figures follow, at most every 2 s, once something changed.
        let stats = try watcher.read { $0.event == "stats" && ($0.object["events"] as? Int) == 3 }.last!
        #expect(stats.id != nil)

        // An id the daemon never gave: a snapshot of the active incidents instead.
        let stranger = try StreamReader(port: daemon.port, lastEventID: "1-999")
        let fresh = try stranger.read { $0.event == "stats" }
        #expect(fresh.contains { $0.isIncident(service: "s2", state: "open") && $0.id == nil })
        #expect(!fresh.contains { $0.object["service"] as? String == "s1" })
    }

    @Test func metricsCountWhatWasSent() throws {
        let daemon = try HTTPDaemon()
        let body =
            eventLines(8, prefix: "m") + eventLines(2, prefix: "m") + "{\"service\":\"checkout\"}\nnot json\n[]\n"
        let reply = try daemon.post(body)
        #expect(reply.object["accepted"] as? Int == 8)
        #expect(reply.object["duplicates"] as? Int == 2)
        #expect(reply.object["rejected"] as? Int == 3)
        let client = try IngestClient(socketPath: daemon.socketPath, timeout: 30)
        for index in 0..<5 {
            try client.send(line: "{\"service\":\"sock\",\"kind\":\"pool.warning\",\"id\":\"p\(index)\"}")
        }
        try client.send(line: "{\"service\":\"sock\",\"kind\":\"pool.warnign\"}")
        #expect(try client.sync().accepted == 5)
        for service in 0..<60 {
            _ = try daemon.post("{\"service\":\"svc-\(service)\",\"kind\":\"error.detected\"}\n")
        }
        #expect(try daemon.get("/api/v1/nothing").status == 404)

        let response = try daemon.get("/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let metrics = try PrometheusText(parsing: response.text)
        #expect(metrics.types.keys.allSatisfy { $0.hasPrefix("selfheal_") })
        #expect(metrics.value("selfheal_events_accepted_total", ["transport": "http"]) == 68)
        #expect(metrics.value("selfheal_events_duplicate_total", ["transport": "http"]) == 2)
        #expect(metrics.value("selfheal_lines_rejected_total", ["transport": "http"]) == 3)
        #expect(metrics.value("selfheal_events_accepted_total", ["transport": "socket"]) == 5)
        #expect(metrics.value("selfheal_lines_rejected_total", ["transport": "socket"]) == 1)
        let commits = try #require(metrics.value("selfheal_commits_total"))
        #expect(commits >= 2)  // group commit may take several bodies at once
        #expect(metrics.value("selfheal_commit_failures_total") == 0)
        #expect(metrics.value("selfheal_commit_duration_seconds_count") == commits)
        #expect(metrics.value("selfheal_events_per_commit_sum") == 75)
        #expect(metrics.value("selfheal_last_seq") == 73)
        #expect(metrics.value("selfheal_writer_queue_events") == 0)
        #expect(metrics.value("selfheal_build_info", ["version": try version()]) == 1)
        #expect((metrics.value("selfheal_connections", ["transport": "http"]) ?? 0) >= 1)
        #expect(metrics.value("selfheal_connections", ["transport": "socket"]) == 1)
        #expect(
            metrics.value(
                "selfheal_http_requests_total",
                ["route": "/api/v1/events", "method": "POST", "status": "200"]
            ) == 61
        )
        #expect(
            metrics.value("selfheal_http_requests_total", ["route": "unmatched", "method": "GET", "status": "404"]) == 1
        )
        // Active incidents: checkout, sock and 60 others; 50 services named at most, the rest under "other".
        let active = metrics.samples.filter { $0.key.name == "selfheal_incidents_active" }
        #expect(active.count <= 51)
        #expect(metrics.sum("selfheal_incidents_active") == 62)
        #expect(metrics.value("selfheal_incidents_active", ["service": "checkout"]) == 1)
        #expect((metrics.value("selfheal_incidents_active", ["service": "other"]) ?? 0) >= 12)
    }

    private func version() throws -> String {
        let output = try Binary.run(["--version"]).stdout
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
