import Foundation
import SelfHealEvents
import SelfHealStore
import SelfHealing
import SelfHealingTesting
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The library's socket emitter and `Healing` against the real daemon: restarts, crashes, and a service's story
/// as the store keeps it (SPEC sections 3, 4 and 6).
@Suite(.serialized)
struct EmitterDaemonTests {
    /// A started emitter on the daemon's default socket, with a spill file beside it, quick to reconnect.
    static func emitter(
        _ directory: TemporaryDirectory,
        idPrefix: String,
        maxBatch: Int = 100,
        replyTimeout: Duration = .seconds(5)
    ) -> SocketEventEmitter {
        var configuration = SocketEmitterConfiguration(
            socketPath: directory.path + "/ingest.sock",
            spillPath: directory.path + "/spill.ndjson"
        )
        configuration.idPrefix = idPrefix
        configuration.maxBatch = maxBatch
        // Big enough that `emit` never overflows into the spill file on the caller's path.
        configuration.queueCapacity = 100_000
        configuration.idleWait = .milliseconds(20)
        configuration.reconnectInitialDelay = .milliseconds(5)
        configuration.reconnectMaxDelay = .milliseconds(20)
        configuration.replyTimeout = replyTimeout
        let emitter = SocketEventEmitter(configuration: configuration)
        emitter.start()
        return emitter
    }

    static func event(_ number: Int) -> Event {
        Event(service: "portal", kind: .batchCompleted, component: "spam-capture", message: "batch \(number)")
    }

    /// The ids the emitter gives events `range` (it numbers them in emission order).
    static func ids(_ prefix: String, _ range: ClosedRange<Int>) -> [String] { range.map { "\(prefix)-\($0)" } }

    /// The ids of the lines waiting in the emitter's spill file, in order.
    static func spilledIDs(_ emitter: SocketEventEmitter) throws -> [String] {
        let spill = try #require(emitter.spill)
        return try spill.peek(maxLines: 100_000).lines.map { line in
            guard case .event(let event) = try WireDecoder.decode(line) else { return "not an event: \(line)" }
            return event.id ?? "no id: \(line)"
        }
    }

    /// Checks `condition` every 0.2 ms until it holds; `false` when `timeout` passed first.
    static func poll(timeout: Duration = .seconds(10), until condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !condition() {
            if ContinuousClock.now >= deadline { return false }
            usleep(200)
        }
        return true
    }

    @Test func eventsSpilledWhileTheDaemonIsStoppedAreReplayedOnceItIsBack() throws {
        let directory = try TemporaryDirectory()
        var daemon = try DaemonProcess(dataDirectory: directory.path)
        let emitter = Self.emitter(directory, idPrefix: "restart")
        defer { emitter.shutdown(timeout: .seconds(5)) }
        let (before, during) = (300, 200)
        for number in 1...before { emitter.emit(Self.event(number)) }
        #expect(emitter.waitUntilDelivered(timeout: .seconds(10)))
        #expect(emitter.currentStatistics.accepted == before)

        #expect(daemon.stop(signal: SIGTERM) == 0)
        let start = ContinuousClock.now
        for number in (before + 1)...(before + during) { emitter.emit(Self.event(number)) }
        // The daemon is gone: emit does not wait for it. A guard against emit blocking (each of the 200 would
        // wait for a reconnect or a reply, 5 s), not a speed figure: loose enough for the sanitizers and a
        // loaded machine (TSan took 1.9 s here once).
        #expect(start.duration(to: .now) < .seconds(5))
        #expect(emitter.flush(timeout: .seconds(10)))  // every event is now confirmed or spilled
        #expect(try Self.spilledIDs(emitter) == Self.ids("restart", (before + 1)...(before + during)))
        var statistics = emitter.currentStatistics
        #expect(statistics.spilled == during)
        #expect(statistics.dropped == 0)
        #expect(!statistics.isConnected)

        // A new daemon on the same directory and socket: the emitter reconnects by itself and replays.
        daemon = try DaemonProcess(dataDirectory: directory.path)
        #expect(emitter.waitUntilDelivered(timeout: .seconds(10)))
        statistics = emitter.currentStatistics
        #expect(statistics.replayed == during)
        #expect(statistics.accepted == before + during)
        #expect(statistics.duplicates == 0 && statistics.rejected == 0 && statistics.dropped == 0)
        #expect(emitter.spill?.isEmpty == true)
        #expect(daemon.stop() == 0)

        let stored = try DaemonTests.storedEvents(directory.path)
        #expect(stored.map(\.seq) == Array(1...Int64(before + during)))
        // Each event once, in the order emitted: the replay came after what was sent before the stop.
        #expect(stored.map(\.event.id) == Self.ids("restart", 1...(before + during)))
        #expect(stored.map(\.event.message) == (1...(before + during)).map { "batch \($0)" })
    }

