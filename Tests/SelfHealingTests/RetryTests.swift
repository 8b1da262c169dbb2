import SelfHealEvents
import SelfHealingTesting
import Testing

@testable import SelfHealing

@Suite struct RetryTests {
    func policy(_ attempts: Int = 3) -> RetryPolicy {
        var policy = RetryPolicy(
            maxAttempts: attempts,
            initialDelay: .seconds(1),
            maxDelay: .seconds(30),
            jitter: .none
        )
        policy.maxTotalTime = nil
        return policy
    }

    @Test func succeedsAfterTransientFailures() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let dependency = FlakyDependency(failures: 2)
        let retry = Retry(policy: policy(), reporter: reporter, clock: clock)
        let value = try await retry.run { try dependency.call() }
        #expect(value == "fresh #3")
        #expect(clock.sleeps == [.seconds(1), .seconds(2)])
        #expect(sink.kinds == ["retry.attempt", "retry.attempt", "retry.succeeded"])
        let first = attributes(sink.events[0])
        #expect(first["attempt"] as? Int == 2)
        #expect(first["max_attempts"] as? Int == 3)
        #expect(first["delay_ms"] as? Int == 1_000)
        #expect((first["error"] as? String)?.contains("too many clients") == true)
        #expect(attributes(sink.events[2])["attempts"] as? Int == 3)
    }

    @Test func firstTimeSuccessEmitsNothing() async throws {
        let (reporter, sink) = recordingReporter()
        let retry = Retry(policy: policy(), reporter: reporter, clock: ManualClock())
        _ = try await retry.run { "ok" }
        #expect(sink.events.isEmpty)
    }

    @Test func exhaustsAfterMaxAttempts() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let dependency = FlakyDependency(failures: 10)
        let retry = Retry(policy: policy(4), reporter: reporter, clock: clock)
        await #expect(throws: TransientError.self) { try await retry.run { try dependency.call() } }
        #expect(dependency.callCount == 4)
        #expect(clock.sleeps == [.seconds(1), .seconds(2), .seconds(4)])
        #expect(sink.kinds.last == "retry.exhausted")
        let exhausted = attributes(sink.events.last!)
        #expect(exhausted["attempts"] as? Int == 4)
        #expect(exhausted["reason"] as? String == "max_attempts")
    }

    @Test(arguments: [(400, false), (401, false), (404, false), (408, true), (429, true), (500, true), (503, true)])
    func defaultPredicateClassifiesStatuses(status: Int, retryable: Bool) {
        #expect(RetryPolicy.defaultIsRetryable(HTTPError(statusCode: status)) == retryable)
    }

    @Test func doesNotRetryClientErrorsOrCancellation() async throws {
        let (reporter, sink) = recordingReporter()
        let dependency = FlakyDependency(failures: 5, error: HTTPError(statusCode: 404))
        let retry = Retry(policy: policy(), reporter: reporter, clock: ManualClock())
        await #expect(throws: HTTPError.self) { try await retry.run { try dependency.call() } }
        #expect(dependency.callCount == 1)
        #expect(sink.events.isEmpty)
        #expect(!RetryPolicy.defaultIsRetryable(CancellationError()))
        #expect(!RetryPolicy.defaultIsRetryable(CircuitOpenError(component: "x", retryAfter: .seconds(1))))
    }

    @Test func exponentialDelayIsCappedAndNeverOverflows() {
        var policy = policy()
        policy.maxDelay = .seconds(30)
        #expect(policy.exponentialDelay(forRetry: 1) == .seconds(1))
        #expect(policy.exponentialDelay(forRetry: 5) == .seconds(16))
        #expect(policy.exponentialDelay(forRetry: 6) == .seconds(30))
        #expect(policy.exponentialDelay(forRetry: 64) == .seconds(30))
        #expect(policy.exponentialDelay(forRetry: Int.max) == .seconds(30))
        policy.multiplier = 1e300
        #expect(policy.exponentialDelay(forRetry: 3) == .seconds(30))
        policy.initialDelay = .seconds(Int64.max / 2)
        policy.maxDelay = .seconds(Int64.max / 2)
        #expect(policy.exponentialDelay(forRetry: 10) == .seconds(1_000_000_000))
    }

    @Test func fullJitterStaysInRange() {
        var policy = policy()
        policy.jitter = .full
        var generator = SeededRandomNumberGenerator(seed: 42)
        for retry in 1...40 {
            let base = policy.exponentialDelay(forRetry: retry)
            for _ in 0..<50 {
                let delay = policy.delay(forRetry: retry, previous: .zero, using: &generator)
                #expect(delay >= .zero && delay <= base)
            }
        }
    }

    @Test func decorrelatedJitterStaysInRange() {
        var policy = policy()
        policy.jitter = .decorrelated
        policy.maxDelay = .seconds(20)
        var generator = SeededRandomNumberGenerator(seed: 7)
        var previous = policy.initialDelay
        for retry in 1...500 {
            let delay = policy.delay(forRetry: retry, previous: previous, using: &generator)
            #expect(delay >= policy.initialDelay)
            #expect(delay <= min(policy.maxDelay, previous * 3))
            previous = delay
        }
    }

    @Test func seededJitterIsReproducible() async throws {
        var policy = policy(5)
        policy.jitter = .full
        policy.seed = 1234
        var sleeps: [[Duration]] = []
        for _ in 0..<2 {
            let clock = ManualClock()
            let retry = Retry(policy: policy, reporter: recordingReporter().0, clock: clock)
            let dependency = FlakyDependency(failures: 4)
            _ = try await retry.run { try dependency.call() }
            sleeps.append(clock.sleeps)
        }
        #expect(sleeps[0] == sleeps[1])
        #expect(sleeps[0].count == 4)
    }

    @Test func honoursRetryAfter() async throws {
        let clock = ManualClock()
        let dependency = FlakyDependency(failures: 1, error: HTTPError(statusCode: 503, retryAfter: .seconds(7)))
        let retry = Retry(policy: policy(), reporter: recordingReporter().0, clock: clock)
        _ = try await retry.run { try dependency.call() }
        #expect(clock.sleeps == [.seconds(7)])
        #expect(HTTPError.retryAfter(header: " 120 ") == .seconds(120))
        #expect(HTTPError.retryAfter(header: "Wed, 21 Oct 2015 07:28:00 GMT") == .zero)  // a date in the past
        #expect(HTTPError.retryAfter(header: "later") == nil)
    }

    @Test func stopsAtMaxTotalTime() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        var policy = policy(10)
        policy.maxTotalTime = .seconds(5)
        let dependency = FlakyDependency(failures: 10)
        let retry = Retry(policy: policy, reporter: reporter, clock: clock)
        await #expect(throws: TransientError.self) { try await retry.run { try dependency.call() } }
        // 1 s + 2 s fit in 5 s; the next 4 s would end at 7 s.
        #expect(clock.sleeps == [.seconds(1), .seconds(2)])
        #expect(attributes(sink.events.last!)["reason"] as? String == "max_total_time")
    }

    @Test func sharedBudgetPreventsRetryStorm() async throws {
        let budget = RetryBudget(configuration: .init(maxBalance: 3, depositPerCall: 0))
        let (reporter, sink) = recordingReporter()
        let dependency = FlakyDependency(failures: 1_000)
        let retry = Retry(policy: policy(5), reporter: reporter, budget: budget, clock: ManualClock())
        for _ in 0..<10 {
            await #expect(throws: TransientError.self) { try await retry.run { try dependency.call() } }
        }
        // 10 calls, 3 retries in all instead of 40.
        #expect(dependency.callCount == 13)
        #expect(sink.events(of: .retryAttempt).count == 3)
        let reasons = sink.events(of: .retryExhausted).map { attributes($0)["reason"] as? String }
        #expect(reasons.count == 10 && reasons.allSatisfy { $0 == "budget" })
    }

    @Test func budgetRefillsWithCalls() {
        let budget = RetryBudget(configuration: .init(maxBalance: 1, depositPerCall: 0.5))
        #expect(budget.tryWithdraw())
        #expect(!budget.tryWithdraw())
        budget.recordCall()
        #expect(!budget.tryWithdraw())
        budget.recordCall()
        #expect(budget.tryWithdraw())
        for _ in 0..<10 { budget.recordCall() }
        #expect(budget.available == 1)
    }

    @Test func disabledRunsOnce() async throws {
        var policy = policy()
        policy.isEnabled = false
        let dependency = FlakyDependency(failures: 1)
        let (reporter, sink) = recordingReporter()
        let retry = Retry(policy: policy, reporter: reporter, clock: ManualClock())
        await #expect(throws: TransientError.self) { try await retry.run { try dependency.call() } }
        #expect(dependency.callCount == 1)
        #expect(sink.events.isEmpty)
    }
}
