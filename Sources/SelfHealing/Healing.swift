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
    /// The most cache keys each component's fallback keeps (least recently used go first). Default 1,000.
    public var fallbackMaxEntries: Int = 1_000
    /// The time limit of each attempt; `nil` for none (the default).
    public var attemptTimeout: Duration? = nil
    /// How outcomes are judged by every layer.
    public var rule: OutcomeRule = .standard
    /// The switches; by default read from the environment (see ``FeatureFlags``).
    public var flags = FeatureFlags.fromEnvironment()

    /// Creates a configuration with the documented defaults and the flags of the environment.
    public init() {}
}

/// Retry, circuit breaking and fallback around a call, in one line at the call site; and the registry of every
/// component's pipeline, with settings per component (like resilience4j's registries).
///
/// ```swift
/// let healing = Healing(service: "portal", sink: emitter)
/// let requests = try await healing.run("/api/manager/assistance", cacheKey: "user-\(user.id)") {
///     try await api.assistanceRequests(for: user)
/// }
/// ```
///
/// The default layers, outermost first: **fallback** (a failed call is answered with the last good value of the
/// same component and cache key, if young enough and of the same type; only calls that give a `cacheKey` use it)
/// → **retry** (with backoff, jitter and a per-component budget) → **circuit breaker** (one per component; each
/// attempt is a call through it, so failed attempts open it, and an open breaker stops the retries at once) →
/// **attempt timeout** (when ``HealingConfiguration/attemptTimeout`` is set; inside the breaker, so timeouts count
/// against it) → the operation. ``configure(_:_:)`` changes a component's layers, their order and settings.
public final class Healing<C: Clock>: Sendable where C.Duration == Duration {
    /// The settings.
    public let configuration: HealingConfiguration
    /// The service the events are from, and where they go.
    public let reporter: EventReporter
    /// The clock every part uses.
    public let clock: C
    private let registry = Mutex<Registry>(Registry())

    private struct Registry {
        var pipelines: [String: Pipeline] = [:]
        var settings: [String: ComponentSettings] = [:]
    }

    /// Creates a composition.
    /// - Parameters:
    ///   - service: the service name events carry.
    ///   - sink: where events go.
    ///   - configuration: the settings of every part.
    ///   - clock: the clock every part uses (a manual clock in tests).
    public init(
        service: String,
        sink: any EventSink,
        configuration: HealingConfiguration = HealingConfiguration(),
        clock: C
    ) {
        self.configuration = configuration
        self.reporter = EventReporter(sink: configuration.flags.applied(to: sink), service: service).timed(by: clock)
        self.clock = clock
    }

    /// The settings every component starts from.
    public var defaultSettings: ComponentSettings {
        var settings = ComponentSettings()
        settings.order = [.fallback, .rateLimiter, .bulkhead, .timeout, .retry, .circuitBreaker, .attemptTimeout]
        settings.retry = configuration.retry
        settings.retryBudget = configuration.retryBudget
        settings.breaker = configuration.breaker
        settings.attemptTimeout = configuration.attemptTimeout
        settings.fallback = FallbackConfiguration(
            maxEntries: configuration.fallbackMaxEntries,
            maxAge: configuration.fallbackMaxAge
        )
        settings.rule = configuration.rule
        return settings
    }

    /// Changes one component's settings (layers, order, each layer's settings); its pipeline is made anew.
    public func configure(_ component: String, _ update: (inout ComponentSettings) -> Void) {
        var settings = registry.withLock { $0.settings[component] } ?? defaultSettings
        update(&settings)
        let pipeline = settings.build(component, reporter: reporter, flags: configuration.flags, clock: clock)
        registry.withLock { registry in
            registry.settings[component] = settings
            registry.pipelines[component] = pipeline
        }
    }

    /// The pipeline of a component (made on first use).
    public func pipeline(for component: String) -> Pipeline {
        if let existing = registry.withLock({ $0.pipelines[component] }) { return existing }
        let settings = defaultSettings
        let made = settings.build(component, reporter: reporter, flags: configuration.flags, clock: clock)
        return registry.withLock { registry in
            if let existing = registry.pipelines[component] { return existing }
            registry.pipelines[component] = made
            return made
        }
    }

    /// Runs the operation through the component's pipeline.
    /// - Parameters:
    ///   - component: the dependency, e.g. `/api/manager/assistance` or `openai`.
    ///   - cacheKey: what the answer depends on (the user, the query): a failed call is answered with the last
    ///     good value of this key. `nil` (the default): no fallback for this call.
    ///   - operation: the call.
    /// - Throws: what nothing could save the call from.
    public nonisolated(nonsending) func run<T: Sendable>(
        _ component: String,
        cacheKey: String? = nil,
        _ operation: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard configuration.flags.enabled else { return try await operation() }
        return try await pipeline(for: component).run(PipelineCall(cacheKey: cacheKey), operation)
    }

    /// Like ``run(_:cacheKey:_:)``, but says whether the value is a cached one and how old it is.
    public nonisolated(nonsending) func runWithDetails<T: Sendable>(
        _ component: String,
        cacheKey: String? = nil,
        _ operation: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> FallbackResult<T> {
        guard configuration.flags.enabled else {
            return FallbackResult(value: try await operation(), age: .zero, isCached: false)
        }
        let pipeline = pipeline(for: component)
        guard let index = pipeline.layers.firstIndex(where: { $0 is FallbackLayer<C> }),
            let fallback = pipeline.layers[index] as? FallbackLayer<C>
        else {
            return FallbackResult(
                value: try await pipeline.run(PipelineCall(cacheKey: cacheKey), operation),
                age: .zero,
                isCached: false
            )
        }
        // The layers outside the fallback run around it, the ones inside run as its operation.
        let inner = Pipeline(reporter: pipeline.reporter, layers: Array(pipeline.layers[(index + 1)...]))
        let outer = Pipeline(reporter: pipeline.reporter, layers: Array(pipeline.layers[..<index]))
        let call = PipelineCall<T>(cacheKey: cacheKey)
        let details = Mutex<(Duration, Bool)>((.zero, false))
        let value = try await outer.run(call) {
            let result = try await fallback.executeWithDetails(call) { try await inner.run(call, operation) }
            details.withLock { $0 = (result.age, result.isCached) }
            return result.value
        }
        let (age, isCached) = details.withLock { $0 }
        return FallbackResult(value: value, age: age, isCached: isCached)
    }

    /// The circuit breaker of a component (its pipeline is made on first use); `nil` when it has none.
    public func breaker(for component: String) -> CircuitBreaker<C>? {
        pipeline(for: component).layers.lazy.compactMap { ($0 as? BreakerLayer<C>)?.breaker }.first
    }

    /// Opens a component's breaker by hand until ``reset(_:)``.
    public func isolate(_ component: String) { breaker(for: component)?.isolate() }

    /// Closes a component's breaker by hand.
    public func reset(_ component: String) { breaker(for: component)?.reset() }

    /// Every component's state, by component name.
    public var snapshots: [PipelineSnapshot] {
        registry.withLock { $0.pipelines.values.map(\.self) }.map(\.snapshot).sorted { $0.component < $1.component }
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
