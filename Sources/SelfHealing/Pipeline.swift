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
///
/// `execute` runs on the caller's executor (`nonisolated(nonsending)`), and so does `next`: a pipeline called from
/// an actor or from a task on the global executor makes no executor hop of its own.
public protocol PipelineLayer: Sendable {
    /// Runs the rest of the pipeline.
    nonisolated(nonsending) func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) @escaping @Sendable () async throws -> T
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
    /// The layers, resolved once: those that run the rest inline, and the others.
    private let stages: [Stage]

    private enum Stage: Sendable {
        case inline(any InlineLayer)
        case escaping(any PipelineLayer)
    }

    /// Creates a pipeline from layers, outermost first (``PipelineBuilder`` makes them).
    /// - Parameters:
    ///   - reporter: the layers' reporter: after a failing episode, the first success emits `recovery.succeeded`
    ///     through it, once for all the layers, unless a layer reported its own recovery.
    ///   - layers: outermost first.
    public init(reporter: EventReporter, layers: [any PipelineLayer]) {
        component = reporter.component
        self.reporter = reporter
        self.layers = layers
        stages = layers.map { layer in (layer as? any InlineLayer).map(Stage.inline) ?? .escaping(layer) }
    }

    /// Runs the operation through every layer.
    /// - Parameters:
    ///   - call: the cache key, rate key, priority and judge of this call.
    ///   - operation: the call to the dependency.
    public nonisolated(nonsending) func run<T: Sendable>(
        _ call: PipelineCall<T> = PipelineCall(),
        _ operation: nonisolated(nonsending) @escaping @Sendable () async throws -> T
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
    public nonisolated(nonsending) func run<T: Sendable>(
        cacheKey: String,
        _ operation: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await run(PipelineCall(cacheKey: cacheKey), operation)
    }

    /// Runs an operation whose value judges itself (``OutcomeJudging``, e.g. an HTTP response).
    public nonisolated(nonsending) func run<T: Sendable & OutcomeJudging>(
        judged call: PipelineCall<T> = PipelineCall(),
        _ operation: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        var call = call
        if call.judge == nil { call.judge = { $0.judgedOutcome } }
        return try await run(call, operation)
    }

    /// Runs the layers from `index` inwards, then the operation. The built-in layers (``InlineLayer``) get the rest
    /// as a non-escaping closure (its context stays on the task's stack); only a layer that needs the rest to escape
    /// (a timeout, hedging, your own) gets an escaping one.
    private nonisolated(nonsending) func step<T: Sendable>(
        _ index: Int,
        _ call: PipelineCall<T>,
        _ operation: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard index < stages.count else { return try await operation() }
        switch stages[index] {
        case .inline(let layer):
            return try await layer.executeInline(call) { try await self.step(index + 1, call, operation) }
        case .escaping(let layer):
            return try await layer.execute(call) { try await self.step(index + 1, call, operation) }
        }
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
