import SelfHealEvents
import Synchronization

/// How to retry a failing operation: exponential backoff with a cap, jitter, and limits on attempts and time.
public struct RetryPolicy: Sendable {
    /// How the delay before a retry is randomised, so that many callers do not retry in lockstep.
    public enum Jitter: Sendable, Equatable {
        /// Exactly the exponential delay.
        case none
        /// Uniform between zero and the exponential delay ("full jitter").
        case full
        /// Uniform between the initial delay and three times the previous delay, capped ("decorrelated jitter").
        case decorrelated
    }

    /// Whether retrying is on; when off the operation runs once.
    public var isEnabled: Bool = true
    /// The most attempts, the first one included. Default 3 (one call and two retries).
    public var maxAttempts: Int = 3
    /// The delay before the first retry. Default 1 s.
    public var initialDelay: Duration = .seconds(1)
    /// How much the delay grows from one retry to the next. Default 2.
    public var multiplier: Double = 2
    /// The longest delay between two attempts, jitter included. Default 30 s.
    public var maxDelay: Duration = .seconds(30)
    /// The most time from the first attempt until a retry may start; `nil` for no limit. Default 60 s.
    public var maxTotalTime: Duration? = .seconds(60)
    /// How delays are randomised. Default ``Jitter/full``.
    public var jitter: Jitter = .full
    /// A seed that makes the jitter reproducible (for tests); `nil` uses the system's random numbers.
    public var seed: UInt64? = nil
    /// Whether a delay asked for by the server (`Retry-After`, see ``HTTPStatusError``) is honoured. Default true.
    public var honorsRetryAfter: Bool = true
    /// Which errors are worth retrying. Default ``defaultIsRetryable(_:)``.
    public var isRetryable: @Sendable (any Error) -> Bool = RetryPolicy.defaultIsRetryable

    /// Creates a policy with the documented defaults.
    public init() {}

    /// Creates a policy with the most common settings.
    /// - Parameters:
    ///   - maxAttempts: the most attempts, the first one included.
    ///   - initialDelay: the delay before the first retry.
    ///   - maxDelay: the longest delay between two attempts.
    ///   - jitter: how delays are randomised.
    public init(
        maxAttempts: Int,
        initialDelay: Duration = .seconds(1),
        maxDelay: Duration = .seconds(30),
        jitter: Jitter = .full
    ) {
        self.maxAttempts = maxAttempts
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
    }

    /// The default predicate: everything is retryable except cancellation, a refusal by an open circuit or a
    /// full bulkhead, and HTTP 4xx statuses other than 408 (timeout) and 429 (too many requests).
    @Sendable
    public static func defaultIsRetryable(_ error: any Error) -> Bool {
        switch error {
        case is CancellationError, is CircuitOpenError, is BulkheadFullError:
            return false
        case let http as any HTTPStatusError:
            let status = http.statusCode
            return !(400..<500).contains(status) || status == 408 || status == 429
        default:
            return true
        }
    }

    /// The delay before retry `retry` (1 for the first retry) without jitter:
    /// `initialDelay * multiplier^(retry-1)`, capped at `maxDelay`; never overflows.
    public func exponentialDelay(forRetry retry: Int) -> Duration {
        let cap = maxDelay.seconds
        let exponent = Double(max(0, retry - 1))
        let value = initialDelay.seconds * pow(max(1, multiplier), exponent)
        return Duration.seconds(saturating: value.isFinite ? min(value, cap) : cap)
    }

    /// The delay before retry `retry`, jitter included.
    /// - Parameters:
    ///   - retry: 1 for the first retry.
    ///   - previous: the delay used before the previous retry (the initial delay for the first).
    ///   - generator: the random numbers to use.
    public func delay(
        forRetry retry: Int,
        previous: Duration,
        using generator: inout some RandomNumberGenerator
    ) -> Duration {
        switch jitter {
        case .none:
            return exponentialDelay(forRetry: retry)
        case .full:
            let base = exponentialDelay(forRetry: retry).seconds
            guard base > 0 else { return .zero }
            return .seconds(saturating: Double.random(in: 0...base, using: &generator))
        case .decorrelated:
            let low = min(initialDelay.seconds, maxDelay.seconds)
            let high = min(max(low, previous.seconds * 3), maxDelay.seconds)
            guard high > low else { return .seconds(saturating: low) }
            return .seconds(saturating: Double.random(in: low...high, using: &generator))
        }
    }
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    // Repeated squaring keeps this free of Foundation; infinity on overflow is handled by the caller.
    var result = 1.0
    var factor = base
    var remaining = UInt64(min(exponent, 4_096))
    while remaining > 0 {
        if remaining & 1 == 1 { result *= factor }
        factor *= factor
        remaining >>= 1
    }
    return result
}

/// A small, fast, seedable random number generator, for reproducible jitter: SelfHealEvents' `SplitMix64`.
public typealias SeededRandomNumberGenerator = SplitMix64

/// Random numbers for one retried call: seeded when the policy has a seed, else the system's.
struct JitterSource: RandomNumberGenerator {
    private var seeded: SeededRandomNumberGenerator?
    private var system = SystemRandomNumberGenerator()

    init(seed: UInt64?) { seeded = seed.map(SeededRandomNumberGenerator.init(seed:)) }

    mutating func next() -> UInt64 {
        if seeded != nil { return seeded!.next() }
        return system.next()
    }
}

/// A retry budget shared by every caller of a dependency, so that a failing dependency cannot cause a retry storm.
///
/// Every call deposits `depositPerCall` (default 0.2) into a balance capped at `maxBalance` (default 10, also the
/// starting balance); every retry withdraws 1. When the balance is below 1 retries are refused. In the long run
/// retries are at most 20% of calls, plus a burst of 10.
public final class RetryBudget: Sendable {
    /// The budget's settings.
    public struct Configuration: Sendable {
        /// The highest balance, and the starting one. Default 10.
        public var maxBalance: Double = 10
        /// What each call adds. Default 0.2 (retries at most 20% of calls).
        public var depositPerCall: Double = 0.2

        /// Creates a configuration with the documented defaults.
        public init() {}

        /// Creates a configuration.
        public init(maxBalance: Double, depositPerCall: Double) {
            self.maxBalance = maxBalance
            self.depositPerCall = depositPerCall
        }
    }

    /// The budget's settings.
    public let configuration: Configuration
    private let balance: Mutex<Double>

    /// Creates a budget with a full balance.
    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
        balance = Mutex(configuration.maxBalance)
    }

    /// Records one call (not a retry).
    public func recordCall() {
        let configuration = configuration
        balance.withLock { $0 = min(configuration.maxBalance, $0 + configuration.depositPerCall) }
    }

    /// Takes one retry from the budget; `false` when the budget is spent.
    public func tryWithdraw() -> Bool {
        balance.withLock { balance in
            guard balance >= 1 else { return false }
            balance -= 1
            return true
        }
    }

    /// The current balance.
    public var available: Double { balance.withLock { $0 } }
}
