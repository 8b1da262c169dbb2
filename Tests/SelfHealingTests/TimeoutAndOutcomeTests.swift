import Foundation
import SelfHealEvents
import SelfHealingTesting
import Synchronization
import Testing

@testable import SelfHealing

@Suite struct OutcomeRuleTests {
    @Test func httpStatusesAndRefusalsAreJudgedOneWay() {
        let rule = OutcomeRule.standard
        #expect(rule.outcome(of: HTTPError(statusCode: 503)) == .failure)
        #expect(rule.outcome(of: HTTPError(statusCode: 500)) == .failure)
        #expect(rule.outcome(of: HTTPError(statusCode: 408)) == .failure)
        #expect(rule.outcome(of: HTTPError(statusCode: 429)) == .failure)
        #expect(rule.outcome(of: HTTPError(statusCode: 404)) == .ignored)
        #expect(rule.outcome(of: HTTPError(statusCode: 400)) == .ignored)
        #expect(rule.outcome(of: CancellationError()) == .cancelled)
        #expect(rule.outcome(of: CircuitOpenError(component: "x", retryAfter: .seconds(1))) == .rejected)
        #expect(rule.outcome(of: RateLimitedError(key: "u", retryAfter: .seconds(2))) == .rejected)
        #expect(rule.outcome(of: TimeoutError(component: "x", timeout: .seconds(1))) == .failure)
        #expect(rule.outcome(of: TransientError()) == .failure)
    }

    @Test func retryAfterInSecondsOrAsAnHTTPDateIsCapped() throws {
        let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(HTTPError.retryAfter(header: "120", now: now) == .seconds(120))
        #expect(HTTPError.retryAfter(header: "Wed, 21 Oct 2015 07:28:30 GMT", now: now) == .seconds(30))
        #expect(HTTPError.retryAfter(header: "Wednesday, 21-Oct-15 07:29:00 GMT", now: now) == .seconds(60))
        #expect(HTTPError.retryAfter(header: "Wed Oct 21 07:28:10 2015", now: now) == .seconds(10))
        #expect(HTTPError.retryAfter(header: "Wed, 21 Oct 2015 07:00:00 GMT", now: now) == .zero)
        #expect(HTTPError.retryAfter(header: "soon", now: now) == nil)
        let rule = OutcomeRule(maxRetryAfter: .seconds(60))
        #expect(rule.retryAfter(of: HTTPError(statusCode: 503, retryAfter: .seconds(3_600))) == .seconds(60))
        #expect(rule.retryAfter(of: RateLimitedError(key: "u", retryAfter: .seconds(5))) == .seconds(5))
    }

    @Test func retryAgreesWithTheBreakerAbout404sAndRateLimits() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let retry = Retry(
            policy: RetryPolicy(maxAttempts: 3, initialDelay: .milliseconds(10), jitter: .none),
            reporter: reporter,
            clock: clock
        )
        let breaker = CircuitBreaker(
            configuration: CircuitBreakerConfiguration(consecutiveFailureThreshold: 1, failureRateThreshold: nil),
            reporter: reporter,
            clock: clock
        )
        // A 404 is not retried and does not open the breaker.
        let notFound = FlakyDependency(failures: 10, error: HTTPError(statusCode: 404))
        await #expect(throws: HTTPError.self) { try await retry.run { try await breaker.run { try notFound.call() } } }
        #expect(notFound.callCount == 1)
        #expect(breaker.state == .closed)
        // A rate limit is waited out for its Retry-After, not the backoff.
        let limited = FlakyDependency(failures: 1, error: RateLimitedError(key: "u", retryAfter: .seconds(7)))
        #expect(try await retry.run { try limited.call() } == "fresh #2")
        #expect(clock.sleeps == [.seconds(7)])
        #expect(sink.kinds == ["retry.attempt", "retry.succeeded"])
    }

    @Test func aReturnedValueJudgedAFailureIsRetriedAndCountedByTheBreaker() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let retry = Retry(
            policy: RetryPolicy(maxAttempts: 2, initialDelay: .seconds(1), jitter: .none),
            reporter: reporter,
            clock: clock
        )
        let breaker = CircuitBreaker(
            configuration: CircuitBreakerConfiguration(consecutiveFailureThreshold: 2, failureRateThreshold: nil),
            reporter: reporter,
            clock: clock
        )
        let judge: (Int) -> (outcome: Outcome, error: (any Error)?) = { status in
            (OutcomeRule.httpOutcome(status: status), status >= 500 ? HTTPError(statusCode: status) : nil)
        }
        let statuses = Mutex([503, 503])
        let status = try await retry.run(judging: judge) {
            try await breaker.run(judging: judge) { statuses.withLock { $0.removeFirst() } }
        }
        #expect(status == 503)  // the last answer, when the attempts ran out
        #expect(breaker.state == .open)
        #expect(sink.kinds == ["retry.attempt", "breaker.opened", "retry.exhausted"])
    }
}

