import Foundation
import GRDB
import Synchronization
import Testing

/// The writer's queue full, over real HTTP against a real daemon: its writer is stuck behind another
/// connection's write lock on the store (as a stuck disk or a long maintenance transaction would hold it), so
/// bodies pile up. The daemon holds at most 8 bodies, the other requests wait unread, and a body that finds no
/// room in the queue for the wait is `503` with `Retry-After`, nothing of it stored.
@Suite struct BackpressureTests {
    /// The queue's capacity in events (the daemon's default): a body of that many fits only an empty queue.
    static let queueCapacity = 8_192

    // Under a sanitizer the 14 bodies of 8,192 events take longer to arrive than the writer's busy timeout (10 s),
    // so the moment this test is about (every request in while the writer still waits) never comes.
    @Test(
        .disabled(
            if: ProcessInfo.processInfo.environment["SELFHEAL_SANITIZER"] != nil,
            "too slow under a sanitizer for the writer's 10 s busy timeout"
        )
    )
    func bodiesThatFindTheQueueFullAre503WithRetryAfterAndNothingStored() throws {
        // A short wait (hidden test option) keeps the test short; the daemon's default is 5 s.
        let wait = 1.5
        let daemon = try HTTPDaemon(arguments: ["--http-queue-wait", String(wait)])
        var settings = Configuration()
        settings.allowsUnsafeTransactions = true  // the lock is held across accesses: that is the point
        let blocker = try DatabaseQueue(path: daemon.directory.file("events.db"), configuration: settings)
        try blocker.writeWithoutTransaction { try $0.execute(sql: "BEGIN IMMEDIATE") }
        let locked = Mutex(true)
        let unlock = {
            let wasLocked = locked.withLock { held in
                let was = held
                held = false
                return was
            }
            guard wasLocked else { return }
            try? blocker.writeWithoutTransaction { try $0.execute(sql: "ROLLBACK") }
        }
        defer { unlock() }

        // 14 clients, each a body the size of the whole queue: one reaches the writer (which waits for the lock),
        // one fills the queue, 6 more are held waiting for room, 6 wait unread.
        let clients = 14
        let replies = Mutex<[Int: (reply: HTTPReply, seconds: Double)]>([:])
        let group = DispatchGroup()
        for client in 0..<clients {
            group.enter()
            // A thread each (not the dispatch pool, which starts few at once): every request arrives together.
            Thread {
                defer { group.leave() }
                let body = Array(eventLines(Self.queueCapacity, service: "client-\(client)").utf8)
                let started = ContinuousClock.now
                guard let connection = try? RawHTTPConnection(port: daemon.port, timeoutSeconds: 60),
                    (try? connection.sendHead(
                        method: "POST",
                        path: "/api/v1/events",
                        headers: HTTPDaemon.authorized.merging(["Content-Length": String(body.count)]) { $1 }
                    )) != nil, (try? connection.send(body)) != nil, let reply = try? connection.readReply()
                else { return }
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                replies.withLock { $0[client] = (reply, seconds) }
            }.start()
        }

        // While the writer is stuck: never more than 8 bodies held; once every request is in, 8 held, 6 waiting.
        var sawBound = false
        var mostHeld = 0.0
        let deadline = ContinuousClock.now + .seconds(60)
        while replies.withLock({ $0.count }) < clients - 2 && ContinuousClock.now < deadline {
            let metrics = try PrometheusText(parsing: daemon.get("/metrics").text)
            let held = metrics.value("selfheal_http_ingest_bodies") ?? -1
            let waiting = metrics.value("selfheal_http_ingest_waiting_requests") ?? -1
            mostHeld = max(mostHeld, held)
            if held == 8 && waiting == Double(clients - 8) { sawBound = true }
            Thread.sleep(forTimeInterval: 0.02)  // the pace of the look, not a wait for a result
        }
        #expect(sawBound)
        #expect(mostHeld == 8)

        // On a slow machine (a sanitizer, the whole suite at once) the writer may give up on the lock first: after
        // its busy timeout (10 s) the body it holds is answered `503` with the failed sync reply, and nothing of
        // it is stored either.
        func failedCommit(_ reply: HTTPReply) -> Bool {
            reply.object["ok"] as? Bool == false
                && (reply.object["error"] as? String)?.contains("cannot commit") == true
        }
        let refused = replies.withLock { $0 }
        #expect(refused.count >= clients - 2)
        for (_, answer) in refused {
            #expect(answer.reply.status == 503)
            #expect(answer.reply.header("Retry-After") == "5")
            if !failedCommit(answer.reply) {
                #expect((answer.reply.object["error"] as? String)?.contains("queue stayed full") == true)
                #expect(answer.seconds >= wait)
            }
        }
        // The lock goes: the writer commits the two bodies it had, and answers them.
        unlock()
        group.wait()
        let all = replies.withLock { $0 }
        let accepted = all.filter { $0.value.reply.status == 200 }
        let failed = all.filter { failedCommit($0.value.reply) }
        #expect(all.count == clients)
        #expect(accepted.count + failed.count == 2)
        for (_, answer) in accepted { #expect(answer.reply.object["accepted"] as? Int == Self.queueCapacity) }
        // Exactly the accepted bodies are stored, nothing of a refused one.
        for client in 0..<clients {
            let stored = try daemon.get("/api/v1/stats?since=-1d&until=2100-01-01&service=client-\(client)")
            let expected = all[client]?.reply.status == 200 ? Self.queueCapacity : 0
            #expect(stored.object["events"] as? Int == expected, "client \(client)")
        }
    }
}
