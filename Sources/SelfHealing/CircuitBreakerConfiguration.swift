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
    /// Errors that say nothing about the dependency's health (by default only cancellation): they are not
    /// counted, and a probe that ends with one gives its permit back. Every other thrown error is a failure.
    public var isIgnored: @Sendable (any Error) -> Bool = { $0 is CancellationError }

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

/// What came of a call made with a permit.
public enum CallOutcome: Sendable, Equatable {
    /// The call succeeded.
    case success
    /// The call failed; it counts against the dependency.
    case failure
    /// The call's result says nothing (cancelled, or an ignored error): not counted, a probe permit is returned.
    case ignored
}
