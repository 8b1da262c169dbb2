import SelfHealEvents
import Synchronization

/// What one call through a pipeline carries besides the operation.
public struct PipelineCall<T: Sendable>: Sendable {
    /// The fallback's cache key; `nil` means the fallback is not used for this call (nothing is cached).
    public var cacheKey: String?
    /// The rate limiter's key (a client, a user); `nil` for the component.
    public var rateKey: String?
    /// Whether the bulkhead may shed this call under critical load.
    public var priority: CallPriority
    /// Judges a returned value (a 5xx response is a failure); `nil` when every value is a success.
    public var judge: (@Sendable (T) -> (outcome: Outcome, error: (any Error)?))?

    /// Creates the call's options.
    public init(
        cacheKey: String? = nil,
        rateKey: String? = nil,
        priority: CallPriority = .critical,
        judge: (@Sendable (T) -> (outcome: Outcome, error: (any Error)?))? = nil
    ) {
        self.cacheKey = cacheKey
        self.rateKey = rateKey
        self.priority = priority
        self.judge = judge
    }
}

/// One layer of a pipeline: runs `next` (the layers inside it and the operation) its way.
public protocol PipelineLayer: Sendable {
    /// Runs the rest of the pipeline.
    func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: @escaping @Sendable () async throws -> T
    ) async throws -> T

    /// The layer's state for metrics; `nil` when it has none worth showing.
    var snapshot: LayerSnapshot? { get }
}

/// The state of one layer, for metrics and health pages.
public enum LayerSnapshot: Sendable, Equatable {
    /// A circuit breaker.
    case breaker(CircuitBreakerSnapshot)
    /// A bulkhead.
    case bulkhead(BulkheadSnapshot)
    /// A rate limiter: keys tracked.
    case rateLimiter(trackedKeys: Int)
    /// A fallback: keys cached.
    case fallback(cachedKeys: Int)
}

/// The primitives of one component, composed in a chosen order, outermost first.
///
/// ```swift
/// let openai = PipelineBuilder(component: "openai", reporter: reporter)
///     .timeout(.seconds(30))            // overall
///     .retry(RetryPolicy(maxAttempts: 3))
///     .circuitBreaker()
///     .timeout(.seconds(10))            // per attempt, counted by the breaker
///     .build()
/// let answer = try await openai.run { try await client.complete(prompt) }
/// ```
public final class Pipeline: Sendable {
    /// The component every layer reports under.
    public let component: String
    /// The layers, outermost first.
    public let layers: [any PipelineLayer]
    /// Where the pipeline's recovery event goes (the layers report the rest).
    public let reporter: EventReporter

    /// Creates a pipeline from layers, outermost first (``PipelineBuilder`` makes them).
    /// - Parameters:
    ///   - reporter: the layers' reporter: after a failing episode, the first success emits `recovery.succeeded`
    ///     through it, once for all the layers, unless a layer reported its own recovery.
    ///   - layers: outermost first.
    public init(reporter: EventReporter, layers: [any PipelineLayer]) {
        component = reporter.component
        self.reporter = reporter
        self.layers = layers
    }

    /// Runs the operation through every layer.
    /// - Parameters:
    ///   - call: the cache key, rate key, priority and judge of this call.
    ///   - operation: the call to the dependency.
    public func run<T: Sendable>(
        _ call: PipelineCall<T> = PipelineCall(),
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let mark = reporter.episode.mark
        let value = try await step(0, call, operation)
        // A clean success (no layer reported trouble during it: no fallback stood in) ends a failing episode.
        if reporter.episode.mark == mark, call.judge?(value).outcome ?? .success == .success {
            reporter.pipelineRecoverIfFailing()
        }
        return value
    }

    /// Runs the operation with a cache key for the fallback.
    public func run<T: Sendable>(
        cacheKey: String,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await run(PipelineCall(cacheKey: cacheKey), operation)
    }

    /// Runs an operation whose value judges itself (``OutcomeJudging``, e.g. an HTTP response).
    public func run<T: Sendable & OutcomeJudging>(
        judged call: PipelineCall<T> = PipelineCall(),
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        var call = call
        if call.judge == nil { call.judge = { $0.judgedOutcome } }
        return try await run(call, operation)
    }

    private func step<T: Sendable>(
        _ index: Int,
        _ call: PipelineCall<T>,
        _ operation: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard index < layers.count else { return try await operation() }
        return try await layers[index].execute(call) { try await self.step(index + 1, call, operation) }
    }

    /// Each layer's state, outermost first.
    public var snapshot: PipelineSnapshot {
        PipelineSnapshot(component: component, layers: layers.compactMap(\.snapshot))
    }

    /// The pipeline's circuit breaker state, if it has one.
    public var breakerSnapshot: CircuitBreakerSnapshot? {
        for layer in layers { if case .breaker(let snapshot) = layer.snapshot { return snapshot } }
        return nil
    }
}

