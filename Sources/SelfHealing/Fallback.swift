import SelfHealEvents
import Synchronization

/// A value from a call that may have been served from the cache.
public struct FallbackResult<Value: Sendable>: Sendable {
    /// The fresh value, or the cached one.
    public var value: Value
    /// How old the value is: zero when fresh.
    public var age: Duration
    /// Whether the value came from the cache because the call failed.
    public var isCached: Bool
}

/// Keeps the last good value of a call and serves it when the call fails.
///
/// Emits `fallback.served` (attrs `cache_age_ms`, `error`) each time a cached value stands in for a failed call.
public final class Fallback<Value: Sendable, C: Clock>: Sendable where C.Duration == Duration {
    /// The oldest value still served; `nil` serves any age.
    public let maxAge: Duration?
    /// Whether serving cached values is on; when off failures are simply rethrown.
    public let isEnabled: Bool
    /// Where events go.
    public let reporter: EventReporter
    /// The clock that ages values.
    public let clock: C
    private let entries = Mutex<[String: FallbackEntry]>([:])
    /// Entry times are durations since this instant.
    private let origin: C.Instant

    /// Creates an empty cache.
    /// - Parameters:
    ///   - maxAge: the oldest value still served. Default 5 minutes.
    ///   - reporter: where events go.
    ///   - isEnabled: when `false` failures are rethrown.
    ///   - clock: the clock that ages values.
    public init(maxAge: Duration? = .seconds(300), reporter: EventReporter, isEnabled: Bool = true, clock: C) {
        self.maxAge = maxAge
        self.isEnabled = isEnabled
        self.reporter = reporter
        self.clock = clock
        origin = clock.now
    }

    /// Runs the operation; keeps its value on success, serves the cached value for `key` on failure.
    /// - Parameters:
    ///   - key: what is cached, when one fallback serves several requests. Default `"default"`.
    ///   - operation: the call.
    /// - Throws: the operation's error when there is no usable cached value, or on cancellation.
    public nonisolated(nonsending) func run(
        key: String = "default",
        _ operation: nonisolated(nonsending) () async throws -> Value
    ) async throws -> FallbackResult<Value> {
        do {
            let value = try await operation()
            if isEnabled { store(value, key: key) }
            return FallbackResult(value: value, age: .zero, isCached: false)
        } catch {
            guard isEnabled, !(error is CancellationError), let (value, age) = cached(key: key) else { throw error }
            reportServed(age: age, error: error)
            return FallbackResult(value: value, age: age, isCached: true)
        }
    }

    /// Stores a good value for `key`.
    public func store(_ value: Value, key: String = "default") {
        let now = origin.duration(to: clock.now)
        entries.withLock { $0[key] = FallbackEntry(value: value, storedAt: now) }
    }

    /// The cached value for `key` and its age, if there is one young enough.
    public func cached(key: String = "default") -> (Value, Duration)? {
        let now = origin.duration(to: clock.now)
        guard let entry = entries.withLock({ $0[key] }), let value = entry.value as? Value else { return nil }
        let age = now - entry.storedAt
        if let maxAge, age > maxAge { return nil }
        return (value, age)
    }

    func reportServed(age: Duration, error: any Error) {
        guard reporter.isEnabled else { return }
        let description = describe(error)
        reporter.emit(
            .fallbackServed,
            "Served cached data for \(reporter.component) (\(age.milliseconds) ms old) after: \(description)"
        ) {
            $0.set("cache_age_ms", age.milliseconds)
            $0.set("error", description)
        }
    }
}

extension Fallback where C == ContinuousClock {
    /// Creates an empty cache on the continuous clock.
    /// - Parameters:
    ///   - maxAge: the oldest value still served. Default 5 minutes.
    ///   - reporter: where events go.
    ///   - isEnabled: when `false` failures are rethrown.
    public convenience init(maxAge: Duration? = .seconds(300), reporter: EventReporter, isEnabled: Bool = true) {
        self.init(maxAge: maxAge, reporter: reporter, isEnabled: isEnabled, clock: ContinuousClock())
    }
}

/// A cached value; not generic, so the hot path (storing each good value) needs no metadata lookups.
struct FallbackEntry {
    var value: any Sendable
    var storedAt: Duration
}
