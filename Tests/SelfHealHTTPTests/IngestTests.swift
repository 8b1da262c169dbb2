import Foundation
import SelfHealing
import Synchronization
import Testing

/// `POST /api/v1/events` against a real daemon: limits, all-or-nothing, slow and many clients, shutdown.
@Suite(.serialized) struct IngestTests {
    private func storedCount(_ daemon: HTTPDaemon) throws -> Int {
        try daemon.get("/api/v1/events?since=-1d&until=2100-01-01&limit=100000").array.count
    }

    @Test func aBodyOverEightMebibytesIs413AndNothingStored() throws {
        let daemon = try HTTPDaemon()
        let line =
            "{\"service\":\"big\",\"kind\":\"retry.attempt\",\"message\":\"\(String(repeating: "x", count: 1_000))\"}\n"
        let body = String(repeating: line, count: 8 * 1_024 + 100)
        #expect(body.utf8.count > 8 * 1_024 * 1_024)
        // A length announced over the limit is refused before a byte of the body is read.
        let announcing = try RawHTTPConnection(port: daemon.port)
        try announcing.sendHead(
            method: "POST",
            path: "/api/v1/events",
            headers: HTTPDaemon.authorized.merging(["Content-Length": String(body.utf8.count)]) { $1 }
        )
        let declared = try announcing.readReply()
        #expect(declared.status == 413)
        #expect(declared.object["error"] != nil)

        // Chunked, no length announced: cut off at the limit while reading.
        let connection = try RawHTTPConnection(port: daemon.port)
        try connection.sendHead(
            method: "POST",
            path: "/api/v1/events",
            headers: HTTPDaemon.authorized.merging(["Transfer-Encoding": "chunked"]) { $1 }
        )
        let piece = Array(String(repeating: line, count: 1_024).utf8)
        var answered: HTTPReply?
        for _ in 0..<9 {
            do {
                try connection.send(
                    Array(String(piece.count, radix: 16).utf8) + Array("\r\n".utf8) + piece + Array("\r\n".utf8)
                )
            } catch {
                break  // the server answered and closed: read its answer
            }
        }
        try? connection.send("0\r\n\r\n")
        answered = try connection.readReply()
        #expect(answered?.status == 413)
        #expect(try storedCount(daemon) == 0)
    }

