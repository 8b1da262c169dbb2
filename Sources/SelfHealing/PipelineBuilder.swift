import SelfHealEvents

/// Builds a ``Pipeline``: each call adds a layer inside the ones before it, so the first call is the outermost.
///
/// The `SELF_HEALING_*` switches (``FeatureFlags``) apply to every layer it makes.
public struct PipelineBuilder<C: Clock>: Sendable where C.Duration == Duration {
    /// The component the layers report under.
    public let reporter: EventReporter
    /// The clock every layer uses.
    public let clock: C
    /// The switches applied.
    public let flags: FeatureFlags
    /// How outcomes are judged, by every layer.
    public let rule: OutcomeRule
    private var layers: [any PipelineLayer] = []

    /// Starts an empty pipeline.
    /// - Parameters:
    ///   - component: the dependency or route.
    ///   - reporter: where events go (its component is replaced by `component`).
    ///   - rule: how outcomes are judged.
    ///   - flags: the switches. Default from the environment.
    ///   - clock: the clock.
    public init(
        component: String,
        reporter: EventReporter,
        rule: OutcomeRule = .standard,
        flags: FeatureFlags = .fromEnvironment(),
        clock: C
    ) {
        self.reporter = EventReporter(
            sink: flags.applied(to: reporter.sink),
            service: reporter.service,
            component: component,
            timeSource: reporter.timeSource
        ).timed(by: clock).deferringRecovery()
        self.clock = clock
        self.flags = flags
        self.rule = rule
    }

    private func adding(_ layer: any PipelineLayer) -> Self {
        var copy = self
        copy.layers.append(layer)
        return copy
    }

    /// Adds a rate limiter (per call's `rateKey`, else per component).
    public func rateLimiter(_ limit: RateLimit) -> Self {
        adding(
            RateLimiterLayer(RateLimiter(limit: limit, reporter: reporter, isEnabled: flags.rateLimit, clock: clock))
        )
    }

    /// Adds a bulkhead.
    public func bulkhead(_ configuration: BulkheadConfiguration) -> Self {
        adding(BulkheadLayer(Bulkhead(configuration: flags.applied(to: configuration), reporter: reporter)))
    }

    /// Adds a timeout: inside a retry it limits each attempt, outside it the whole call.
    public func timeout(_ duration: Duration) -> Self {
        adding(TimeoutLayer(Timeout(duration, reporter: reporter, isEnabled: flags.enabled, clock: clock)))
    }

    /// Adds retries.
    /// - Parameters:
    ///   - policy: how to retry.
    ///   - budget: a budget shared by the retries; `nil` for none.
    public func retry(_ policy: RetryPolicy = RetryPolicy(), budget: RetryBudget? = nil) -> Self {
        adding(
            RetryLayer(
                Retry(policy: flags.applied(to: policy), reporter: reporter, budget: budget, rule: rule, clock: clock)
            )
        )
    }

    /// Adds a circuit breaker.
    public func circuitBreaker(_ configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration()) -> Self {
        var configuration = flags.applied(to: configuration)
        configuration.rule = rule
        return adding(BreakerLayer(CircuitBreaker(configuration: configuration, reporter: reporter, clock: clock)))
    }

    /// Adds a fallback, used by calls that give a cache key.
    /// - Parameters:
    ///   - configuration: bounds and predicate.
    ///   - compute: a computed fallback value when nothing is cached.
    public func fallback(
        _ configuration: FallbackConfiguration = FallbackConfiguration(),
        compute: Fallback<any Sendable, C>.Compute? = nil
    ) -> Self {
        var configuration = configuration
        configuration.isEnabled = configuration.isEnabled && flags.fallback
        configuration.rule = rule
        return adding(
            FallbackLayer(Fallback(configuration: configuration, reporter: reporter, clock: clock, compute: compute))
        )
    }

    /// Adds hedging: another attempt when the call has not answered after `delay`.
    public func hedging(delay: Duration, maxAttempts: Int = 2) -> Self {
        adding(HedgingLayer(delay: delay, maxAttempts: flags.enabled ? maxAttempts : 1, clock: clock))
    }

    /// Adds a layer of your own.
    public func layer(_ layer: any PipelineLayer) -> Self { adding(layer) }

    /// The pipeline, layers outermost first.
    public func build() -> Pipeline { Pipeline(reporter: reporter, layers: layers) }
}

