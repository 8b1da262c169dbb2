import SelfHealEvents
import SelfHealingTesting
import Testing

@testable import SelfHealing

@Suite struct FeatureFlagsTests {
    @Test func readsTheEnvironment() {
        #expect(FeatureFlags.fromEnvironment([:]) == FeatureFlags())
        let flags = FeatureFlags.fromEnvironment([
            "SELF_HEALING_RETRY": "false", "SELF_HEALING_CIRCUIT_BREAKER": "0", "SELF_HEALING_MAX_RETRIES": "5",
            "SELF_HEALING_FALLBACK": "Off", "SELF_HEALING_BULKHEAD": "yes",
        ])
        #expect(!flags.retry && !flags.circuitBreaker && !flags.fallback)
        #expect(flags.bulkhead && flags.enabled)
        #expect(flags.maxRetries == 5)
        #expect(flags.applied(to: RetryPolicy()).maxAttempts == 6)
        #expect(!flags.applied(to: RetryPolicy()).isEnabled)
        let off = FeatureFlags.fromEnvironment(["SELF_HEALING_ENABLED": "no"])
        #expect(!off.enabled && !off.retry && !off.circuitBreaker && !off.events && !off.transitions)
        #expect(!off.applied(to: RecordingEventSink()).isEnabled)
    }
}

@Suite struct HealingTests {
    func healing(
        _ sink: RecordingEventSink,
        clock: ManualClock,
        flags: FeatureFlags = FeatureFlags()
    ) -> Healing<ManualClock> {
        var configuration = HealingConfiguration()
        configuration.flags = flags
        configuration.retry = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1), jitter: .none)
        configuration.breaker = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: 2,
            failureRateThreshold: nil,
            resetTimeout: .seconds(30)
        )
        return Healing(service: "portal", sink: sink, configuration: configuration, clock: clock)
    }

    @Test func quietWhenAllIsWell() async throws {
        let sink = RecordingEventSink()
        let healing = healing(sink, clock: ManualClock())
        #expect(try await healing.run("assistance-api") { 42 } == 42)
        #expect(sink.events.isEmpty)
    }

    @Test func retriesThenBreakerThenFallbackThenRecovers() async throws {
        let clock = ManualClock()
        let sink = RecordingEventSink()
        let healing = healing(sink, clock: clock)
        #expect(try await healing.run("assistance-api", cacheKey: "list") { "cached list" } == "cached list")

        let pool = FlakyDependency(failures: 2)
        let degraded = try await healing.runWithDetails("assistance-api", cacheKey: "list") { try pool.call() }
        #expect(degraded.isCached)
        #expect(degraded.value == "cached list")
        #expect(pool.callCount == 2)  // the third attempt was refused by the open breaker
        #expect(
            sink.kinds == [
                "retry.attempt", "breaker.opened", "retry.attempt", "breaker.rejected", "fallback.served",
            ]
        )
        #expect(sink.events.allSatisfy { $0.component == "assistance-api" && $0.service == "portal" })

        clock.advance(by: .seconds(30))
        #expect(healing.breaker(for: "assistance-api")?.state == .halfOpen)  // its timer, not a call, moved it
        let fresh = try await healing.runWithDetails("assistance-api", cacheKey: "list") { try pool.call() }
        #expect(!fresh.isCached)
        #expect(fresh.value == "fresh #3")
        #expect(sink.kinds.suffix(2) == ["breaker.half_opened", "breaker.closed"])
        #expect(healing.breaker(for: "assistance-api")?.state == .closed)
    }

    @Test func componentsAreIsolated() async throws {
        let clock = ManualClock()
        let sink = RecordingEventSink()
        let healing = healing(sink, clock: clock)
        let broken = FlakyDependency(failures: 100)
        _ = try? await healing.run("openai") { try broken.call() }
        #expect(healing.breaker(for: "openai")?.state == .open)
        #expect(healing.breaker(for: "database")?.state == .closed)
        #expect(try await healing.run("database") { 1 } == 1)
    }

    @Test func switchedOffItSimplyRunsTheOperation() async throws {
        let sink = RecordingEventSink()
        let healing = healing(
            sink,
            clock: ManualClock(),
            flags: FeatureFlags.fromEnvironment(["SELF_HEALING_ENABLED": "0"])
        )
        let dependency = FlakyDependency(failures: 1)
        await #expect(throws: TransientError.self) { try await healing.run("api") { try dependency.call() } }
        #expect(dependency.callCount == 1)
        #expect(sink.events.isEmpty)
    }

    @Test func madePrimitivesShareTheServiceAndFollowTheSwitches() async throws {
        let sink = RecordingEventSink()
        let on = healing(sink, clock: ManualClock())
        let limiter = on.rateLimiter("/api/spam/capture", limit: RateLimit(capacity: 1, per: .seconds(60)))
        _ = limiter.acquire("user-7")
        #expect(!limiter.acquire("user-7").isAllowed)
        let messages = on.transitions("message", component: "spam-capture", allowed: [RawStatus.ready: [.spamReview]])
        #expect(throws: TransitionError<RawStatus>.self) {
            try messages.validate(id: "m", from: .promoted, to: .spamReview, operation: "spam-capture")
        }
        #expect(sink.events.map(\.component) == ["/api/spam/capture", "spam-capture"])
        #expect(sink.events.allSatisfy { $0.service == "portal" })

        let off = healing(
            RecordingEventSink(),
            clock: ManualClock(),
            flags: FeatureFlags.fromEnvironment([
                "SELF_HEALING_RATE_LIMIT": "off", "SELF_HEALING_TRANSITIONS": "off", "SELF_HEALING_BULKHEAD": "off",
                "SELF_HEALING_AUTO_BATCH": "off", "SELF_HEALING_HEALTH": "off",
            ])
        )
        let unlimited = off.rateLimiter("/api/spam/capture", limit: RateLimit(capacity: 1, per: .seconds(60)))
        #expect((0..<5).allSatisfy { _ in unlimited.acquire("user-7").isAllowed })
        let unchecked = off.transitions("message", component: "spam-capture", allowed: [RawStatus.ready: [.spamReview]])
        try unchecked.validate(id: "m", from: .promoted, to: .spamReview, operation: "spam-capture")
        #expect(
            !off.bulkhead("db-pool", configuration: BulkheadConfiguration(maxConcurrent: 1)).configuration.isEnabled
        )
        #expect(!off.autoBatcher("spam-capture", configuration: AutoBatchConfiguration()).configuration.isEnabled)
        #expect(!off.healthMonitor().configuration.isEnabled)
    }
}
