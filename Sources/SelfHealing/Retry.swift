import SelfHealEvents

/// Runs operations again when they fail, following a ``RetryPolicy``, and reports what it did.
///
/// Emits `retry.attempt` before each retry, `retry.succeeded` when a call succeeds after retrying, and
/// `retry.exhausted` (attrs `attempts`, `error`, `reason`) when it gives up: attempts, total time or the shared
/// budget ran out (reasons `max_attempts`, `max_total_time`, `budget`), or a retried call ended in an error that is
/// not retryable (`not_retryable`). A call that succeeds at once emits nothing, and so does a retried call stopped
/// by an open circuit breaker or by cancellation: the breaker reports for itself. `attempt` in `retry.attempt` is
/// the number of the attempt about to run (2 for the first retry), out of `max_attempts`.
public struct Retry<C: Clock>: Sendable where C.Duration == Duration {
    /// The policy followed.
    public let policy: RetryPolicy
    /// Where events go.
    public let reporter: EventReporter
    /// The budget shared with other callers of the same dependency, if any.
    public let budget: RetryBudget?
    /// The clock that measures and waits.
    public let clock: C

    /// Creates a retrier.
    /// - Parameters:
    ///   - policy: how to retry.
    ///   - reporter: where events go.
    ///   - budget: a budget shared by every caller of the dependency; `nil` for none.
    ///   - clock: the clock that measures and waits.
    public init(policy: RetryPolicy = RetryPolicy(), reporter: EventReporter, budget: RetryBudget? = nil, clock: C) {
        self.policy = policy
        self.reporter = reporter
        self.budget = budget
        self.clock = clock
    }

    /// Runs the operation, retrying it as the policy says; rethrows the last error when it gives up.
    public nonisolated(nonsending) func run<T>(
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        guard policy.isEnabled, policy.maxAttempts > 1 else { return try await operation() }
        budget?.recordCall()
        let start = clock.now
        var random = JitterSource(seed: policy.seed)
        var previousDelay = policy.initialDelay
        var attempt = 1
        while true {
            do {
                let value = try await operation()
                if attempt > 1 { reportSucceeded(attempts: attempt) }
                return value
            } catch {
                guard policy.isRetryable(error) else {
                    if attempt > 1, !(error is CircuitOpenError), !(error is CancellationError) {
                        reportExhausted(attempts: attempt, error: error, reason: "not_retryable")
                    }
                    throw error
                }
                guard attempt < policy.maxAttempts else {
                    reportExhausted(attempts: attempt, error: error, reason: "max_attempts")
                    throw error
                }
                var delay = policy.delay(forRetry: attempt, previous: previousDelay, using: &random)
                if policy.honorsRetryAfter, let asked = (error as? any HTTPStatusError)?.retryAfter, asked > delay {
                    delay = asked
                }
                if let limit = policy.maxTotalTime, start.duration(to: clock.now) + delay > limit {
                    reportExhausted(attempts: attempt, error: error, reason: "max_total_time")
                    throw error
                }
                if let budget, !budget.tryWithdraw() {
                    reportExhausted(attempts: attempt, error: error, reason: "budget")
                    throw error
                }
                attempt += 1
                reportAttempt(attempt, delay: delay, error: error)
                previousDelay = delay
                try await clock.sleep(for: delay)
            }
        }
    }

    private func reportAttempt(_ attempt: Int, delay: Duration, error: any Error) {
        guard reporter.isEnabled else { return }
        let maxAttempts = policy.maxAttempts
        let description = describe(error)
        reporter.emit(
            .retryAttempt,
            "Retry attempt \(attempt)/\(maxAttempts) in \(delay.milliseconds) ms after: \(description)"
        ) {
            $0.set("attempt", attempt)
            $0.set("max_attempts", maxAttempts)
            $0.set("delay_ms", delay.milliseconds)
            $0.set("error", description)
        }
    }

    private func reportSucceeded(attempts: Int) {
        reporter.emit(.retrySucceeded, "Succeeded after \(attempts) attempts") { $0.set("attempts", attempts) }
    }

    private func reportExhausted(attempts: Int, error: any Error, reason: String) {
        guard reporter.isEnabled else { return }
        let description = describe(error)
        reporter.emit(.retryExhausted, "Gave up after \(attempts) attempts (\(reason)): \(description)") {
            $0.set("attempts", attempts)
            $0.set("error", description)
            $0.set("reason", reason)
        }
    }
}

extension Retry where C == ContinuousClock {
    /// Creates a retrier on the continuous clock.
    /// - Parameters:
    ///   - policy: how to retry.
    ///   - reporter: where events go.
    ///   - budget: a budget shared by every caller of the dependency; `nil` for none.
    public init(policy: RetryPolicy = RetryPolicy(), reporter: EventReporter, budget: RetryBudget? = nil) {
        self.init(policy: policy, reporter: reporter, budget: budget, clock: ContinuousClock())
    }
}