@Suite struct TimeoutTests {
    @Test func aHungCallIsCancelledAtTheDeadlineOnTheManualClock() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter("openai")
        let timeout = Timeout(.seconds(2), reporter: reporter, clock: clock)
        let cancelled = Gate()
        let started = Gate()
        let call = Task {
            try await timeout.run {
                started.open()
                // Hangs (in real time) until cancelled.
                do { try await Task.sleep(for: .seconds(3_600)) } catch {
                    cancelled.open()
                    throw error
                }
                return "never"
            }
        }
        await started.wait()
        clock.advance(by: .seconds(1))
        #expect(sink.events.isEmpty)
        clock.advance(by: .seconds(1))
        await #expect(throws: TimeoutError.self) { try await call.value }
        let fired = try #require(sink.events.first)
        #expect(fired.kind == .timeoutFired)
        #expect(attributes(fired)["timeout_ms"] as? Int == 2_000)
        #expect(fired.timestamp == clock.startEpochMilliseconds + 2_000)
        // The loser was cancelled.
        await cancelled.wait()

        // The next call in time ends the episode.
        #expect(try await timeout.run { "fast" } == "fast")
        #expect(sink.kinds == ["timeout.fired", "recovery.succeeded"])
        #expect(sink.events[1].timestamp == clock.startEpochMilliseconds + 2_000)
    }

    @Test func onTheContinuousClockTheSharedTimerThreadFiresTheDeadline() async throws {
        let (reporter, sink) = recordingReporter("search")
        // Thousands of calls in time leave no timer behind to fire. Generous: in the whole suite on 2 shared cores,
        // a call's task once waited more than 5 s for a thread of the cooperative pool.
        let roomy = Timeout(.seconds(60), reporter: reporter)
        for index in 0..<5_000 { #expect(try await roomy.run { index } == index) }
        // ...and a hung call is cut at its deadline.
        let timeout = Timeout(.milliseconds(20), reporter: reporter)
        let start = ContinuousClock.now
        await #expect(throws: TimeoutError.self) {
            try await timeout.run { try await Task.sleep(for: .seconds(3_600)) }
        }
        #expect(start.duration(to: .now) < .seconds(60))
        #expect(sink.kinds == ["timeout.fired"])
    }

    @Test func perAttemptTimeoutsComposeWithRetryAndTheBreaker() async throws {
        let clock = ManualClock()
        let sink = RecordingEventSink()
        let pipeline = PipelineBuilder(
            component: "openai",
            reporter: EventReporter(sink: sink, service: "portal"),
            flags: FeatureFlags(),
            clock: clock
        )
        .retry(RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1), jitter: .none))
        .circuitBreaker(CircuitBreakerConfiguration(consecutiveFailureThreshold: 5, failureRateThreshold: nil))
        .timeout(.seconds(2))
        .build()
        let attempts = Mutex(0)
        let answer = try await pipeline.run {
            let attempt = attempts.withLock {
                $0 += 1
                return $0
            }
            // The first attempt is slow: it sleeps 10 s on the manual clock, which fires its 2 s deadline.
            if attempt == 1 { try await clock.sleep(for: .seconds(10)) }
            return "answer \(attempt)"
        }
        #expect(answer == "answer 2")
        #expect(sink.kinds == ["timeout.fired", "retry.attempt", "retry.succeeded"])  // one recover event
        let breaker = try #require(pipeline.breakerSnapshot)
        #expect(breaker.calls == 2 && breaker.failures == 1)  // the timeout counted against the dependency
    }

    @Test func aCancelledCallerIsNeitherSuccessNorFailure() async throws {
        let clock = ManualClock()
        let (reporter, sink) = recordingReporter()
        let breaker = CircuitBreaker(
            configuration: CircuitBreakerConfiguration(consecutiveFailureThreshold: 1, failureRateThreshold: nil),
            reporter: reporter,
            clock: clock
        )
        let timeout = Timeout(.seconds(30), reporter: reporter, clock: clock)
        let started = Gate()
        let call = Task {
            try await breaker.run {
                try await timeout.run {
                    started.open()
                    try await Task.sleep(for: .seconds(3_600))
                    return 1
                }
            }
        }
        await started.wait()
        call.cancel()
        await #expect(throws: CancellationError.self) { try await call.value }
        #expect(breaker.state == .closed)
        #expect(breaker.snapshot.calls == 0)
        #expect(sink.events.isEmpty)
    }
}
