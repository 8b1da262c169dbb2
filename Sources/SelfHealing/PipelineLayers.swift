import SelfHealEvents

// MARK: The layers

/// A layer that runs the rest of the pipeline within its own call and never keeps it: the pipeline hands it the
/// rest as a non-escaping closure, whose context stays on the task's stack (no allocation per layer per call).
protocol InlineLayer: PipelineLayer {
    /// Runs the rest of the pipeline, within this call.
    nonisolated(nonsending) func executeInline<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) () async throws -> T
    ) async throws -> T
}

/// A rate limiter as a layer: throws ``RateLimitedError`` when the call's key is out of tokens.
public struct RateLimiterLayer<C: Clock>: PipelineLayer, InlineLayer where C.Duration == Duration {
    /// The limiter.
    public let limiter: RateLimiter<C>
    /// Wraps a limiter.
    public init(_ limiter: RateLimiter<C>) { self.limiter = limiter }

    /// Takes a token, then runs the rest.
    public nonisolated(nonsending) func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await executeInline(call, next)
    }

    /// Takes a token, then runs the rest. The rest runs within this call.
    nonisolated(nonsending) func executeInline<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) () async throws -> T
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
public struct BulkheadLayer: PipelineLayer, InlineLayer {
    /// The bulkhead.
    public let bulkhead: Bulkhead
    /// Wraps a bulkhead.
    public init(_ bulkhead: Bulkhead) { self.bulkhead = bulkhead }

    /// Runs the rest in a slot.
    public nonisolated(nonsending) func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await executeInline(call, next)
    }

    /// Runs the rest in a slot. The rest runs within this call.
    nonisolated(nonsending) func executeInline<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await bulkhead.run(priority: call.priority, next)
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
    public nonisolated(nonsending) func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await timeout.run(next)
    }

    /// No state.
    public var snapshot: LayerSnapshot? { nil }
}

/// Retry as a layer; retries values the call's judge calls failures too.
public struct RetryLayer<C: Clock>: PipelineLayer, InlineLayer where C.Duration == Duration {
    /// The retrier.
    public let retry: Retry<C>
    /// Wraps a retrier.
    public init(_ retry: Retry<C>) { self.retry = retry }

    /// Runs the rest, again when it fails.
    public nonisolated(nonsending) func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await executeInline(call, next)
    }

    /// Runs the rest, again when it fails. The rest runs within this call.
    nonisolated(nonsending) func executeInline<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await retry.run(judging: call.judge, next)
    }

    /// No state.
    public var snapshot: LayerSnapshot? { nil }
}

/// A circuit breaker as a layer.
public struct BreakerLayer<C: Clock>: PipelineLayer, InlineLayer where C.Duration == Duration {
    /// The breaker.
    public let breaker: CircuitBreaker<C>
    /// Wraps a breaker.
    public init(_ breaker: CircuitBreaker<C>) { self.breaker = breaker }

    /// Runs the rest through the breaker.
    public nonisolated(nonsending) func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await executeInline(call, next)
    }

    /// Runs the rest through the breaker. The rest runs within this call.
    nonisolated(nonsending) func executeInline<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await breaker.run(judging: call.judge, next)
    }

    /// The breaker's state.
    public var snapshot: LayerSnapshot? { .breaker(breaker.snapshot) }
}

/// A fallback as a layer: used only by calls that give a cache key; values of another type are never served.
public struct FallbackLayer<C: Clock>: PipelineLayer, InlineLayer where C.Duration == Duration {
    /// The fallback (its values are of any type; a call is only served a value of its own type).
    public let fallback: Fallback<any Sendable, C>
    /// Wraps a fallback.
    public init(_ fallback: Fallback<any Sendable, C>) { self.fallback = fallback }

    /// Runs the rest; on failure answers from the cache.
    public nonisolated(nonsending) func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await executeWithDetails(call, next).value
    }

    /// Runs the rest; on failure answers from the cache. The rest runs within this call.
    nonisolated(nonsending) func executeInline<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await executeWithDetails(call, next).value
    }

    /// Like ``execute(_:_:)``, saying whether the value is a cached one.
    public nonisolated(nonsending) func executeWithDetails<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) () async throws -> T
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
