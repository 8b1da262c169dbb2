/// The breaker's states; times are durations since the breaker's origin.
/// (Not nested in the generic class: a nested type is generic too, and costs a metadata lookup per call.)
enum BreakerState {
    case closed(consecutiveFailures: Int)
    /// Open until this time since the origin.
    case open(until: Duration)
    case halfOpen(probesInFlight: Int, successes: Int)
}

/// The state machine a breaker keeps under its lock. It decides; the breaker emits what it returns, unlocked.
struct BreakerMachine {
    var state: BreakerState = .closed(consecutiveFailures: 0)
    /// Counts transitions; permits carry it so stale results can be told apart.
    var generation: UInt64 = 0
    var window: OutcomeWindow
    /// Whether this period's first refusal was reported.
    var rejectionReported = false
    var isIsolated = false
    var timesOpened = 0
    var rejectedCalls = 0
    /// Set by an opening ``apply``: the breaker then schedules its half-open timer.
    var isOpenTimer = false

    var publicState: CircuitBreakerState {
        switch state {
        case .closed: .closed
        case .open: .open
        case .halfOpen: .halfOpen
        }
    }

    mutating func transition(to state: BreakerState) {
        self.state = state
        generation &+= 1
        rejectionReported = false
    }

    mutating func open(until: Duration, _ configuration: CircuitBreakerConfiguration) {
        transition(to: .open(until: until))
        window = OutcomeWindow(configuration.window)
        timesOpened += 1
        isOpenTimer = true
    }

    mutating func acquire(
        now: Duration,
        maxProbes: Int,
        _ component: String
    ) -> (Result<CircuitBreakerPermit, CircuitOpenError>, BreakerReport?) {
        switch state {
        case .closed:
            return (.success(CircuitBreakerPermit(generation: generation, isProbe: false)), nil)
        case .open(let until):
            if now >= until, !isIsolated {
                transition(to: .halfOpen(probesInFlight: 1, successes: 0))
                return (.success(CircuitBreakerPermit(generation: generation, isProbe: true)), .halfOpened)
            }
            return refuse(retryAfter: max(.zero, until - now), component: component)
        case .halfOpen(let inFlight, let successes):
            if inFlight < maxProbes {
                state = .halfOpen(probesInFlight: inFlight + 1, successes: successes)
                return (.success(CircuitBreakerPermit(generation: generation, isProbe: true)), nil)
            }
            return refuse(retryAfter: .zero, component: component)
        }
    }

    mutating func refuse(
        retryAfter: Duration,
        component: String
    ) -> (Result<CircuitBreakerPermit, CircuitOpenError>, BreakerReport?) {
        rejectedCalls += 1
        let error = CircuitOpenError(component: component, retryAfter: retryAfter)
        guard !rejectionReported else { return (.failure(error), nil) }
        rejectionReported = true
        return (.failure(error), .rejected(retryAfter: retryAfter))
    }

    mutating func apply(
        _ permit: CircuitBreakerPermit,
        _ outcome: Outcome,
        slow: Bool,
        now: Duration,
        openFor: Duration,
        _ configuration: CircuitBreakerConfiguration
    ) -> BreakerReport? {
        isOpenTimer = false
        guard permit.generation == generation else { return nil }
        switch state {
        case .closed(let consecutive):
            guard outcome == .success || outcome == .failure else { return nil }
            let failed = outcome == .failure
            window.record(failed: failed, slow: slow, now: window.needsTime ? now : nil)
            let failures = failed ? consecutive + 1 : 0
            let enough = window.calls >= max(1, configuration.minimumCalls)
            if let threshold = configuration.consecutiveFailureThreshold, failures >= threshold {
                open(until: now + openFor, configuration)
                return .opened(failures: failures, calls: failures, trigger: "consecutive", openFor: openFor)
            }
            if failed, let rate = configuration.failureRateThreshold, enough, window.failureRate >= rate {
                let (calls, windowFailures) = (window.calls, window.failures)
                open(until: now + openFor, configuration)
                return .opened(failures: windowFailures, calls: calls, trigger: "failure_rate", openFor: openFor)
            }
            if slow, let rate = configuration.slowCallRateThreshold, enough, window.slowRate >= rate {
                let (calls, windowFailures) = (window.calls, window.failures)
                open(until: now + openFor, configuration)
                return .opened(failures: windowFailures, calls: calls, trigger: "slow_call_rate", openFor: openFor)
            }
            state = .closed(consecutiveFailures: failures)
            return nil
        case .halfOpen(let inFlight, let successes):
            let slowFailure = slow && configuration.slowCallRateThreshold != nil
            switch outcome {
            case .failure:
                open(until: now + openFor, configuration)
                return .opened(failures: 1, calls: 1, trigger: "probe", openFor: openFor)
            case .success where slowFailure:
                open(until: now + openFor, configuration)
                return .opened(failures: 0, calls: 1, trigger: "slow_probe", openFor: openFor)
            case .success:
                if successes + 1 >= max(1, configuration.successesToClose) {
                    transition(to: .closed(consecutiveFailures: 0))
                    window = OutcomeWindow(configuration.window)
                    return .closed
                }
                state = .halfOpen(probesInFlight: max(0, inFlight - 1), successes: successes + 1)
                return nil
            case .ignored, .rejected, .cancelled:
                state = .halfOpen(probesInFlight: max(0, inFlight - 1), successes: successes)
                return nil
            }
        case .open:
            return nil
        }
    }
}

/// What a transition or refusal should report, decided under the lock and emitted after it.
enum BreakerReport {
    case opened(failures: Int, calls: Int, trigger: String, openFor: Duration?)
    case halfOpened
    case closed
    case rejected(retryAfter: Duration)
}