    /// SIGKILL is a crash; SIGTERM a graceful stop, which must not lose or double anything either.
    @Test(arguments: [SIGKILL, SIGTERM])
    func aDaemonStoppedMidStreamLosesNothingAcknowledgedAndStoresNothingTwice(signal: Int32) throws {
        let directory = try TemporaryDirectory()
        var daemon = try DaemonProcess(dataDirectory: directory.path)
        let emitter = Self.emitter(directory, idPrefix: "stream", maxBatch: 50)
        defer { emitter.shutdown(timeout: .seconds(5)) }
        let (streamed, afterStop) = (3_000, 500)
        let total = streamed + afterStop
        for number in 1...streamed { emitter.emit(Self.event(number)) }
        // Stopped while the writer streams: some batches acknowledged, one perhaps committed but not yet
        // acknowledged, the rest still queued. (A batch is 50 events followed by a sync.)
        #expect(Self.poll { emitter.currentStatistics.accepted >= 500 })
        let status = daemon.stop(signal: signal)
        if signal == SIGKILL {
            #expect(daemon.terminationReason == .uncaughtSignal)
        } else {
            #expect(daemon.terminationReason == .exit && status == 0)
        }
        #expect(emitter.flush(timeout: .seconds(10)))  // every event is now acknowledged or spilled
        let acknowledged = emitter.currentStatistics.accepted
        #expect(acknowledged >= 500 && acknowledged < streamed)
        #expect(acknowledged + emitter.currentStatistics.spilled == streamed)
        #expect(try Self.spilledIDs(emitter) == Self.ids("stream", (acknowledged + 1)...streamed))

        // The store kept every acknowledged event, in order, and perhaps a few committed but not answered.
        let survived = try DaemonTests.storedEvents(directory.path)
        #expect(survived.count >= acknowledged)
        #expect(survived.map(\.event.id) == Self.ids("stream", 1...survived.count))
        #expect(survived.map(\.seq) == Array(1...Int64(survived.count)))

        // More events while no daemon runs, then a new one on the same directory and socket (after SIGKILL, the
        // stale socket file is replaced).
        for number in (streamed + 1)...total { emitter.emit(Self.event(number)) }
        #expect(emitter.flush(timeout: .seconds(10)))
        daemon = try DaemonProcess(dataDirectory: directory.path)
        #expect(emitter.waitUntilDelivered(timeout: .seconds(20)))
        let statistics = emitter.currentStatistics
        #expect(statistics.replayed == total - acknowledged)
        // Replayed events the stopped daemon had committed are counted as duplicates, not stored again.
        #expect(statistics.duplicates == survived.count - acknowledged)
        #expect(statistics.accepted + statistics.duplicates == total)
        #expect(statistics.rejected == 0 && statistics.dropped == 0)
        #expect(daemon.stop() == 0)

        let stored = try DaemonTests.storedEvents(directory.path)
        #expect(stored.map(\.seq) == Array(1...Int64(total)))
        #expect(stored.map(\.event.id) == Self.ids("stream", 1...total))
    }

