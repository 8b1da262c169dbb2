@_exported import SelfHealEvents
import Synchronization

/// The settings of a ``Healing`` composition.
public struct HealingConfiguration: Sendable {
    /// How calls are retried.
    public var retry = RetryPolicy()
    /// The budget shared by the retries of each component; `nil` for no budget.
    public var retryBudget: RetryBudget.Configuration? = RetryBudget.Configuration()
    /// How each component's circuit breaker behaves.
    public var breaker = CircuitBreakerConfiguration()
    /// The oldest cached value served when a call fails; `nil` for any age. Default 5 minutes.
    public var fallbackMaxAge: Duration? = .seconds(300)
    /// The switches; by default read from the environment (see ``FeatureFlags``).
    public var flags = FeatureFlags.fromEnvironment()

    /// Creates a configuration with the documented defaults and the flags of the environment.
    public init() {}
}

/// Retry, circuit breaking and fallback around a call, in one line at the call site.
///
/// ```swift
/// let healing = Healing(service: "portal", sink: emitter)
/// let requests = try await healing.run("/api/manager/assistance") { try await api.assistanceRequests() }
/// ```
///
/// The layers, outermost first: **fallback** (a failed call is answered with the last good value of the same
/// component and cache key, if young enough and of the same type) → **retry** (with backoff, jitter and a
/// per-component budget) → **circuit breaker** (one per component; each attempt is a call through it, so failed
/// attempts open it, and an open breaker stops the retries at once) → the operation. Each layer emits its events
/// under the component.
public final class Healing<C: Clock>: Sendable where C.Duration == Duration {
    /// One component's layers. A class, kept in a non-generic dictionary: generic types cost a metadata lookup
    /// per call, and this is on every call's path.
    private final class Parts: Sendable {
        let breaker: CircuitBreaker<C>
        let retry: Retry<C>
        let fallback: Fallback<any Sendable, C>

        init(breaker: CircuitBreaker<C>, retry: Retry<C>, fallback: Fallback<any Sendable, C>) {
            self.breaker = breaker
            self.retry = retry
            self.fallback = fallback
        }
    }

    /// The settings.
    public let configuration: HealingConfiguration
    /// The service the events are from, and where they go.
    public let reporter: EventReporter
    /// The clock every part uses.
    public let clock: C
    private let parts = Mutex<[String: any AnyObject & Sendable]>([:])

    /// Creates a composition.
    /// - Parameters:
    ///   - service: the service name events carry.
    ///   - sink: where events go.
    ///   - configuration: the settings of every part.
    ///   - clock: the clock every part uses.
    public init(
        service: String,
        sink: any EventSink,
        configuration: HealingConfiguration = HealingConfiguration(),
        clock: C
    ) {
        self.configuration = configuration
        self.reporter = EventReporter(sink: configuration.flags.applied(to: sink), service: service)
        self.clock = clock
    }

    /// Runs the operation for `component` through fallback, retry and the component's circuit breaker.
    /// - Parameters:
    ///   - component: the dependency or endpoint, e.g. `assistance-api`; each has its own breaker and cache.
    ///   - cacheKey: what is cached when one component serves different requests. Default `"default"`.
    ///   - operation: the call.
    /// - Throws: the last error when nothing could save the call (no cached value, or fallback off).
    public nonisolated(nonsending) func run<T: Sendable>(
        _ component: String,
        cacheKey: String = "default",
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await runWithDetails(component, cacheKey: cacheKey, operation).value
    }

    /// Like ``run(_:cacheKey:_:)``, but says whether the value is a cached one and how old it is.
    public nonisolated(nonsending) func runWithDetails<T: Sendable>(
        _ component: String,
        cacheKey: String = "default",
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> FallbackResult<T> {
        guard configuration.flags.enabled else {
            return FallbackResult(value: try await operation(), age: .zero, isCached: false)
        }
        let parts = parts(for: component)
        do {
            let value = try await parts.retry.run { try await parts.breaker.run { try await operation() } }
            if parts.fallback.isEnabled { parts.fallback.store(value, key: cacheKey) }
            return FallbackResult(value: value, age: .zero, isCached: false)
        } catch {
            // A cached value of another type under the same key is no answer: the error stands.
            guard parts.fallback.isEnabled, !(error is CancellationError),
                let (cached, age) = parts.fallback.cached(key: cacheKey), let value = cached as? T
            else { throw error }
            parts.fallback.reportServed(age: age, error: error)
            return FallbackResult(value: value, age: age, isCached: true)
        }
    }

    /// The circuit breaker of a component (created on first use).
    public func breaker(for component: String) -> CircuitBreaker<C> { parts(for: component).breaker }

    private func parts(for component: String) -> Parts {
        if let existing = parts.withLock({ $0[component] }) { return unsafeDowncast(existing, to: Parts.self) }
        return parts.withLock { parts in
            if let existing = parts[component] { return unsafeDowncast(existing, to: Parts.self) }
            let reporter = reporter.component(component)
            let flags = configuration.flags
            let budget = configuration.retryBudget.map { RetryBudget(configuration: $0) }
            let made = Parts(
                breaker: CircuitBreaker(
                    configuration: flags.applied(to: configuration.breaker),
                    reporter: reporter,
                    clock: clock
                ),
                retry: Retry(
                    policy: flags.applied(to: configuration.retry),
                    reporter: reporter,
                    budget: budget,
                    clock: clock
                ),
                fallback: Fallback(
                    maxAge: configuration.fallbackMaxAge,
                    reporter: reporter,
                    isEnabled: flags.fallback,
                    clock: clock
                )
            )
            parts[component] = made
            return made
        }
    }
}

extension Healing where C == ContinuousClock {
    /// Creates a composition on the continuous clock.
    /// - Parameters:
    ///   - service: the service name events carry.
    ///   - sink: where events go.
    ///   - configuration: the settings of every part.
    public convenience init(
        service: String,
        sink: any EventSink,
        configuration: HealingConfiguration = HealingConfiguration()
    ) {
        self.init(service: service, sink: sink, configuration: configuration, clock: ContinuousClock())
    }
}