extension PipelineBuilder where C == ContinuousClock {
    /// Starts an empty pipeline on the continuous clock.
    /// - Parameters:
    ///   - component: the dependency or route.
    ///   - reporter: where events go.
    ///   - rule: how outcomes are judged.
    ///   - flags: the switches.
    public init(
        component: String,
        reporter: EventReporter,
        rule: OutcomeRule = .standard,
        flags: FeatureFlags = .fromEnvironment()
    ) {
        self.init(component: component, reporter: reporter, rule: rule, flags: flags, clock: ContinuousClock())
    }
}

/// The primitives a component's pipeline has, in order, outermost first.
public enum PipelineStageKind: String, Sendable, Equatable, CaseIterable {
    /// ``RateLimiter``.
    case rateLimiter = "rate_limiter"
    /// ``Bulkhead``.
    case bulkhead
    /// ``Timeout`` over the whole call (``ComponentSettings/timeout``).
    case timeout
    /// ``Retry``.
    case retry
    /// ``CircuitBreaker``.
    case circuitBreaker = "circuit_breaker"
    /// ``Timeout`` of each attempt (``ComponentSettings/attemptTimeout``).
    case attemptTimeout = "attempt_timeout"
    /// ``Fallback``.
    case fallback
    /// ``HedgingLayer``.
    case hedging
}

/// The settings of one component's pipeline: which primitives, in which order, with which settings.
public struct ComponentSettings: Sendable {
    /// The layers, outermost first; a layer whose settings are `nil` is left out. Default: fallback, rate
    /// limiter, bulkhead, timeout, retry, circuit breaker, attempt timeout, hedging.
    public var order: [PipelineStageKind] = [
        .fallback, .rateLimiter, .bulkhead, .timeout, .retry, .circuitBreaker, .attemptTimeout, .hedging,
    ]
    /// The rate limit; `nil` for none.
    public var rateLimit: RateLimit? = nil
    /// The bulkhead; `nil` for none.
    public var bulkhead: BulkheadConfiguration? = nil
    /// The time limit of the whole call, retries included; `nil` for none.
    public var timeout: Duration? = nil
    /// Retries; `nil` for none. Default ``RetryPolicy`` defaults.
    public var retry: RetryPolicy? = RetryPolicy()
    /// A retry budget shared by the component's callers; `nil` for none.
    public var retryBudget: RetryBudget.Configuration? = RetryBudget.Configuration()
    /// The circuit breaker; `nil` for none. Default ``CircuitBreakerConfiguration`` defaults.
    public var breaker: CircuitBreakerConfiguration? = CircuitBreakerConfiguration()
    /// The time limit of each attempt (inside the breaker, so timeouts count against it); `nil` for none.
    public var attemptTimeout: Duration? = nil
    /// The fallback; `nil` for none. Default ``FallbackConfiguration`` defaults (used by calls with a cache key).
    public var fallback: FallbackConfiguration? = FallbackConfiguration()
    /// Hedging: the delay and the most attempts; `nil` for none.
    public var hedging: (delay: Duration, maxAttempts: Int)? = nil
    /// How outcomes are judged.
    public var rule: OutcomeRule = .standard

    /// The defaults: fallback, retry and circuit breaker.
    public init() {}

    /// The pipeline these settings describe.
    public func build<C: Clock>(_ component: String, reporter: EventReporter, flags: FeatureFlags, clock: C) -> Pipeline
    where C.Duration == Duration {
        var builder = PipelineBuilder(component: component, reporter: reporter, rule: rule, flags: flags, clock: clock)
        for stage in order {
            switch stage {
            case .rateLimiter: if let rateLimit { builder = builder.rateLimiter(rateLimit) }
            case .bulkhead: if let bulkhead { builder = builder.bulkhead(bulkhead) }
            case .timeout: if let timeout { builder = builder.timeout(timeout) }
            case .retry:
                if let retry {
                    builder = builder.retry(retry, budget: retryBudget.map { RetryBudget(configuration: $0) })
                }
            case .circuitBreaker: if let breaker { builder = builder.circuitBreaker(breaker) }
            case .attemptTimeout: if let attemptTimeout { builder = builder.timeout(attemptTimeout) }
            case .fallback: if let fallback { builder = builder.fallback(fallback) }
            case .hedging:
                if let hedging { builder = builder.hedging(delay: hedging.delay, maxAttempts: hedging.maxAttempts) }
            }
        }
        return builder.build()
    }
}