    @Test func aBodyCutShortStoresNothing() throws {
        let daemon = try HTTPDaemon()
        let complete = eventLines(50)
        let sent = Array(complete.utf8)[..<(complete.utf8.count / 2)]  // ends in the middle of a line
        let connection = try RawHTTPConnection(port: daemon.port)
        try connection.sendHead(
            method: "POST",
            path: "/api/v1/events",
            headers: HTTPDaemon.authorized.merging(["Content-Length": String(complete.utf8.count)]) { $1 }
        )
        try connection.send(Array(sent))
        connection.shutdownWrite()
        // The answer is a 400, or the connection closes without one; either way nothing is stored.
        if let reply = try? connection.readReply() { #expect(reply.status == 400) }
        #expect(try storedCount(daemon) == 0)
        #expect(try daemon.get("/api/v1/rejects").array.isEmpty)

        // A complete body whose last line has no newline: that line counts (SPEC section 3).
        let reply = try daemon.post(
            "{\"service\":\"a\",\"kind\":\"retry.attempt\"}\n{\"service\":\"a\",\"kind\":\"retry.att"
        )
        #expect(reply.status == 200)
        #expect(reply.object["accepted"] as? Int == 1)
        #expect(reply.object["rejected"] as? Int == 1)
        #expect((reply.object["errors"] as? [[String: Any]])?.first?["line"] as? Int == 2)
    }

    @Test func aSlowSenderHoldsUpNobodyElse() throws {
        let daemon = try HTTPDaemon()
        let body = Array(eventLines(30, prefix: "slow").utf8)
        let slow = try RawHTTPConnection(port: daemon.port)
        try slow.sendHead(
            method: "POST",
            path: "/api/v1/events",
            headers: HTTPDaemon.authorized.merging(["Content-Length": String(body.count)]) { $1 }
        )
        try slow.send(Array(body[..<100]))
        // Meanwhile another client is answered in full.
        let quick = try daemon.post(eventLines(5, prefix: "quick"))
        #expect(quick.status == 200)
        #expect(quick.object["accepted"] as? Int == 5)
        for start in stride(from: 100, to: body.count, by: 400) {
            try slow.send(Array(body[start..<min(body.count, start + 400)]))
            Thread.sleep(forTimeInterval: 0.05)  // the client's own pace: what is under test
        }
        let reply = try slow.readReply()
        #expect(reply.status == 200)
        #expect(reply.object["accepted"] as? Int == 30)
        #expect(try storedCount(daemon) == 35)
    }

    @Test func moreClientsThanBodiesHeldAllGetAnswered() throws {
        let daemon = try HTTPDaemon()
        let clients = 20  // more than the 8 bodies the daemon holds at once
        let bodies = (0..<clients).map { Array(eventLines(100, prefix: "c\($0)").utf8) }
        var connections: [RawHTTPConnection] = []
        for body in bodies {
            let connection = try RawHTTPConnection(port: daemon.port)
            try connection.sendHead(
                method: "POST",
                path: "/api/v1/events",
                headers: HTTPDaemon.authorized.merging(["Content-Length": String(body.count)]) { $1 }
            )
            try connection.send(Array(body[..<10]))
            connections.append(connection)
        }
        // Every body is started and none is finished: 8 are held, the other requests wait unread.
        var metrics: PrometheusText?
        for _ in 0..<200 {
            let text = try PrometheusText(parsing: daemon.get("/metrics").text)
            if text.value("selfheal_http_ingest_waiting_requests") == Double(clients - 8) {
                metrics = text
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        #expect(metrics?.value("selfheal_http_ingest_bodies") == 8)
        #expect(metrics?.value("selfheal_http_ingest_waiting_requests") == Double(clients - 8))
        for (connection, body) in zip(connections, bodies) { try connection.send(Array(body[10...])) }
        for connection in connections {
            let reply = try connection.readReply()
            #expect(reply.status == 200)
            #expect(reply.object["accepted"] as? Int == 100)
        }
        #expect(try storedCount(daemon) == clients * 100)
        let after = try PrometheusText(parsing: daemon.get("/metrics").text)
        #expect(after.value("selfheal_http_ingest_bodies") == 0)
    }

    @Test func sigtermCommitsAndAnswersPendingBodies() throws {
        let daemon = try HTTPDaemon()
        let clients = 12
        let replies = Mutex<[HTTPReply?]>(Array(repeating: nil, count: clients))
        let started = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for index in 0..<clients {
            group.enter()
            DispatchQueue.global().async {
                defer { group.leave() }
                let body = Array(eventLines(500, prefix: "t\(index)").utf8)
                guard let connection = try? RawHTTPConnection(port: daemon.port) else { return }
                try? connection.sendHead(
                    method: "POST",
                    path: "/api/v1/events",
                    headers: HTTPDaemon.authorized.merging(["Content-Length": String(body.count)]) { $1 }
                )
                try? connection.send(body)
                started.signal()
                let reply = try? connection.readReply()
                replies.withLock { $0[index] = reply }
            }
        }
        for _ in 0..<clients { started.wait() }
        #expect(daemon.stop() == 0)
        group.wait()
        let answered = replies.withLock { $0 }
        // A body the daemon began reading is committed and answered (200), or refused whole (503); a request
        // still unread in the kernel when SIGTERM came has its connection closed unanswered, nothing stored.
        var accepted = 0
        for reply in answered.compactMap({ $0 }) {
            #expect(reply.status == 200 || reply.status == 503)
            if reply.status == 200 { accepted += reply.object["accepted"] as? Int ?? 0 }
        }
        let stored = try Binary.run([
            "events", "--since", "-1d", "--until", "2100-01-01", "--data-dir", daemon.dataDirectory, "--format",
            "ndjson",
        ])
        #expect(stored.stdout.split(separator: "\n").count == accepted)
        #expect(accepted > 0)
    }

    @Test func socketAndHTTPShareTheWriter() throws {
        let daemon = try HTTPDaemon()
        let client = try IngestClient(socketPath: daemon.socketPath, timeout: 30)
        for index in 0..<10 {
            try client.send(line: "{\"service\":\"sock\",\"kind\":\"retry.attempt\",\"id\":\"s-\(index)\"}")
        }
        let sync = try client.sync()
        #expect(sync.accepted == 10)
        let reply = try daemon.post(eventLines(10, service: "sock", prefix: "s") + eventLines(5, service: "web"))
        #expect(reply.object["accepted"] as? Int == 5)
        #expect(reply.object["duplicates"] as? Int == 10)
        #expect(reply.object["last_seq"] as? Int == 15)
    }
}
