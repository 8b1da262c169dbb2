import SelfHealEvents
import SelfHealingTesting
import Synchronization
import Testing

@testable import SelfHealing

@Suite struct CircuitBreakerTests {
    func configuration(consecutive: Int? = 3, probes: Int = 1) -> CircuitBreakerConfiguration {
        var configuration = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: consecutive,
            failureRateThreshold: nil,
            resetTimeout: .seconds(30),
            halfOpenMaxProbes: probes
        )
        configuration.successesToClose = 1
        return configuration
    }

    func fail(_ breaker: CircuitBreaker<ManualClock>, times: Int) async {
        for _ in 0..<times {
            _ = try? await breaker.run { () async throws -> Int in throw TransientError() }
        }
    }

    @Test func opensAfterConsecutiveFailuresAndRejects() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter("assistance-api")
        let breaker = CircuitBreaker(configuration: configuration(), reporter: reporter, clock: clock)
        await fail(breaker, times: 2)
        #expect(breaker.state == .closed)
        await fail(breaker, times: 1)
        #expect(breaker.state == .open)
        #expect(sink.kinds == ["breaker.opened"])
        let opened = attributes(sink.events[0])
        #expect(opened["failures"] as? Int == 3)
        #expect(opened["threshold"] as? Int == 3)
        #expect(opened["reset_ms"] as? Int == 30_000)
        clock.advance(by: .seconds(10))
        for _ in 0..<5 {
            await #expect(throws: CircuitOpenError(component: "assistance-api", retryAfter: .seconds(20))) {
                try await breaker.run { 1 }
            }
        }
        #expect(sink.kinds == ["breaker.opened", "breaker.rejected"])
        #expect(attributes(sink.events[1])["retry_after_ms"] as? Int == 20_000)
    }

    @Test func successResetsConsecutiveCount() async throws {
        let breaker = CircuitBreaker(
            configuration: configuration(),
            reporter: recordingReporter().0,
            clock: ManualClock()
        )
        await fail(breaker, times: 2)
        _ = try await breaker.run { 1 }
        await fail(breaker, times: 2)
        #expect(breaker.state == .closed)
    }

    @Test func failureRateNeedsMinimumCalls() async throws {
        var configuration = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: nil,
            failureRateThreshold: 0.5,
            window: .count(10),
            minimumCalls: 10
        )
        configuration.resetTimeout = .seconds(5)
        let (reporter, sink) = recordingReporter()
        let breaker = CircuitBreaker(configuration: configuration, reporter: reporter, clock: ManualClock())
        // 6 calls, 4 failed: 67% but under the minimum.
        for index in 0..<6 {
            _ = try? await breaker.run { () async throws -> Int in if index < 4 { throw TransientError() } else { 1 } }
        }
        #expect(breaker.state == .closed)
        for _ in 0..<3 { _ = try await breaker.run { 1 } }
        #expect(breaker.state == .closed)
        // The tenth call fails: 5 of 10.
        await fail(breaker, times: 1)
        #expect(breaker.state == .open)
        let opened = attributes(sink.events[0])
        #expect(opened["trigger"] as? String == "failure_rate")
        #expect(opened["failures"] as? Int == 5)
        #expect(opened["calls"] as? Int == 10)
    }

    @Test func countWindowForgetsOldCalls() async throws {
        let configuration = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: nil,
            failureRateThreshold: 0.5,
            window: .count(4),
            minimumCalls: 4
        )
        let breaker = CircuitBreaker(
            configuration: configuration,
            reporter: recordingReporter().0,
            clock: ManualClock()
        )
        await fail(breaker, times: 1)
        for _ in 0..<4 { _ = try await breaker.run { 1 } }
        await fail(breaker, times: 1)
        #expect(breaker.state == .closed)  // 1 of the last 4
    }

    @Test func timeWindowExpiresOldFailures() async throws {
        let clock = ManualClock()
        let configuration = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: nil,
            failureRateThreshold: 0.5,
            window: .time(.seconds(10)),
            minimumCalls: 4
        )
        let breaker = CircuitBreaker(configuration: configuration, reporter: recordingReporter().0, clock: clock)
        await fail(breaker, times: 3)
        clock.advance(by: .seconds(11))
        _ = try await breaker.run { 1 }
        _ = try await breaker.run { 1 }
        _ = try await breaker.run { 1 }
        await fail(breaker, times: 1)
        #expect(breaker.state == .closed)  // the 3 old failures left the window: 1 of 4
        await fail(breaker, times: 1)
        #expect(breaker.state == .closed)  // 2 of 5
        await fail(breaker, times: 1)
        #expect(breaker.state == .open)  // 3 of 6
    }

    @Test func halfOpensAfterTimeoutAndClosesOnSuccess() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let breaker = CircuitBreaker(configuration: configuration(), reporter: reporter, clock: clock)
        await fail(breaker, times: 3)
        clock.advance(by: .seconds(30))
        #expect(try await breaker.run { 42 } == 42)
        #expect(breaker.state == .closed)
        #expect(sink.kinds == ["breaker.opened", "breaker.half_opened", "breaker.closed"])
    }

    @Test func closesAfterEnoughSuccessfulProbes() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        var configuration = configuration(probes: 2)
        configuration.successesToClose = 3
        let breaker = CircuitBreaker(configuration: configuration, reporter: reporter, clock: clock)
        await fail(breaker, times: 3)
        clock.advance(by: .seconds(30))
        for _ in 0..<2 { _ = try await breaker.run { 1 } }
        #expect(breaker.state == .halfOpen)
        _ = try await breaker.run { 1 }
        #expect(breaker.state == .closed)
        #expect(sink.kinds == ["breaker.opened", "breaker.half_opened", "breaker.closed"])
    }

    @Test func failedProbeReopens() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let breaker = CircuitBreaker(configuration: configuration(), reporter: reporter, clock: clock)
        await fail(breaker, times: 3)
        clock.advance(by: .seconds(31))
        await fail(breaker, times: 1)
        #expect(breaker.state == .open)
        #expect(sink.kinds == ["breaker.opened", "breaker.half_opened", "breaker.opened"])
        #expect(attributes(sink.events[2])["trigger"] as? String == "probe")
        clock.advance(by: .seconds(29))
        #expect(throws: CircuitOpenError.self) { try breaker.acquire() }
    }

    @Test func halfOpenAdmitsAtMostTheProbeLimitUnderConcurrency() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let breaker = CircuitBreaker(configuration: configuration(probes: 3), reporter: reporter, clock: clock)
        await fail(breaker, times: 3)
        clock.advance(by: .seconds(30))
        let granted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<2_000 {
                group.addTask { (try? breaker.acquire()) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(granted == 3)
        #expect(sink.events(of: .breakerHalfOpened).count == 1)
        #expect(sink.events(of: .breakerRejected).count == 1)
    }

    @Test func probesThroughRunNeverExceedTheLimit() async throws {
        let clock = ManualClock()
        let breaker = CircuitBreaker(
            configuration: configuration(probes: 2),
            reporter: recordingReporter().0,
            clock: clock
        )
        await fail(breaker, times: 3)
        clock.advance(by: .seconds(30))
        let running = Box((now: 0, most: 0))
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<500 {
                group.addTask {
                    _ = try? await breaker.run { () async throws -> Int in
                        running.withLock {
                            $0.now += 1
                            $0.most = max($0.most, $0.now)
                        }
                        await Task.yield()
                        running.withLock { $0.now -= 1 }
                        throw CancellationError()  // ignored: the permit goes back
                    }
                }
            }
        }
        #expect(running.withLock { $0.most } <= 2)
        #expect(breaker.state == .halfOpen)
    }

    @Test func staleResultsAreIgnored() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let breaker = CircuitBreaker(configuration: configuration(), reporter: reporter, clock: clock)
        let old = try breaker.acquire()  // taken while closed
        await fail(breaker, times: 3)
        breaker.record(old, .success)  // from the closed period: must not close anything
        #expect(breaker.state == .open)
        clock.advance(by: .seconds(30))
        let probe = try breaker.acquire()
        breaker.record(old, .failure)  // still stale in half-open
        #expect(breaker.state == .halfOpen)
        breaker.record(probe, .success)
        #expect(breaker.state == .closed)
        breaker.record(probe, .failure)  // the probe's second report is stale too
        breaker.record(old, .failure)
        await fail(breaker, times: 2)
        #expect(breaker.state == .closed)
        #expect(sink.kinds == ["breaker.opened", "breaker.half_opened", "breaker.closed"])
    }

    @Test func cancelledProbeGivesItsPermitBack() async throws {
        let clock = ManualClock()
        let breaker = CircuitBreaker(configuration: configuration(), reporter: recordingReporter().0, clock: clock)
        await fail(breaker, times: 3)
        clock.advance(by: .seconds(30))
        await #expect(throws: CancellationError.self) {
            try await breaker.run { () async throws -> Int in throw CancellationError() }
        }
        #expect(breaker.state == .halfOpen)
        let permit = try breaker.acquire()
        #expect(permit.isProbe)
        breaker.record(permit, .ignored)
        _ = try breaker.acquire()
        #expect(throws: CircuitOpenError.self) { try breaker.acquire() }
    }

    @Test func disabledBreakerJustRuns() async throws {
        var configuration = configuration()
        configuration.isEnabled = false
        let (reporter, sink) = recordingReporter()
        let breaker = CircuitBreaker(configuration: configuration, reporter: reporter, clock: ManualClock())
        await fail(breaker, times: 10)
        #expect(try await breaker.run { 7 } == 7)
        #expect(sink.events.isEmpty)
    }
}
