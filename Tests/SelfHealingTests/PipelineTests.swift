import Foundation
import SelfHealEvents
import SelfHealingTesting
import Synchronization
import Testing

@testable import SelfHealing

/// A sink that reads the breaker's state while an event is emitted: deadlocks if events were emitted under a lock.
final class StateReadingSink: EventSink {
    let seen = Mutex<[String]>([])
    let breaker = Mutex<CircuitBreaker<ManualClock>?>(nil)

    func emit(_ event: consuming Event) {
        let event = event
        let state = breaker.withLock { $0 }?.state.rawValue ?? "none"
        seen.withLock { $0.append("\(event.kind.name):\(state)") }
    }
}

@Suite struct BreakerTimerTests {
    @Test func anIdleOpenBreakerHalfOpensOnItsTimerAndEventsAreEmittedOutsideTheLock() async throws {
        let clock = ManualClock()
        let sink = StateReadingSink()
        let breaker = CircuitBreaker(
            configuration: CircuitBreakerConfiguration(
                consecutiveFailureThreshold: 1,
                failureRateThreshold: nil,
                resetTimeout: .seconds(30)
            ),
            reporter: EventReporter(sink: sink, service: "portal", component: "openai"),
            clock: clock
        )
        sink.breaker.withLock { $0 = breaker }
        _ = try? await breaker.run { throw TransientError() }
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(29))
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(1))
        #expect(breaker.state == .halfOpen)  // nobody called: the timer moved it
        #expect(try await breaker.run { 1 } == 1)
        #expect(
            sink.seen.withLock { $0 } == [
                "breaker.opened:open", "breaker.half_opened:half_open", "breaker.closed:closed",
            ]
        )
    }

    @Test func slowCallsOpenTheBreakerAndIsolateAndResetWorkByHand() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter("reports-db")
        var configuration = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: nil,
            failureRateThreshold: nil,
            minimumCalls: 4
        )
        configuration.slowCallDuration = .seconds(2)
        configuration.slowCallRateThreshold = 0.5
        let breaker = CircuitBreaker(configuration: configuration, reporter: reporter, clock: clock)
        for slow in [false, true, false, true] {
            _ = try await breaker.run {
                if slow { clock.advance(by: .seconds(3)) }
                return 0
            }
        }
        #expect(breaker.state == .open)
        #expect(attributes(try #require(sink.events.first))["trigger"] as? String == "slow_call_rate")
        breaker.reset()
        #expect(breaker.state == .closed)
        breaker.isolate()
        clock.advance(by: .seconds(3_600))
        #expect(throws: CircuitOpenError.self) { try breaker.acquire() }
        #expect(breaker.snapshot.isIsolated)
        breaker.reset()
        #expect(try await breaker.run { 2 } == 2)
        #expect(
            sink.kinds == ["breaker.opened", "breaker.closed", "breaker.opened", "breaker.rejected", "breaker.closed"]
        )
    }

    @Test func switchedOffTheBreakerAlsoGivesPermitsThroughAcquire() throws {
        let (reporter, _) = recordingReporter()
        let flags = FeatureFlags.fromEnvironment(["SELF_HEALING_CIRCUIT_BREAKER": "0"])
        let breaker = CircuitBreaker(
            configuration: flags.applied(
                to: CircuitBreakerConfiguration(consecutiveFailureThreshold: 1, failureRateThreshold: nil)
            ),
            reporter: reporter,
            clock: ManualClock()
        )
        for _ in 0..<5 { breaker.record(try breaker.acquire(), .failure) }
        #expect(breaker.state == .closed)
    }
}