    @Test func anEventCommittedButNeverAcknowledgedIsReplayedWithoutBeingStoredTwice() throws {
        let directory = try TemporaryDirectory()
        let socketPath = directory.path + "/ingest.sock"
        var daemon = try DaemonProcess(dataDirectory: directory.path)
        let emitter = Self.emitter(directory, idPrefix: "lost", replyTimeout: .seconds(1))
        defer { emitter.shutdown(timeout: .seconds(5)) }
        for number in 1...200 { emitter.emit(Self.event(number)) }
        #expect(emitter.waitUntilDelivered(timeout: .seconds(10)))
        let before = emitter.currentStatistics

        // The daemon freezes with the emitter connected, and its socket path is hidden so that the emitter cannot
        // reconnect to it. The next event is written with its sync, which is not answered in time: the emitter
        // gives up on the connection and spills the event. The events after it go to the spill file directly.
        #expect(rename(socketPath, directory.path + "/hidden.sock") == 0)
        kill(daemon.pid, SIGSTOP)
        #expect(Self.poll { Self.processState(daemon.pid) == "T" })
        emitter.emit(Self.event(201))
        #expect(emitter.flush(timeout: .seconds(10)))  // returns after the reply timeout
        for number in 202...250 { emitter.emit(Self.event(number)) }
        #expect(emitter.flush(timeout: .seconds(10)))
        #expect(try Self.spilledIDs(emitter) == Self.ids("lost", 201...250))
        #expect(emitter.currentStatistics.accepted == before.accepted)

        // The daemon wakes, reads the line the emitter gave up on, commits it, and is killed before anyone
        // learns of it.
        kill(daemon.pid, SIGCONT)
        let store = try EventStore(StoreConfiguration(path: directory.path + "/events.db"))
        #expect(Self.poll { (try? store.lastSeq()) == 201 })
        daemon.stop(signal: SIGKILL)

        // The emitter replays everything to a new daemon, which recognises the event it already has.
        daemon = try DaemonProcess(dataDirectory: directory.path)
        #expect(emitter.waitUntilDelivered(timeout: .seconds(10)))
        let after = emitter.currentStatistics
        #expect(after.replayed - before.replayed == 50)
        #expect(after.duplicates - before.duplicates == 1)
        #expect(after.accepted - before.accepted == 49)
        #expect(after.dropped == 0)
        #expect(daemon.stop() == 0)

        let stored = try DaemonTests.storedEvents(directory.path)
        #expect(stored.map(\.seq) == Array(1...250))
        #expect(stored.map(\.event.id) == Self.ids("lost", 1...250))
    }

