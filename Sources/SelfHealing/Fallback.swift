import SelfHealEvents
import Synchronization

/// A value from a call that may have been served from the cache.
public struct FallbackResult<Value: Sendable>: Sendable {
    /// The fresh value, or the cached one.
    public var value: Value
    /// How old the value is: zero when fresh.
    public var age: Duration
    /// Whether the value came from the cache (or the computed fallback) because the call failed.
    public var isCached: Bool
}

/// A fallback's settings.
public struct FallbackConfiguration: Sendable {
    /// Whether falling back is on; when off failures are simply rethrown.
    public var isEnabled: Bool = true
    /// The most keys kept; beyond it the least recently used go. Default 1,000.
    public var maxEntries: Int = 1_000
    /// The oldest value still served (and kept); `nil` for any age. Default 5 minutes.
    public var maxAge: Duration? = .seconds(300)
    /// When to fall back, given the rule's outcome and the error. Default: on ``Outcome/failure`` and
    /// ``Outcome/rejected`` (an open circuit); never on an ignored error (a 404 stays a 404) or cancellation.
    public var shouldFallBack: @Sendable (Outcome, any Error) -> Bool = { outcome, _ in
        outcome == .failure || outcome == .rejected
    }
    /// How outcomes are judged.
    public var rule: OutcomeRule = .standard

    /// Creates a configuration with the documented defaults.
    public init() {}

    /// Creates a configuration.
    /// - Parameters:
    ///   - maxEntries: the most keys kept.
    ///   - maxAge: the oldest value served.
    public init(maxEntries: Int, maxAge: Duration?) {
        self.maxEntries = maxEntries
        self.maxAge = maxAge
    }
}

/// Keeps the last good value of each key and serves it when a call fails; or computes a fallback value.
///
/// Safe by construction: every call names its cache key (one user's data is never another's answer); the cache is
/// bounded in size (least recently used keys go) and age (older values are neither served nor kept); it falls
/// back only when ``FallbackConfiguration/shouldFallBack`` says so (by default failures and refusals, never a
/// 404); with no cached value, the computed fallback (if any) answers.
///
/// Emits `fallback.served` (attrs `cache_age_ms`, `error`, `source`) each time, and `recovery.succeeded` on the
/// first fresh value after it, so the incident it joined is ended.
public final class Fallback<Value: Sendable, C: Clock>: Sendable where C.Duration == Duration {
    /// A computed fallback value for an error (a default, a degraded answer); `nil` when there is none.
    public typealias Compute = @Sendable (any Error) async -> Value?

    /// The settings.
    public let configuration: FallbackConfiguration
    /// Where events go.
    public let reporter: EventReporter
    /// The clock that ages values.
    public let clock: C
    private let compute: Compute?
    private let cache: Mutex<FallbackCache>
    private let origin: C.Instant

    /// Whether falling back is on.
    public var isEnabled: Bool { configuration.isEnabled }
    /// The oldest value still served.
    public var maxAge: Duration? { configuration.maxAge }

    /// Creates an empty cache.
    /// - Parameters:
    ///   - configuration: bounds and predicate.
    ///   - reporter: where events go.
    ///   - clock: the clock that ages values.
    ///   - compute: the computed fallback, used when no cached value is young enough.
    public init(
        configuration: FallbackConfiguration = FallbackConfiguration(),
        reporter: EventReporter,
        clock: C,
        compute: Compute? = nil
    ) {
        self.configuration = configuration
        self.reporter = reporter.timed(by: clock)
        self.clock = clock
        self.compute = compute
        origin = clock.now
        cache = Mutex(FallbackCache(maxEntries: configuration.maxEntries))
    }

    /// Creates an empty cache of at most 1,000 keys.
    /// - Parameters:
    ///   - maxAge: the oldest value still served.
    ///   - reporter: where events go.
    ///   - isEnabled: when `false` failures are rethrown.
    ///   - clock: the clock that ages values.
    public convenience init(maxAge: Duration?, reporter: EventReporter, isEnabled: Bool = true, clock: C) {
        var configuration = FallbackConfiguration()
        configuration.maxAge = maxAge
        configuration.isEnabled = isEnabled
        self.init(configuration: configuration, reporter: reporter, clock: clock)
    }

