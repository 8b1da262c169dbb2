import SelfHealEvents

/// Runs operations again when they fail, following a ``RetryPolicy`` and the ``OutcomeRule``, and reports what it
/// did.
///
/// A call is retried when the rule judges it a ``Outcome/failure`` (and the policy's `isRetryable` agrees), or
/// ``Outcome/rejected`` by a rate limit that says when to come back; never when ignored (a 404), cancelled, or
/// refused by an open circuit or a full bulkhead. A `Retry-After` (seconds or HTTP date, capped by the rule) is
/// honoured when longer than the backoff. A returned value the caller's judge calls a failure (a 5xx response) is
/// retried too; when the attempts run out that last value is returned.
///
/// Emits `retry.attempt` before each retry, `retry.succeeded` when a call succeeds after retrying, and
/// `retry.exhausted` (attrs `attempts`, `error`, `reason`) when it gives up: attempts, total time or the shared
/// budget ran out (reasons `max_attempts`, `max_total_time`, `budget`), or a retried call ended in an error that is
/// not retryable (`not_retryable`). After an episode that did not end in `retry.succeeded`, the next success emits
/// `recovery.succeeded`, so the incident the retries opened is ended.
public struct Retry<C: Clock>: Sendable where C.Duration == Duration {
    /// The policy followed.
    public let policy: RetryPolicy
    /// Where events go.
    public let reporter: EventReporter
    /// The budget shared with other callers of the same dependency, if any.
    public let budget: RetryBudget?
    /// The clock that measures and waits.
    public let clock: C
    /// How outcomes are judged.
    public let rule: OutcomeRule

    /// Creates a retrier.
    /// - Parameters:
    ///   - policy: how to retry.
    ///   - reporter: where events go.
    ///   - budget: a budget shared by every caller of the dependency; `nil` for none.
    ///   - rule: how outcomes are judged.
    ///   - clock: the clock that measures and waits.
    public init(
        policy: RetryPolicy = RetryPolicy(),
        reporter: EventReporter,
        budget: RetryBudget? = nil,
        rule: OutcomeRule = .standard,
        clock: C
    ) {
        self.policy = policy
        self.reporter = reporter.timed(by: clock)
        self.budget = budget
        self.rule = rule
        self.clock = clock
    }

    /// Runs the operation, retrying it as the policy says; rethrows the last error when it gives up.
    public nonisolated(nonsending) func run<T>(
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await run(judging: nil, operation)
    }

    /// Runs the operation, retrying errors and values `judge` calls failures; returns the last value when the
    /// attempts run out on a judged one.
    public nonisolated(nonsending) func run<T>(
        judging judge: ((T) -> (outcome: Outcome, error: (any Error)?))?,
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        guard policy.isEnabled, policy.maxAttempts > 1 else { return try await operation() }
        budget?.recordCall()
        let start = clock.now
        var random = JitterSource(seed: policy.seed)
        var previousDelay = policy.initialDelay
        var attempt = 1
        while true {
            let failure: any Error
            let judgedValue: T?
            do {
                let value = try await operation()
                if let verdict = judge?(value), verdict.outcome == .failure {
                    failure = verdict.error ?? JudgedFailure(reason: "value judged a failure")
                    judgedValue = value
                } else {
                    if attempt > 1 {
                        reportSucceeded(attempts: attempt)
                    } else {
                        reporter.recoverIfFailing("a call")
                    }
                    return value
                }
            } catch {
                failure = error
                judgedValue = nil
            }
            let outcome = rule.outcome(of: failure)
            let asked = rule.retryAfter(of: failure)
            let retryable =
                (outcome == .failure && policy.isRetryable(failure))
                || (outcome == .rejected && failure is RateLimitedError && asked != nil)
            func giveUp(_ reason: String) throws -> T {
                reportExhausted(attempts: attempt, error: failure, reason: reason)
                if let judgedValue { return judgedValue }
                throw failure
            }
            guard retryable else {
                if attempt > 1, outcome != .cancelled, outcome != .rejected {
                    return try giveUp("not_retryable")
                }
                if let judgedValue { return judgedValue }
                throw failure
            }
            guard attempt < policy.maxAttempts else { return try giveUp("max_attempts") }
            var delay = policy.delay(forRetry: attempt, previous: previousDelay, using: &random)
            if policy.honorsRetryAfter, let asked, asked > delay { delay = asked }
            if let limit = policy.maxTotalTime, start.duration(to: clock.now) + delay > limit {
                return try giveUp("max_total_time")
            }
            if let budget, !budget.tryWithdraw() { return try giveUp("budget") }
            attempt += 1
            reportAttempt(attempt, delay: delay, error: failure)
            previousDelay = delay
            try await clock.sleep(for: delay)
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
    ///   - rule: how outcomes are judged.
    public init(
        policy: RetryPolicy = RetryPolicy(),
        reporter: EventReporter,
        budget: RetryBudget? = nil,
        rule: OutcomeRule = .standard
    ) {
        self.init(policy: policy, reporter: reporter, budget: budget, rule: rule, clock: ContinuousClock())
    }
}
