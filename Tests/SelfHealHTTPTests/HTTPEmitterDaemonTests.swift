import Foundation
import SelfHealEvents
import SelfHealing
import Testing

/// The library's HTTP emitter (`EmitterConfiguration(httpURL:token:spillPath:)`, `HTTPIngestClient`) against the
/// daemon's real HTTP ingest (SPEC section 9): a `selfheal serve --http` process, events checked through
/// `selfheal events --format json`.
@Suite(.serialized)
struct HTTPEmitterDaemonTests {
    /// 2025-11-25T08:00:00Z: the events' time, so the read below has a fixed range.
    static let morning: Int64 = 1_764_057_600_000

    /// A started HTTP emitter posting to the daemon on `port`, quick to reconnect, with a spill file.
    static func emitter(port: Int, token: String, spill: String, idPrefix: String) -> EventEmitter {
        var configuration = EmitterConfiguration(
            httpURL: "http://127.0.0.1:\(port)/api/v1/events",
            token: token,
            spillPath: spill
        )
        configuration.idPrefix = idPrefix
        configuration.maxBatch = 50
        configuration.queueCapacity = 100_000
        configuration.idleWait = .milliseconds(20)
        configuration.reconnectInitialDelay = .milliseconds(5)
        configuration.reconnectMaxDelay = .milliseconds(50)
        let emitter = EventEmitter(configuration: configuration)
        emitter.start()
        return emitter
    }

    static func event(_ number: Int) -> Event {
        Event(
            service: "portal",
            kind: .batchCompleted,
            component: "spam-capture",
            timestamp: morning + Int64(number),
            message: "batch \(number)"
        )
    }

    /// The events the store holds for that morning, as `selfheal events --format json` lists them.
    static func stored(_ directory: String) throws -> [[String: Any]] {
        let result = try Binary.run([
            "events", "--data-dir", directory, "--since", "2025-11-25T00:00:00Z", "--until", "2025-11-26T00:00:00Z",
            "--format", "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
    }

    @Test func eventsPostedWithTheTokenAreStoredOnceSpilledWhileTheDaemonIsAwayAndReplayedOnce() throws {
        let directory = try ScratchDirectory()
        var daemon = try HTTPDaemon(directory: directory)
        let port = daemon.port
        let emitter = Self.emitter(
            port: port,
            token: HTTPDaemon.token,
            spill: directory.file("spill.ndjson"),
            idPrefix: "http"
        )
        defer { emitter.shutdown(timeout: .seconds(5)) }
        for number in 1...120 { emitter.emit(Self.event(number)) }
        #expect(emitter.waitUntilDelivered(timeout: .seconds(20)))
        #expect(emitter.currentStatistics.accepted == 120)

        // The daemon stops: the emitter's posts fail, the events go to the spill file, `emit` does not wait.
        #expect(daemon.stop() == 0)
        let start = ContinuousClock.now
        for number in 121...200 { emitter.emit(Self.event(number)) }
        #expect(start.duration(to: .now) < .seconds(1))
        #expect(emitter.flush(timeout: .seconds(20)))
        #expect(emitter.currentStatistics.spilled == 80)
        #expect(emitter.currentStatistics.lastError != nil)

        // Back on the same data directory and port (the emitter's URL): the spill file is replayed once, in order.
        daemon = try HTTPDaemon(directory: directory, http: "127.0.0.1:\(port)")
        #expect(daemon.port == port)
        #expect(emitter.waitUntilDelivered(timeout: .seconds(20)))
        let statistics = emitter.currentStatistics
        #expect(statistics.replayed == 80 && statistics.accepted == 200)
        #expect(statistics.duplicates == 0 && statistics.rejected == 0 && statistics.dropped == 0)
        #expect(daemon.stop() == 0)

        let events = try Self.stored(directory.path)
        #expect(events.map { $0["id"] as? String } == (1...200).map { "http-\($0)" })
        #expect(events.map { $0["message"] as? String } == (1...200).map { "batch \($0)" })
        #expect(events.map { $0["seq"] as? Int } == Array(1...200))
        #expect(
            events.allSatisfy { $0["service"] as? String == "portal" && $0["kind"] as? String == "batch.completed" }
        )
    }

    @Test func aWrongTokenIsReportedClearlyAndTheEventsWaitInTheSpillFile() throws {
        let directory = try ScratchDirectory()
        let daemon = try HTTPDaemon(directory: directory)
        let spill = directory.file("spill.ndjson")
        let emitter = Self.emitter(port: daemon.port, token: "not-the-token", spill: spill, idPrefix: "wrong")
        for number in 1...10 { emitter.emit(Self.event(number)) }
        #expect(emitter.flush(timeout: .seconds(20)))
        let statistics = emitter.currentStatistics
        #expect(statistics.accepted == 0 && statistics.spilled == 10)
        let error = try #require(statistics.lastError)
        #expect(error.contains("401") && error.contains("token"), "\(error)")
        #expect(emitter.shutdown(timeout: .seconds(5)))
        #expect(daemon.stop() == 0)
        #expect(try Self.stored(directory.path).isEmpty)

        // The events were kept: an emitter with the right token replays them from the spill file, once.
        let again = try HTTPDaemon(directory: directory)
        let fixed = Self.emitter(port: again.port, token: HTTPDaemon.token, spill: spill, idPrefix: "fixed")
        #expect(fixed.waitUntilDelivered(timeout: .seconds(20)))
        #expect(fixed.currentStatistics.replayed == 10)
        #expect(fixed.shutdown(timeout: .seconds(5)))
        #expect(again.stop() == 0)
        #expect(try Self.stored(directory.path).map { $0["id"] as? String } == (1...10).map { "wrong-\($0)" })
    }
}