    /// Runs the operation; keeps its value on success, serves the cached (or computed) value on failure.
    /// - Parameters:
    ///   - key: what is cached: everything the answer depends on (the user, the query).
    ///   - judge: judges a returned value; one judged a failure is replaced by the fallback when there is one.
    ///   - operation: the call.
    /// - Throws: the operation's error when there is no fallback for it.
    public nonisolated(nonsending) func run(
        key: String,
        judging judge: ((Value) -> (outcome: Outcome, error: (any Error)?))? = nil,
        _ operation: nonisolated(nonsending) () async throws -> Value
    ) async throws -> FallbackResult<Value> {
        guard isEnabled else { return FallbackResult(value: try await operation(), age: .zero, isCached: false) }
        let failure: any Error
        let outcome: Outcome
        let judgedValue: Value?
        do {
            let value = try await operation()
            if let verdict = judge?(value), verdict.outcome != .success {
                failure = verdict.error ?? JudgedFailure(reason: "value judged a failure")
                outcome = verdict.outcome
                judgedValue = value
            } else {
                store(value, key: key)
                reporter.recoverIfFailing("a fresh value")
                return FallbackResult(value: value, age: .zero, isCached: false)
            }
        } catch {
            failure = error
            outcome = configuration.rule.outcome(of: error)
            judgedValue = nil
        }
        if configuration.shouldFallBack(outcome, failure), let served = await fallback(key: key, error: failure) {
            return served
        }
        if let judgedValue { return FallbackResult(value: judgedValue, age: .zero, isCached: false) }
        throw failure
    }

    /// The cached or computed answer for a failed call, reported; `nil` when there is none.
    func fallback(key: String, error: any Error) async -> FallbackResult<Value>? {
        if let (value, age) = cached(key: key) {
            reportServed(age: age, error: error, source: "cache")
            return FallbackResult(value: value, age: age, isCached: true)
        }
        if let compute, let value = await compute(error) {
            reportServed(age: nil, error: error, source: "computed")
            return FallbackResult(value: value, age: .zero, isCached: true)
        }
        return nil
    }

    /// Stores a good value for `key`.
    public func store(_ value: Value, key: String) {
        let now = origin.duration(to: clock.now)
        let maxAge = configuration.maxAge
        cache.withLock { $0.store(value, key: key, now: now, maxAge: maxAge) }
    }

    /// The cached value for `key` and its age, if there is one young enough.
    public func cached(key: String) -> (Value, Duration)? {
        let now = origin.duration(to: clock.now)
        let maxAge = configuration.maxAge
        guard let (stored, age) = cache.withLock({ $0.value(key: key, now: now, maxAge: maxAge) }),
            let value = stored as? Value
        else { return nil }
        return (value, age)
    }

    /// Keys cached now.
    public var count: Int { cache.withLock { $0.count } }

    func reportServed(age: Duration?, error: any Error, source: String) {
        guard reporter.isEnabled else { return }
        let description = describe(error)
        let what = age.map { "cached data (\($0.milliseconds) ms old)" } ?? "a computed fallback"
        reporter.emit(.fallbackServed, "Served \(what) for \(reporter.component) after: \(description)") {
            if let age { $0.set("cache_age_ms", age.milliseconds) }
            $0.set("error", description)
            $0.set("source", source)
        }
    }
}

extension Fallback where C == ContinuousClock {
    /// Creates an empty cache on the continuous clock.
    /// - Parameters:
    ///   - configuration: bounds and predicate.
    ///   - reporter: where events go.
    ///   - compute: the computed fallback.
    public convenience init(
        configuration: FallbackConfiguration = FallbackConfiguration(),
        reporter: EventReporter,
        compute: Compute? = nil
    ) {
        self.init(configuration: configuration, reporter: reporter, clock: ContinuousClock(), compute: compute)
    }
}

/// A bounded LRU/TTL cache; not generic, so the hot path (storing each good value) needs no metadata lookups.
struct FallbackCache {
    private struct Entry {
        var value: any Sendable
        var storedAt: Duration
        var used: UInt64
    }

    private var entries: [String: Entry] = [:]
    private var tick: UInt64 = 0
    let maxEntries: Int

    init(maxEntries: Int) { self.maxEntries = max(1, maxEntries) }

    var count: Int { entries.count }

    mutating func store(_ value: any Sendable, key: String, now: Duration, maxAge: Duration?) {
        tick &+= 1
        entries[key] = Entry(value: value, storedAt: now, used: tick)
        guard entries.count > maxEntries else { return }
        // Over the bound: drop what is too old, then the least recently used tenth (amortised: not every insert).
        if let maxAge { entries = entries.filter { now - $0.value.storedAt <= maxAge } }
        guard entries.count > maxEntries else { return }
        let drop = max(1, entries.count - maxEntries + maxEntries / 10)
        for (key, _) in entries.sorted(by: { $0.value.used < $1.value.used }).prefix(drop) { entries[key] = nil }
    }

    mutating func value(key: String, now: Duration, maxAge: Duration?) -> (any Sendable, Duration)? {
        guard var entry = entries[key] else { return nil }
        let age = now - entry.storedAt
        if let maxAge, age > maxAge {
            entries[key] = nil
            return nil
        }
        tick &+= 1
        entry.used = tick
        entries[key] = entry
        return (entry.value, age)
    }
}
