import Foundation

/// Switches for the self-healing primitives, read from the environment so any of them can be turned off without
/// a deploy (a restart with another environment is enough). Switched off, a primitive simply runs the operation.
///
/// | variable | switches |
/// |---|---|
/// | `SELF_HEALING_ENABLED` | everything (default on) |
/// | `SELF_HEALING_RETRY` | retries |
/// | `SELF_HEALING_MAX_RETRIES` | retries after the first attempt (a number) |
/// | `SELF_HEALING_CIRCUIT_BREAKER` | circuit breakers |
/// | `SELF_HEALING_FALLBACK` | serving cached values |
/// | `SELF_HEALING_RATE_LIMIT` | rate limiting |
/// | `SELF_HEALING_BULKHEAD` | bulkheads |
/// | `SELF_HEALING_TRANSITIONS` | transition validation |
/// | `SELF_HEALING_AUTO_BATCH` | auto-batching |
/// | `SELF_HEALING_HEALTH` | health checks |
/// | `SELF_HEALING_EVENTS` | emitting events |
///
/// Values `0`, `false`, `no`, `off` (any case) switch off; anything else, or no value, leaves the default (on).
public struct FeatureFlags: Sendable, Equatable {
    /// Everything at once; when off every other switch reads off.
    public var enabled = true
    /// Retries.
    public var retry = true
    /// Retries after the first attempt, overriding the policy's, when set.
    public var maxRetries: Int? = nil
    /// Circuit breakers.
    public var circuitBreaker = true
    /// Serving cached values on failure.
    public var fallback = true
    /// Rate limiting.
    public var rateLimit = true
    /// Bulkheads.
    public var bulkhead = true
    /// Transition validation.
    public var transitions = true
    /// Auto-batching.
    public var autoBatch = true
    /// Health checks.
    public var health = true
    /// Emitting events.
    public var events = true

    /// Everything on.
    public init() {}

    /// Reads the flags from an environment.
    /// - Parameter environment: the variables. Default: this process's environment.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> FeatureFlags {
        func flag(_ name: String) -> Bool {
            guard let value = environment[name]?.trimmingWhitespace().lowercased() else { return true }
            return !["0", "false", "no", "off"].contains(value)
        }
        var flags = FeatureFlags()
        flags.enabled = flag("SELF_HEALING_ENABLED")
        let on = flags.enabled
        flags.retry = on && flag("SELF_HEALING_RETRY")
        flags.circuitBreaker = on && flag("SELF_HEALING_CIRCUIT_BREAKER")
        flags.fallback = on && flag("SELF_HEALING_FALLBACK")
        flags.rateLimit = on && flag("SELF_HEALING_RATE_LIMIT")
        flags.bulkhead = on && flag("SELF_HEALING_BULKHEAD")
        flags.transitions = on && flag("SELF_HEALING_TRANSITIONS")
        flags.autoBatch = on && flag("SELF_HEALING_AUTO_BATCH")
        flags.health = on && flag("SELF_HEALING_HEALTH")
        flags.events = on && flag("SELF_HEALING_EVENTS")
        if let text = environment["SELF_HEALING_MAX_RETRIES"], let value = Int(text.trimmingWhitespace()), value >= 0 {
            flags.maxRetries = value
        }
        return flags
    }

    /// The retry policy with these flags applied: off, or with `maxRetries` retries.
    public func applied(to policy: RetryPolicy) -> RetryPolicy {
        var policy = policy
        policy.isEnabled = policy.isEnabled && retry
        if let maxRetries { policy.maxAttempts = maxRetries + 1 }
        return policy
    }

    /// The breaker configuration with these flags applied.
    public func applied(to configuration: CircuitBreakerConfiguration) -> CircuitBreakerConfiguration {
        var configuration = configuration
        configuration.isEnabled = configuration.isEnabled && circuitBreaker
        return configuration
    }

    /// The bulkhead configuration with these flags applied.
    public func applied(to configuration: BulkheadConfiguration) -> BulkheadConfiguration {
        var configuration = configuration
        configuration.isEnabled = configuration.isEnabled && bulkhead
        return configuration
    }

    /// The auto-batch configuration with these flags applied.
    public func applied(to configuration: AutoBatchConfiguration) -> AutoBatchConfiguration {
        var configuration = configuration
        configuration.isEnabled = configuration.isEnabled && autoBatch
        return configuration
    }

    /// The health monitor configuration with these flags applied.
    public func applied(to configuration: HealthMonitorConfiguration) -> HealthMonitorConfiguration {
        var configuration = configuration
        configuration.isEnabled = configuration.isEnabled && health
        return configuration
    }

    /// The sink with these flags applied: a ``NoopEventSink`` when events are off.
    public func applied(to sink: any EventSink) -> any EventSink {
        events ? sink : NoopEventSink()
    }
}
