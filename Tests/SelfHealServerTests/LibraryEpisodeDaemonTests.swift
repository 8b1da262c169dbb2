import Foundation
import SelfHealEvents
import SelfHealing
import SelfHealingTesting
import Synchronization
import Testing

/// Every primitive driven through a failing episode and its recovery on one manual clock, its events sent to a real
/// daemon (`selfheal serve`) by the socket emitter: every incident the library opened must be ended by the library
/// (resolved, or failed and then recovered), with the recovery time the manual clock measured.
@Suite(.serialized)
struct LibraryEpisodeDaemonTests {
    final class Flaky: Sendable {
        let remaining: Mutex<Int>
        init(_ failures: Int) { remaining = Mutex(failures) }
        func call() throws -> String {
            try remaining.withLock {
                guard $0 > 0 else { return "ok" }
                $0 -= 1
                throw HTTPError(statusCode: 503)
            }
        }
    }

    @Test func everyIncidentTheLibraryOpensIsEndedWithTheClocksRecoveryTime() async throws {
        let directory = try TemporaryDirectory()
        let daemon = try DaemonProcess(dataDirectory: directory.path)
        defer { _ = daemon.stop() }
        let emitter = EmitterDaemonTests.emitter(directory, idPrefix: "episodes")
        let clock = ManualClock()  // 2025-11-25T08:00:00Z
        let reporter = EventReporter(sink: emitter, service: "portal", timeSource: clock)
        var expected: [String: Int64] = [:]  // component -> recovery_ms

        // Retry: two failures, backoff 1 s then 2 s, then success.
        let retry = Retry(
            policy: RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1), maxDelay: .seconds(10), jitter: .none),
            reporter: reporter.component("retry"),
            clock: clock
        )
        let twice = Flaky(2)
        _ = try await retry.run { try twice.call() }
        expected["retry"] = 3_000

        // Retry exhausted (a failed incident), then the next call succeeds 60 s later.
        let exhausted = Retry(
            policy: RetryPolicy(maxAttempts: 2, initialDelay: .seconds(1), jitter: .none),
            reporter: reporter.component("retry-exhausted"),
            clock: clock
        )
        let down = Flaky(5)
        _ = try? await exhausted.run { try down.call() }
        clock.advance(by: .seconds(60))
        _ = try await exhausted.run { "ok" }
        expected["retry-exhausted"] = 61_000

        // Breaker: opens, half-opens on its timer after 30 s with nobody calling, a probe 5 s later closes it.
        let breaker = CircuitBreaker(
            configuration: CircuitBreakerConfiguration(
                consecutiveFailureThreshold: 2,
                failureRateThreshold: nil,
                resetTimeout: .seconds(30)
            ),
            reporter: reporter.component("breaker"),
            clock: clock
        )
        for _ in 0..<2 { _ = try? await breaker.run { try Flaky(1).call() } }
        clock.advance(by: .seconds(35))
        _ = try await breaker.run { "ok" }
        expected["breaker"] = 35_000

        // Timeout: a call hangs past 2 s; the next one, 5 s later, is in time.
        let timeout = Timeout(.seconds(2), reporter: reporter.component("timeout"), clock: clock)
        _ = try? await timeout.run {
            try await clock.sleep(for: .seconds(10))
            return "late"
        }
        clock.advance(by: .seconds(5))
        _ = try await timeout.run { "ok" }
        expected["timeout"] = 13_000  // fired at +2 s; the failed call's sleep ran to +10 s; 5 s later it recovered

        // Fallback: served from cache, fresh again 10 s later.
        let fallback = Fallback<String, ManualClock>(reporter: reporter.component("fallback"), clock: clock)
        _ = try await fallback.run(key: "user-1") { "fresh" }
        _ = try await fallback.run(key: "user-1") { throw HTTPError(statusCode: 502) }
        clock.advance(by: .seconds(10))
        _ = try await fallback.run(key: "user-1") { "fresh" }
        expected["fallback"] = 10_000

        // Bulkhead: full (critical), a call refused, released 4 s later.
        let bulkhead = Bulkhead(
            configuration: BulkheadConfiguration(maxConcurrent: 2, maxQueue: 0),
            reporter: reporter.component("bulkhead")
        )
        try await bulkhead.acquire()
        try await bulkhead.acquire()
        await #expect(throws: BulkheadFullError.self) { try await bulkhead.run { 0 } }
        clock.advance(by: .seconds(4))
        bulkhead.release()
        bulkhead.release()
        expected["bulkhead"] = 4_000

        // Pool monitor: warning, critical, back to normal 6 s later.
        let pool = PoolMonitor(reporter: reporter.component("db-pool"))
        pool.record(used: 17, max: 20)
        pool.record(used: 19, max: 20)
        clock.advance(by: .seconds(6))
        pool.record(used: 10, max: 20)
        expected["db-pool"] = 6_000

        // Health: a check fails, recovers 8 s later (the check's component is its name).
        let health = HealthMonitor(reporter: reporter, clock: clock)
        let up = Mutex(false)
        health.register("search") {
            if up.withLock({ $0 }) { return .healthy }
            throw HTTPError(statusCode: 500)
        }
        await health.checkAll()
        clock.advance(by: .seconds(8))
        up.withLock { $0 = true }
        await health.checkAll()
        expected["search"] = 8_000

        // Response validation: an HTML page, then valid JSON 3 s later.
        let validator = ResponseValidator(reporter: reporter.component("assistance-api"))
        _ = try? validator.decode([Int].self, status: 200, contentType: "text/html", body: Data("<html>".utf8))
        clock.advance(by: .seconds(3))
        _ = try validator.decode([Int].self, status: 200, contentType: "application/json", body: Data("[1]".utf8))
        expected["assistance-api"] = 3_000

        // A pipeline (Healing's default): retries, the breaker opens, the cached value stands in; 30 s later the
        // breaker's timer half-opens it and a fresh call closes the incident.
        var configuration = HealingConfiguration()
        configuration.flags = FeatureFlags()
        configuration.retry = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1), jitter: .none)
        configuration.breaker = CircuitBreakerConfiguration(
            consecutiveFailureThreshold: 2,
            failureRateThreshold: nil,
            resetTimeout: .seconds(30)
        )
        let healing = Healing(service: "portal", sink: emitter, configuration: configuration, clock: clock)
        _ = try await healing.run("openai", cacheKey: "prompt-1") { "answer" }
        let outage = Flaky(9)
        let degraded = try await healing.runWithDetails("openai", cacheKey: "prompt-1") { try outage.call() }
        #expect(degraded.isCached)
        clock.advance(by: .seconds(30))
        _ = try await healing.run("openai", cacheKey: "prompt-1") { "answer" }
        expected["openai"] = 33_000  // the backoffs took 1 s and 2 s before the open breaker refused, then 30 s

        #expect(await Task.detached { emitter.waitUntilDelivered(timeout: .seconds(10)) }.value)
        #expect(emitter.currentStatistics.rejected == 0)
        let result = try SelfHealBinary.run([
            "incidents", "--data-dir", directory.path, "--since", "2025-11-25T00:00:00Z",
            "--until", "2025-11-26T00:00:00Z", "--format", "json",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let incidents = try #require(
            try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]]
        )
        var seen: [String: Int64] = [:]
        for incident in incidents {
            let component = incident["component"] as? String ?? "?"
            let state = incident["state"] as? String ?? "?"
            #expect(["resolved", "failed"].contains(state), "\(component) left \(state)")
            #expect(incident["resolved_at"] is String, "\(component) was never ended")
            seen[component] = (incident["recovery_ms"] as? NSNumber)?.int64Value ?? -1
        }
        #expect(seen == expected)
        #expect(incidents.first { $0["component"] as? String == "retry-exhausted" }?["state"] as? String == "failed")
        emitter.shutdown(timeout: .seconds(5))
    }
}
