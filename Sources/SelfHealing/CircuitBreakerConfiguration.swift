/// How a ``CircuitBreaker`` decides to open, how long it stays open and how it probes.
public struct CircuitBreakerConfiguration: Sendable {
    /// The calls a failure rate is computed over.
    public enum Window: Sendable, Equatable {
        /// The last `n` calls.
        case count(Int)
        /// The calls of the last period.
        case time(Duration)
    }

    /// Whether the breaker is on; when off every call simply runs.
    public var isEnabled: Bool = true
    /// Open after this many failures in a row; `nil` to rely on the failure rate only. Default 5.
    public var consecutiveFailureThreshold: Int? = 5
    /// Open when this share of the window's calls failed (0...1); `nil` to rely on consecutive failures.
    /// Default 0.5.
    public var failureRateThreshold: Double? = 0.5
    /// The calls the failure rate is computed over. Default the last 20 calls.
    public var window: Window = .count(20)
    /// The failure rate is only judged once the window holds this many calls. Default 10.
    public var minimumCalls: Int = 10
    /// How long the breaker stays open before letting probes through. Default 30 s.
    public var resetTimeout: Duration = .seconds(30)
    /// The most probe calls in flight while half-open (at least 1). Default 1.
    public var halfOpenMaxProbes: Int = 1
    /// Successful probes needed to close again. Default 1.
    public var successesToClose: Int = 1
    /// Errors that say nothing about the dependency's health beyond what ``rule`` says: they are not counted,
    /// and a probe that ends with one gives its permit back. Default none (the rule already ignores
    /// cancellation, refusals and 4xx other than 408/429).
    public var isIgnored: @Sendable (any Error) -> Bool = { _ in false }
    /// How outcomes are judged: only ``Outcome/failure`` counts against the dependency. Default the standard rule.
    public var rule: OutcomeRule = .standard
    /// A call slower than this is slow (counted in the slow-call rate); `nil` for no slow-call rule.
    public var slowCallDuration: Duration? = nil
    /// Open when this share of the window's calls were slow (0...1), once `minimumCalls` are in the window; also, a
    /// slow half-open probe counts as failed. `nil` for none. Needs ``slowCallDuration``.
    public var slowCallRateThreshold: Double? = nil
    /// Whether an open breaker moves to half-open by itself when its timeout passes (a timer on its clock), so an
    /// idle breaker does not stay open. Default true.
    public var halfOpensOnTimer: Bool = true
    /// Whether the breaker stays open as long as the failing dependency's `Retry-After` asked (capped by the
    /// rule) when that is longer than `resetTimeout`. Default true.
    public var honorsRetryAfter: Bool = true

    /// Creates a configuration with the documented defaults.
    public init() {}

    /// Creates a configuration with the most common settings.
    /// - Parameters:
    ///   - consecutiveFailureThreshold: open after this many failures in a row; `nil` for none.
    ///   - failureRateThreshold: open at this failure rate once `minimumCalls` are seen; `nil` for none.
    ///   - window: the calls the failure rate is computed over.
    ///   - minimumCalls: calls needed before the failure rate counts.
    ///   - resetTimeout: how long to stay open.
    ///   - halfOpenMaxProbes: probe calls allowed at once while half-open.
    public init(
        consecutiveFailureThreshold: Int?,
        failureRateThreshold: Double? = 0.5,
        window: Window = .count(20),
        minimumCalls: Int = 10,
        resetTimeout: Duration = .seconds(30),
        halfOpenMaxProbes: Int = 1
    ) {
        self.consecutiveFailureThreshold = consecutiveFailureThreshold
        self.failureRateThreshold = failureRateThreshold
        self.window = window
        self.minimumCalls = minimumCalls
        self.resetTimeout = resetTimeout
        self.halfOpenMaxProbes = halfOpenMaxProbes
    }
}

/// Where a circuit breaker stands, as callers see it.
public enum CircuitBreakerState: String, Sendable, Equatable {
    /// Calls go through; failures are counted.
    case closed
    /// Calls are refused until the reset timeout passes.
    case open
    /// A bounded number of probe calls go through; their results decide.
    case halfOpen = "half_open"
}

/// Leave to make one call through a circuit breaker; give it back with ``CircuitBreaker/record(_:_:)``.
public struct CircuitBreakerPermit: Sendable, Equatable {
    /// The breaker's transition count when the permit was given: a result from another one is stale.
    let generation: UInt64
    /// Whether the call is a half-open probe.
    public let isProbe: Bool
}

/// What a breaker looks like now: for metrics and health pages.
public struct CircuitBreakerSnapshot: Sendable, Equatable {
    /// The dependency.
    public var component: String
    /// The state.
    public var state: CircuitBreakerState
    /// Whether it was opened by hand (``CircuitBreaker/isolate()``) and stays open until reset.
    public var isIsolated: Bool
    /// Calls in the current window (closed state).
    public var calls: Int
    /// Failed calls in the window.
    public var failures: Int
    /// Slow calls in the window.
    public var slowCalls: Int
    /// Failures in a row (closed state).
    public var consecutiveFailures: Int
    /// Times it opened since it was created.
    public var timesOpened: Int
    /// Calls refused since it was created.
    public var rejectedCalls: Int

    /// The window's failure rate (0 when empty).
    public var failureRate: Double { calls == 0 ? 0 : Double(failures) / Double(calls) }
    /// The window's slow-call rate (0 when empty).
    public var slowCallRate: Double { calls == 0 ? 0 : Double(slowCalls) / Double(calls) }
}

/// What came of a call made with a permit.
public enum CallOutcome: Sendable, Equatable {
    /// The call succeeded.
    case success
    /// The call failed; it counts against the dependency.
    case failure
    /// The call's result says nothing (cancelled, or an ignored error): not counted, a probe permit is returned.
    case ignored
}