/// A pipeline's state.
public struct PipelineSnapshot: Sendable, Equatable {
    /// The component.
    public var component: String
    /// The layers that have a state, outermost first.
    public var layers: [LayerSnapshot]
}

// MARK: The layers

/// A rate limiter as a layer: throws ``RateLimitedError`` when the call's key is out of tokens.
public struct RateLimiterLayer<C: Clock>: PipelineLayer where C.Duration == Duration {
    /// The limiter.
    public let limiter: RateLimiter<C>
    /// Wraps a limiter.
    public init(_ limiter: RateLimiter<C>) { self.limiter = limiter }

    /// Takes a token, then runs the rest.
    public func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let key = call.rateKey ?? limiter.reporter.component
        if case .throttled(let retryAfter) = limiter.acquire(key) {
            throw RateLimitedError(key: key, retryAfter: retryAfter)
        }
        return try await next()
    }

    /// Keys tracked.
    public var snapshot: LayerSnapshot? { .rateLimiter(trackedKeys: limiter.trackedKeys) }
}

/// A bulkhead as a layer.
public struct BulkheadLayer: PipelineLayer {
    /// The bulkhead.
    public let bulkhead: Bulkhead
    /// Wraps a bulkhead.
    public init(_ bulkhead: Bulkhead) { self.bulkhead = bulkhead }

    /// Runs the rest in a slot.
    public func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await bulkhead.run(priority: call.priority) { try await next() }
    }

    /// The load.
    public var snapshot: LayerSnapshot? { .bulkhead(bulkhead.snapshot) }
}

/// A timeout as a layer: inside a retry it limits each attempt, outside the whole call.
public struct TimeoutLayer<C: Clock>: PipelineLayer where C.Duration == Duration {
    /// The timeout.
    public let timeout: Timeout<C>
    /// Wraps a timeout.
    public init(_ timeout: Timeout<C>) { self.timeout = timeout }

    /// Runs the rest with the time limit.
    public func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await timeout.run(next)
    }

    /// No state.
    public var snapshot: LayerSnapshot? { nil }
}

/// Retry as a layer; retries values the call's judge calls failures too.
public struct RetryLayer<C: Clock>: PipelineLayer where C.Duration == Duration {
    /// The retrier.
    public let retry: Retry<C>
    /// Wraps a retrier.
    public init(_ retry: Retry<C>) { self.retry = retry }

    /// Runs the rest, again when it fails.
    public func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await retry.run(judging: call.judge) { try await next() }
    }

    /// No state.
    public var snapshot: LayerSnapshot? { nil }
}

/// A circuit breaker as a layer.
public struct BreakerLayer<C: Clock>: PipelineLayer where C.Duration == Duration {
    /// The breaker.
    public let breaker: CircuitBreaker<C>
    /// Wraps a breaker.
    public init(_ breaker: CircuitBreaker<C>) { self.breaker = breaker }

    /// Runs the rest through the breaker.
    public func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await breaker.run(judging: call.judge) { try await next() }
    }

    /// The breaker's state.
    public var snapshot: LayerSnapshot? { .breaker(breaker.snapshot) }
}

/// A fallback as a layer: used only by calls that give a cache key; values of another type are never served.
public struct FallbackLayer<C: Clock>: PipelineLayer where C.Duration == Duration {
    /// The fallback (its values are of any type; a call is only served a value of its own type).
    public let fallback: Fallback<any Sendable, C>
    /// Wraps a fallback.
    public init(_ fallback: Fallback<any Sendable, C>) { self.fallback = fallback }

    /// Runs the rest; on failure answers from the cache.
    public func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await executeWithDetails(call, next).value
    }

    /// Like ``execute(_:_:)``, saying whether the value is a cached one.
    public func executeWithDetails<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: @escaping @Sendable () async throws -> T
    ) async throws -> FallbackResult<T> {
        guard let key = call.cacheKey, fallback.isEnabled else {
            return FallbackResult(value: try await next(), age: .zero, isCached: false)
        }
        let judge = call.judge
        let result = try await fallback.run(
            key: typedKey(key, T.self),
            judging: judge.map { judge in { value in (value as? T).map(judge) ?? (.success, nil) } }
        ) { try await next() as any Sendable }
        guard let value = result.value as? T else { throw FallbackTypeError() }
        return FallbackResult(value: value, age: result.age, isCached: result.isCached)
    }

    /// The key with the type in it, so a value of one type is never an answer for another.
    private func typedKey<T>(_ key: String, _ type: T.Type) -> String { key + "\u{0}" + String(reflecting: type) }

    /// Keys cached.
    public var snapshot: LayerSnapshot? { .fallback(cachedKeys: fallback.count) }
}

/// A computed fallback returned a value of another type than the call's.
struct FallbackTypeError: Error, CustomStringConvertible {
    var description: String { "the fallback's value is not of the call's type" }
}
