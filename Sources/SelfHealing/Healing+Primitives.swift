/// The other primitives, made with the composition's service, sink, clock and switches, so that
/// `SELF_HEALING_*` turns each of them off too.
extension Healing {
    /// A rate limiter for `component`; off when `SELF_HEALING_RATE_LIMIT` says so.
    /// - Parameters:
    ///   - component: what is limited, e.g. `/api/spam/capture`.
    ///   - limit: calls per period per key, e.g. ``RateLimit/normal``.
    public func rateLimiter(_ component: String, limit: RateLimit) -> RateLimiter<C> {
        RateLimiter(
            limit: limit,
            reporter: reporter.component(component),
            isEnabled: configuration.flags.rateLimit,
            clock: clock
        )
    }

    /// A bulkhead for `component`; off when `SELF_HEALING_BULKHEAD` says so.
    /// - Parameters:
    ///   - component: the resource, e.g. `db-pool`.
    ///   - configuration: limits and thresholds.
    public func bulkhead(_ component: String, configuration: BulkheadConfiguration) -> Bulkhead {
        Bulkhead(
            configuration: self.configuration.flags.applied(to: configuration),
            reporter: reporter.component(component)
        )
    }

    /// A pool monitor for `component` (a pool the service does not run itself, e.g. `db-pool`).
    /// - Parameters:
    ///   - component: the pool.
    ///   - thresholds: the warning, critical and recovery thresholds.
    public func poolMonitor(_ component: String, thresholds: PoolThresholds = PoolThresholds()) -> PoolMonitor {
        PoolMonitor(thresholds: thresholds, reporter: reporter.component(component))
    }

    /// A transition validator reporting under `component`; off when `SELF_HEALING_TRANSITIONS` says so.
    /// - Parameters:
    ///   - entity: the kind of entity, e.g. `message`.
    ///   - component: the job or endpoint that changes statuses, e.g. `spam-capture`.
    ///   - allowed: for each status, the statuses it may move to; a status with no entry is terminal.
    public func transitions<State: Hashable & Sendable>(
        _ entity: String,
        component: String,
        allowed: KeyValuePairs<State, [State]>
    ) -> TransitionValidator<State> {
        TransitionValidator(
            entity: entity,
            reporter: reporter.component(component),
            allowed: allowed,
            isEnabled: configuration.flags.transitions
        )
    }

    /// An auto-batcher for `component`; off when `SELF_HEALING_AUTO_BATCH` says so.
    /// - Parameters:
    ///   - component: the job, e.g. `spam-capture`.
    ///   - configuration: the time limit and batch bounds.
    public func autoBatcher(_ component: String, configuration: AutoBatchConfiguration) -> AutoBatcher<C> {
        AutoBatcher(
            configuration: self.configuration.flags.applied(to: configuration),
            reporter: reporter.component(component),
            clock: clock
        )
    }

    /// A health monitor; off when `SELF_HEALING_HEALTH` says so.
    /// - Parameter configuration: thresholds and limits.
    public func healthMonitor(
        configuration: HealthMonitorConfiguration = HealthMonitorConfiguration()
    ) -> HealthMonitor<C> {
        HealthMonitor(
            configuration: self.configuration.flags.applied(to: configuration),
            reporter: reporter,
            clock: clock
        )
    }

    /// A response validator reporting under `component`, e.g. `/api/manager/assistance`.
    public func responseValidator(_ component: String) -> ResponseValidator {
        ResponseValidator(reporter: reporter.component(component))
    }
}
