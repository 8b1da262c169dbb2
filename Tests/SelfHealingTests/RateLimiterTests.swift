import SelfHealEvents
import SelfHealingTesting
import Testing

@testable import SelfHealing

@Suite struct RateLimiterTests {
    @Test func presets() {
        #expect(RateLimit.strict == RateLimit(capacity: 10, per: .seconds(60)))
        #expect(RateLimit.normal == RateLimit(capacity: 100, per: .seconds(60)))
        #expect(RateLimit.loose == RateLimit(capacity: 1_000, per: .seconds(60)))
        #expect(RateLimit.hourly == RateLimit(capacity: 1_000, per: .seconds(3_600)))
    }

    @Test func allowsTheBurstThenThrottlesWithRetryAfter() {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter("/api/spam/capture")
        let limiter = RateLimiter(limit: .strict, reporter: reporter, clock: clock)
        for index in 0..<10 {
            #expect(limiter.acquire("user-7") == .allowed(remaining: 9 - index))
        }
        #expect(limiter.acquire("user-7") == .throttled(retryAfter: .seconds(6)))
        clock.advance(by: .seconds(2))
        #expect(limiter.acquire("user-7") == .throttled(retryAfter: .seconds(4)))
        #expect(sink.kinds == ["ratelimit.throttled"])
        let throttled = attributes(sink.events[0])
        #expect(throttled["client"] as? String == "user-7")
        #expect(throttled["limit"] as? Int == 10)
        #expect(throttled["window_s"] as? Int == 60)
    }

    @Test func refillsOverTime() {
        let clock = ManualClock()
        let limiter = RateLimiter(limit: .strict, reporter: recordingReporter().0, clock: clock)
        for _ in 0..<10 { _ = limiter.acquire("a") }
        #expect(!limiter.acquire("a").isAllowed)
        clock.advance(by: .seconds(6))
        #expect(limiter.acquire("a") == .allowed(remaining: 0))
        #expect(!limiter.acquire("a").isAllowed)
        clock.advance(by: .seconds(3_600))
        #expect(limiter.acquire("a") == .allowed(remaining: 9))  // refilled to capacity, never beyond
    }

    @Test func keysAreIndependentAndEpisodesReportOnce() {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let limiter = RateLimiter(limit: RateLimit(capacity: 1, per: .seconds(10)), reporter: reporter, clock: clock)
        #expect(limiter.acquire("a").isAllowed)
        #expect(limiter.acquire("b").isAllowed)
        for _ in 0..<5 { #expect(!limiter.acquire("a").isAllowed) }
        #expect(sink.events.count == 1)
        clock.advance(by: .seconds(10))
        #expect(limiter.acquire("a").isAllowed)
        #expect(!limiter.acquire("a").isAllowed)
        #expect(sink.events.count == 2)
    }

    @Test func runThrowsWhenThrottled() async throws {
        let limiter = RateLimiter(
            limit: RateLimit(capacity: 1, per: .seconds(1)),
            reporter: recordingReporter().0,
            clock: ManualClock()
        )
        #expect(try await limiter.run(key: "k") { 1 } == 1)
        await #expect(throws: RateLimitedError(key: "k", retryAfter: .seconds(1))) {
            try await limiter.run(key: "k") { 1 }
        }
    }

    @Test func forgetsIdleKeysBeyondTheLimit() {
        let clock = ManualClock()
        let limiter = RateLimiter(limit: .strict, reporter: recordingReporter().0, maxKeys: 100, clock: clock)
        for key in 0..<100 { _ = limiter.acquire("k\(key)") }
        clock.advance(by: .seconds(61))
        _ = limiter.acquire("new")
        #expect(limiter.trackedKeys == 1)
        for key in 0..<500 { _ = limiter.acquire("busy\(key)") }
        #expect(limiter.trackedKeys <= 100)
    }

    @Test func disabledAllowsEverything() {
        let (reporter, sink) = recordingReporter()
        let limiter = RateLimiter(limit: .strict, reporter: reporter, isEnabled: false, clock: ManualClock())
        for _ in 0..<100 { #expect(limiter.acquire("a").isAllowed) }
        #expect(sink.events.isEmpty)
    }
}