    /// The state letter of a process (`R`, `S`, `T` for stopped...), from `/proc/PID/stat`.
    static func processState(_ pid: Int32) -> String? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.range(of: ") ", options: .backwards)
        else { return nil }
        return stat[end.upperBound...].first.map(String.init)
    }

    @Test func aHealedServiceTellsItsStoryToTheDaemon() async throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        let emitter = Self.emitter(directory, idPrefix: "story")
        defer { emitter.shutdown(timeout: .seconds(5)) }
        let clock = ManualClock()
        let service = AssistanceService(healing: AssistanceService.healing(sink: emitter, clock: clock))

        // Boot: the assistance API answers, and the answer is kept for the fallback.
        let boot = try await service.requests { ["request 1", "request 2"] }
        #expect(!boot.isCached)
        // The API goes down for two calls: two attempts fail and open the breaker, which refuses the third;
        // the list is served from the cache.
        let api = FlakyDependency(failures: 2)
        let outage = try await service.requests { try api.call() }
        #expect(outage.isCached && outage.value == ["request 1", "request 2"])
        #expect(outage.age == .seconds(3))  // the retry delays, 1 s then 2 s, on the manual clock
        #expect(api.callCount == 2)
        // Still open: the cache answers without calling the API.
        #expect(try await service.requests { try api.call() }.isCached)
        #expect(api.callCount == 2)
        // After the reset timeout a probe goes through, succeeds, and closes the breaker.
        clock.advance(by: .seconds(30))
        let recovered = try await service.requests { try api.call() }
        #expect(!recovered.isCached && recovered.value == ["fresh list after 3 calls"])
        // A single blip later is simply retried.
        let blip = FlakyDependency(failures: 1)
        #expect(try await !service.requests { try blip.call() }.isCached)
        #expect(clock.sleeps == [.seconds(1), .seconds(2), .seconds(1)])

        #expect(emitter.waitUntilDelivered(timeout: .seconds(10)))
        #expect(daemon.stop() == 0)
        let result = try SelfHealBinary.run([
            // The events carry the manual clock's time (it starts at 2025-11-25T08:00:00Z), not the wall clock's.
            "events", "--data-dir", directory.path, "--since", "2025-11-25T00:00:00Z",
            "--until", "2025-11-26T00:00:00Z", "--format", "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let events = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        )
        #expect(
            events.map { $0["kind"] as? String } == [
                "retry.attempt", "breaker.opened", "retry.attempt", "breaker.rejected", "fallback.served",
                "fallback.served",
                "breaker.half_opened", "breaker.closed",
                "retry.attempt", "retry.succeeded",
            ]
        )
        #expect(events.map { $0["seq"] as? Int } == Array(1...10))
        #expect(events.map { $0["id"] as? String } == Self.ids("story", 1...10))
        #expect(events.allSatisfy { $0["service"] as? String == "portal" })
        #expect(events.allSatisfy { $0["component"] as? String == "assistance-api" })
        #expect(
            events.map { $0["level"] as? String } == [
                "info", "warning", "info", "info", "warning", "warning", "info", "info", "info", "info",
            ]
        )
        let attrs = events.map { $0["attrs"] as? [String: Any] ?? [:] }
        #expect(attrs[0]["attempt"] as? Int == 2 && attrs[0]["delay_ms"] as? Int == 1_000)
        #expect(attrs[1]["failures"] as? Int == 2 && attrs[1]["reset_ms"] as? Int == 30_000)
        #expect(attrs[2]["attempt"] as? Int == 3 && attrs[2]["delay_ms"] as? Int == 2_000)
        #expect(attrs[3]["retry_after_ms"] as? Int == 28_000)  // opened at 1 s for 30 s, refused at 3 s
        #expect(attrs[4]["cache_age_ms"] as? Int == 3_000 && attrs[5]["cache_age_ms"] as? Int == 3_000)
        #expect(attrs[9]["attempts"] as? Int == 2)
        // The incidents the daemon derived (SPEC section 5): the outage, resolved when the breaker closed,
        // and the blip, resolved by the retry.
        let listed = try SelfHealBinary.run([
            "incidents", "--data-dir", directory.path, "--since", "2025-11-25T00:00:00Z",
            "--until", "2025-11-26T00:00:00Z", "--format", "json",
        ])
        #expect(listed.status == 0, "\(listed.stderr)")
        let incidents = try #require(
            try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]]
        )
        #expect(incidents.count == 2)
        #expect(incidents.map { $0["state"] as? String } == ["resolved", "resolved"])
        #expect(incidents.map { $0["component"] as? String } == ["assistance-api", "assistance-api"])
        #expect(incidents.map { $0["event_count"] as? Int } == [8, 2])
        #expect(incidents.map { $0["peak_level"] as? String } == ["warning", "info"])
        // Recovery times as the manual clock measured them: the outage from 0 s to 33 s, the blip 1 s.
        #expect(incidents.map { ($0["recovery_ms"] as? NSNumber)?.intValue } == [33_000, 1_000])
        #expect(
            incidents.map { $0["actions"] as? [String] } == [
                ["breaker.half_opened", "breaker.opened", "breaker.rejected", "fallback.served", "retry.attempt"],
                ["retry.attempt"],
            ]
        )
    }
}

/// A small service: the managers' assistance list, read from an API through `Healing`.
private struct AssistanceService {
    let healing: Healing<ManualClock>

    /// Retries twice (1 s, then 2 s, no jitter), opens after two failures in a row for 30 s, no retry budget,
    /// and the switches' defaults rather than the environment's.
    static func healing(sink: any EventSink, clock: ManualClock) -> Healing<ManualClock> {
        var configuration = HealingConfiguration()
        configuration.flags = FeatureFlags()
        configuration.retry = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1), jitter: .none)
        configuration.retryBudget = nil
        configuration.breaker = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: 2,
            failureRateThreshold: nil,
            resetTimeout: .seconds(30)
        )
        return Healing(service: "portal", sink: sink, configuration: configuration, clock: clock)
    }

    /// The open assistance requests, from `api`, or from the cache when it fails.
    func requests(
        from api: @escaping @Sendable () throws -> [String]
    ) async throws -> FallbackResult<[String]> {
        try await healing.runWithDetails("assistance-api", cacheKey: "open-requests") { try api() }
    }
}

/// A dependency that fails its first `failures` calls, then answers.
private final class FlakyDependency: Sendable {
    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "assistance API unavailable (503)" }
    }

    let failures: Int
    private let calls = Mutex(0)

    init(failures: Int) { self.failures = failures }

    var callCount: Int { calls.withLock { $0 } }

    func call() throws -> [String] {
        let number = calls.withLock { calls in
            calls += 1
            return calls
        }
        if number <= failures { throw Unavailable() }
        return ["fresh list after \(number) calls"]
    }
}