@Suite struct PipelineTests {
    @Test func layersRunInTheChosenOrderAndSnapshotsShowThem() async throws {
        let clock = ManualClock()
        let sink = RecordingEventSink()
        let healing = Healing(service: "portal", sink: sink, configuration: HealingConfiguration(), clock: clock)
        healing.configure("openai") { settings in
            settings.order = [.bulkhead, .retry, .circuitBreaker]
            settings.bulkhead = BulkheadConfiguration(maxConcurrent: 2, maxQueue: 0)
            settings.retry = RetryPolicy(maxAttempts: 2, initialDelay: .seconds(1), jitter: .none)
            settings.fallback = nil
        }
        let flaky = FlakyDependency(failures: 1)
        #expect(try await healing.run("openai") { try flaky.call() } == "fresh #2")
        let snapshot = try #require(healing.snapshots.first { $0.component == "openai" })
        #expect(snapshot.layers.count == 2)
        guard case .bulkhead(let bulkhead) = snapshot.layers[0], case .breaker(let breaker) = snapshot.layers[1] else {
            Issue.record("layers out of order: \(snapshot.layers)")
            return
        }
        #expect(bulkhead.inFlight == 0 && bulkhead.maxConcurrent == 2)
        #expect(breaker.calls == 2 && breaker.failures == 1)
        healing.isolate("openai")
        await #expect(throws: CircuitOpenError.self) { try await healing.run("openai") { 1 } }
        healing.reset("openai")
        #expect(try await healing.run("openai") { 1 } == 1)
    }

    @Test func theFallbackNeedsAKeyKeepsKeysApartAndIsBounded() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter("assistance")
        var configuration = FallbackConfiguration(maxEntries: 2, maxAge: .seconds(60))
        configuration.rule = .standard
        let fallback = Fallback<String, ManualClock>(configuration: configuration, reporter: reporter, clock: clock)
        _ = try await fallback.run(key: "user-1") { "list of user 1" }
        _ = try await fallback.run(key: "user-2") { "list of user 2" }
        let served = try await fallback.run(key: "user-1") { throw TransientError() }
        #expect(served.isCached && served.value == "list of user 1")
        // Another user never gets user 1's data.
        await #expect(throws: TransientError.self) { try await fallback.run(key: "user-3") { throw TransientError() } }
        // A 404 is not hidden.
        await #expect(throws: HTTPError.self) {
            try await fallback.run(key: "user-2") { throw HTTPError(statusCode: 404) }
        }
        // Bounded: a third key pushes out the least recently used (user-2; user-1 was just read).
        _ = try await fallback.run(key: "user-4") { "list of user 4" }
        #expect(fallback.count <= 2)
        #expect(fallback.cached(key: "user-2") == nil)
        // Aged out.
        clock.advance(by: .seconds(61))
        #expect(fallback.cached(key: "user-1") == nil)
        #expect(sink.kinds == ["fallback.served", "recovery.succeeded"])
    }

    @Test func aComputedFallbackAnswersWhenNothingIsCached() async throws {
        let (reporter, sink) = recordingReporter("recommendations")
        let fallback = Fallback<[String], ManualClock>(reporter: reporter, clock: ManualClock()) { _ in ["popular"] }
        let result = try await fallback.run(key: "user-9") { throw TransientError() }
        #expect(result.value == ["popular"] && result.isCached)
        #expect(attributes(try #require(sink.events.first))["source"] as? String == "computed")
    }

    @Test func hedgingStartsASecondAttemptAfterTheDelayAndTheFirstAnswerWins() async throws {
        let clock = ManualClock()
        let pipeline = PipelineBuilder(
            component: "search",
            reporter: recordingReporter().0,
            flags: FeatureFlags(),
            clock: clock
        )
        .hedging(delay: .milliseconds(100))
        .build()
        let attempts = Mutex(0)
        let answer = try await pipeline.run {
            let attempt = attempts.withLock {
                $0 += 1
                return $0
            }
            if attempt == 1 {
                // The first attempt stalls; moving the clock past the delay starts the hedge, which answers.
                clock.advance(by: .milliseconds(100))
                try await Task.sleep(for: .seconds(3_600))
            }
            return "attempt \(attempt)"
        }
        #expect(answer == "attempt 2")
    }
}

@Suite struct LogLineTests {
    @Test func theLogSinkWritesTheWireLineAfterTheMarker() throws {
        let event = Event(service: "portal", kind: .poolWarning, component: "db-pool", timestamp: 1_764_063_620_200)
        let line = LogEventSink.line(for: event)
        #expect(line.hasPrefix("[SELF-HEAL] {"))
        guard case .event(let decoded) = try WireDecoder.decode(String(line.dropFirst("[SELF-HEAL] ".count))) else {
            Issue.record("not an event")
            return
        }
        #expect(decoded == event)
    }
}
