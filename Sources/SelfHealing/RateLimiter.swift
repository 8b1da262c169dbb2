import SelfHealEvents
import Synchronization

/// How many calls a key may make per period: a token bucket of `capacity` tokens refilled evenly over `period`.
public struct RateLimit: Sendable, Equatable {
    /// Calls allowed per period, and the burst allowed at once.
    public var capacity: Int
    /// The period over which the bucket refills completely.
    public var period: Duration

    /// Creates a limit of `capacity` calls per `period`.
    public init(capacity: Int, per period: Duration) {
        self.capacity = max(1, capacity)
        self.period = period > .zero ? period : .seconds(1)
    }

    /// 10 calls a minute.
    public static let strict = RateLimit(capacity: 10, per: .seconds(60))
    /// 100 calls a minute.
    public static let normal = RateLimit(capacity: 100, per: .seconds(60))
    /// 1,000 calls a minute.
    public static let loose = RateLimit(capacity: 1_000, per: .seconds(60))
    /// 1,000 calls an hour.
    public static let hourly = RateLimit(capacity: 1_000, per: .seconds(3_600))
}

/// What the rate limiter decided for one call.
public enum RateLimitDecision: Sendable, Equatable {
    /// The call may go; `remaining` whole tokens are left.
    case allowed(remaining: Int)
    /// The call must wait `retryAfter` before a token is available.
    case throttled(retryAfter: Duration)

    /// Whether the call may go.
    public var isAllowed: Bool {
        if case .allowed = self { return true }
        return false
    }
}

/// A call the rate limiter refused.
public struct RateLimitedError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The key that ran out of tokens, e.g. a user id.
    public var key: String
    /// How long until a token is available: what an HTTP service puts in `Retry-After`.
    public var retryAfter: Duration

    /// Creates the error.
    public init(key: String, retryAfter: Duration) {
        self.key = key
        self.retryAfter = retryAfter
    }

    /// A one-line description a person can act on.
    public var description: String {
        "rate limit reached for \(key): retry in \(retryAfter.milliseconds) ms"
    }
}

/// A per-key token-bucket rate limiter.
///
/// Emits `ratelimit.throttled` (attrs `client`, `limit`, `window_s`) when a key is first throttled, and again only
/// after that key was allowed a call in between, so a client hammering the limit costs one event per episode.
public final class RateLimiter<C: Clock>: Sendable where C.Duration == Duration {
    /// The limit every key gets.
    public let limit: RateLimit
    /// Whether limiting is on; when off every call is allowed.
    public let isEnabled: Bool
    /// The most keys tracked; beyond it, idle keys (whose bucket is full again) are forgotten.
    public let maxKeys: Int
    /// Where events go.
    public let reporter: EventReporter
    /// The clock that refills the buckets.
    public let clock: C
    private let buckets = Mutex<[String: TokenBucket]>([:])
    /// Bucket times are durations since this instant.
    private let origin: C.Instant

    /// Creates a limiter.
    /// - Parameters:
    ///   - limit: calls per period per key, e.g. ``RateLimit/normal``.
    ///   - reporter: where events go.
    ///   - isEnabled: when `false` every call is allowed.
    ///   - maxKeys: the most keys tracked at once. Default 10,000.
    ///   - clock: the clock that refills the buckets.
    public init(limit: RateLimit, reporter: EventReporter, isEnabled: Bool = true, maxKeys: Int = 10_000, clock: C) {
        self.limit = limit
        self.isEnabled = isEnabled
        self.maxKeys = max(1, maxKeys)
        self.reporter = reporter
        self.clock = clock
        origin = clock.now
    }

    /// Takes `cost` tokens from `key`'s bucket if it has them.
    public func acquire(_ key: String, cost: Int = 1) -> RateLimitDecision {
        guard isEnabled else { return .allowed(remaining: limit.capacity) }
        let now = origin.duration(to: clock.now)
        let capacity = Double(limit.capacity)
        let perSecond = capacity / limit.period.seconds
        let cost = Double(max(1, cost))
        let (decision, report) = buckets.withLock { buckets -> (RateLimitDecision, Bool) in
            if buckets.count >= maxKeys, buckets[key] == nil {
                Self.forgetIdle(&buckets, now: now, limit: limit, maxKeys: maxKeys)
            }
            // Changed in place: one hash of the key and one probe per call.
            return Self.take(
                cost,
                from: &buckets[key, default: TokenBucket(tokens: capacity, refilledAt: now)],
                now: now,
                capacity: capacity,
                perSecond: perSecond
            )
        }
        if report { reportThrottled(key, decision) }
        return decision
    }

    /// Refills the bucket, then takes `cost` tokens from it if it has them; also whether to report the throttling
    /// (the first refusal of an episode).
    private static func take(
        _ cost: Double,
        from bucket: inout TokenBucket,
        now: Duration,
        capacity: Double,
        perSecond: Double
    ) -> (RateLimitDecision, Bool) {
        let elapsed = max(0, (now - bucket.refilledAt).seconds)
        bucket.tokens = min(capacity, bucket.tokens + elapsed * perSecond)
        bucket.refilledAt = now
        guard bucket.tokens < cost else {
            bucket.tokens -= cost
            bucket.throttling = false
            return (.allowed(remaining: Int(bucket.tokens)), false)
        }
        let report = !bucket.throttling
        bucket.throttling = true
        return (.throttled(retryAfter: .seconds(saturating: (cost - bucket.tokens) / perSecond)), report)
    }

    /// Runs the operation if `key` has a token.
    /// - Throws: ``RateLimitedError`` when throttled, else whatever the operation throws.
    public nonisolated(nonsending) func run<T>(
        key: String,
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        if case .throttled(let retryAfter) = acquire(key) { throw RateLimitedError(key: key, retryAfter: retryAfter) }
        return try await operation()
    }

    /// The keys currently tracked.
    public var trackedKeys: Int { buckets.withLock { $0.count } }

    /// Forgets keys idle for a whole period (their bucket is full again); if that is not enough, the least
    /// recently used half.
    private static func forgetIdle(
        _ buckets: inout [String: TokenBucket],
        now: Duration,
        limit: RateLimit,
        maxKeys: Int
    ) {
        buckets = buckets.filter { now - $0.value.refilledAt < limit.period }
        guard buckets.count >= maxKeys else { return }
        let newest = buckets.sorted { $0.value.refilledAt > $1.value.refilledAt }.prefix(maxKeys / 2)
        buckets = Dictionary(uniqueKeysWithValues: newest.map { ($0.key, $0.value) })
    }

    private func reportThrottled(_ key: String, _ decision: RateLimitDecision) {
        guard reporter.isEnabled, case .throttled(let retryAfter) = decision else { return }
        let limit = limit
        reporter.emit(.ratelimitThrottled, "Rate limit reached for \(key): \(limit.capacity) per \(limit.period)") {
            $0.set("client", key)
            $0.set("limit", limit.capacity)
            $0.set("window_s", limit.period.milliseconds / 1_000)
            $0.set("retry_after_ms", retryAfter.milliseconds)
        }
    }
}

extension RateLimiter where C == ContinuousClock {
    /// Creates a limiter on the continuous clock.
    /// - Parameters:
    ///   - limit: calls per period per key, e.g. ``RateLimit/normal``.
    ///   - reporter: where events go.
    ///   - isEnabled: when `false` every call is allowed.
    public convenience init(limit: RateLimit, reporter: EventReporter, isEnabled: Bool = true) {
        self.init(limit: limit, reporter: reporter, isEnabled: isEnabled, clock: ContinuousClock())
    }
}

/// One key's bucket; times are durations since the limiter's origin (not generic, so no metadata lookups).
struct TokenBucket {
    var tokens: Double
    var refilledAt: Duration
    var throttling = false
}
