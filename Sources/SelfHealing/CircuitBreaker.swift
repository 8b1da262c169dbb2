import SelfHealEvents
import Synchronization

/// A circuit breaker: stops calling a dependency that keeps failing, then probes it before trusting it again.
///
/// Closed, calls go through and their outcomes are counted; after `consecutiveFailureThreshold` failures in a row,
/// or a failure rate over `failureRateThreshold` once `minimumCalls` are in the window, it opens. Open, calls are
/// refused with ``CircuitOpenError`` for `resetTimeout`. Then it is half-open: at most `halfOpenMaxProbes` probe
/// calls at a time (never more, however many tasks ask); a failed probe opens it again, enough successful ones
/// close it. A result from a call made before the latest transition is ignored.
///
/// Emits `breaker.opened`, `breaker.half_opened`, `breaker.closed` once per transition, and `breaker.rejected` once
/// per open or half-open period (on its first refused call).
public final class CircuitBreaker<C: Clock>: Sendable where C.Duration == Duration {
    /// The breaker's settings.
    public let configuration: CircuitBreakerConfiguration
    /// Where events go.
    public let reporter: EventReporter
    /// The clock that measures the reset timeout and the time window.
    public let clock: C
    private let machine: Mutex<BreakerMachine>
    /// Times in the state machine are durations since this instant.
    private let origin: C.Instant

    /// Creates a closed breaker.
    /// - Parameters:
    ///   - configuration: when to open and how to probe.
    ///   - reporter: where events go; its component names the dependency.
    ///   - clock: the clock that measures time.
    public init(
        configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        reporter: EventReporter,
        clock: C
    ) {
        self.configuration = configuration
        self.reporter = reporter
        self.clock = clock
        origin = clock.now
        machine = Mutex(BreakerMachine(window: OutcomeWindow(configuration.window)))
    }

    /// The current state; an open breaker whose timeout passed still says `open` until a call arrives.
    public var state: CircuitBreakerState {
        machine.withLock { machine in
            switch machine.state {
            case .closed: .closed
            case .open: .open
            case .halfOpen: .halfOpen
            }
        }
    }

    /// Runs the operation through the breaker.
    /// - Throws: ``CircuitOpenError`` when refused, else whatever the operation throws.
    public nonisolated(nonsending) func run<T>(
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        guard configuration.isEnabled else { return try await operation() }
        let permit = try acquire()
        let value: T
        do {
            value = try await operation()
        } catch {
            record(permit, configuration.isIgnored(error) ? .ignored : .failure)
            throw error
        }
        record(permit, .success)
        return value
    }

    /// Asks leave for one call: the low-level half of ``run(_:)``. Every permit must be given back with
    /// ``record(_:_:)``, or a half-open breaker keeps its probe slot taken.
    /// - Throws: ``CircuitOpenError`` when the breaker refuses the call.
    public func acquire() throws(CircuitOpenError) -> CircuitBreakerPermit {
        let configuration = configuration
        // Reports are emitted under the lock (emitting never blocks), so transitions are reported in order.
        let result = machine.withLock { machine -> Result<CircuitBreakerPermit, CircuitOpenError> in
            let (result, report) = decide(&machine, configuration)
            if let report { emit(report) }
            return result
        }
        return try result.get()
    }

    private func decide(
        _ machine: inout BreakerMachine,
        _ configuration: CircuitBreakerConfiguration
    ) -> (Result<CircuitBreakerPermit, CircuitOpenError>, BreakerReport?) {
        switch machine.state {
        case .closed:
            return (.success(CircuitBreakerPermit(generation: machine.generation, isProbe: false)), nil)
        case .open(let until):
            let now = elapsed()
            if now >= until {
                machine.transition(to: .halfOpen(probesInFlight: 1, successes: 0))
                return (.success(CircuitBreakerPermit(generation: machine.generation, isProbe: true)), .halfOpened)
            }
            return machine.refuse(retryAfter: until - now, component: reporter.component)
        case .halfOpen(let inFlight, let successes):
            if inFlight < max(1, configuration.halfOpenMaxProbes) {
                machine.state = .halfOpen(probesInFlight: inFlight + 1, successes: successes)
                return (.success(CircuitBreakerPermit(generation: machine.generation, isProbe: true)), nil)
            }
            return machine.refuse(retryAfter: .zero, component: reporter.component)
        }
    }

    /// Gives a permit back with the call's outcome; a permit from before the latest transition is ignored.
    public func record(_ permit: CircuitBreakerPermit, _ outcome: CallOutcome) {
        let configuration = configuration
        machine.withLock { machine in
            if let report = apply(permit, outcome, to: &machine, configuration) { emit(report) }
        }
    }

    private func apply(
        _ permit: CircuitBreakerPermit,
        _ outcome: CallOutcome,
        to machine: inout BreakerMachine,
        _ configuration: CircuitBreakerConfiguration
    ) -> BreakerReport? {
        guard permit.generation == machine.generation else { return nil }
        switch machine.state {
        case .closed(let consecutive):
            guard outcome != .ignored else { return nil }
            let failed = outcome == .failure
            machine.window.record(failed: failed, now: machine.window.needsTime ? elapsed() : nil)
            let failures = failed ? consecutive + 1 : 0
            if let threshold = configuration.consecutiveFailureThreshold, failures >= threshold {
                machine.open(until: elapsed() + configuration.resetTimeout, configuration)
                return .opened(failures: failures, calls: failures, trigger: "consecutive")
            }
            if failed, let rate = configuration.failureRateThreshold,
                machine.window.calls >= max(1, configuration.minimumCalls), machine.window.failureRate >= rate
            {
                let (calls, windowFailures) = (machine.window.calls, machine.window.failures)
                machine.open(until: elapsed() + configuration.resetTimeout, configuration)
                return .opened(failures: windowFailures, calls: calls, trigger: "failure_rate")
            }
            machine.state = .closed(consecutiveFailures: failures)
            return nil
        case .halfOpen(let inFlight, let successes):
            switch outcome {
            case .ignored:
                machine.state = .halfOpen(probesInFlight: max(0, inFlight - 1), successes: successes)
                return nil
            case .failure:
                machine.open(until: elapsed() + configuration.resetTimeout, configuration)
                return .opened(failures: 1, calls: 1, trigger: "probe")
            case .success:
                if successes + 1 >= max(1, configuration.successesToClose) {
                    machine.transition(to: .closed(consecutiveFailures: 0))
                    machine.window = OutcomeWindow(configuration.window)
                    return .closed
                }
                machine.state = .halfOpen(probesInFlight: max(0, inFlight - 1), successes: successes + 1)
                return nil
            }
        case .open:
            return nil
        }
    }

    /// Time since the origin on the breaker's clock.
    private func elapsed() -> Duration { origin.duration(to: clock.now) }

    private func emit(_ report: BreakerReport) {
        guard reporter.isEnabled else { return }
        let component = reporter.component
        switch report {
        case .opened(let failures, let calls, let trigger):
            let threshold = configuration.consecutiveFailureThreshold
            let resetMilliseconds = configuration.resetTimeout.milliseconds
            reporter.emit(
                .breakerOpened,
                "Circuit breaker opened for \(component) after \(failures) failures (\(trigger))"
            ) {
                $0.set("failures", failures)
                if trigger == "failure_rate", let rate = configuration.failureRateThreshold {
                    $0.set("threshold", rate)
                    $0.set("calls", calls)
                } else if let threshold {
                    $0.set("threshold", threshold)
                }
                $0.set("reset_ms", resetMilliseconds)
                $0.set("trigger", trigger)
            }
        case .halfOpened:
            reporter.emit(.breakerHalfOpened, "Circuit breaker half-open for \(component): probing")
        case .closed:
            reporter.emit(.breakerClosed, "Circuit breaker closed for \(component): calls flow again")
        case .rejected(let retryAfter):
            reporter.emit(.breakerRejected, "Circuit breaker for \(component) refused a call") {
                $0.set("retry_after_ms", retryAfter.milliseconds)
            }
        }
    }
}

extension CircuitBreaker where C == ContinuousClock {
    /// Creates a closed breaker on the continuous clock.
    /// - Parameters:
    ///   - configuration: when to open and how to probe.
    ///   - reporter: where events go; its component names the dependency.
    public convenience init(
        configuration: CircuitBreakerConfiguration = CircuitBreakerConfiguration(),
        reporter: EventReporter
    ) {
        self.init(configuration: configuration, reporter: reporter, clock: ContinuousClock())
    }
}

/// The breaker's states; times are durations since the breaker's origin.
/// (Not nested in the generic class: a nested type is generic too, and costs a metadata lookup per call.)
enum BreakerState {
    case closed(consecutiveFailures: Int)
    /// Open until this time since the origin.
    case open(until: Duration)
    case halfOpen(probesInFlight: Int, successes: Int)
}

/// The state machine a breaker keeps under its lock.
struct BreakerMachine {
    var state: BreakerState = .closed(consecutiveFailures: 0)
    /// Counts transitions; permits carry it so stale results can be told apart.
    var generation: UInt64 = 0
    var window: OutcomeWindow
    /// Whether this period's first refusal was reported.
    var rejectionReported = false

    mutating func transition(to state: BreakerState) {
        self.state = state
        generation &+= 1
        rejectionReported = false
    }

    mutating func open(until: Duration, _ configuration: CircuitBreakerConfiguration) {
        transition(to: .open(until: until))
        window = OutcomeWindow(configuration.window)
    }

    mutating func refuse(
        retryAfter: Duration,
        component: String
    ) -> (Result<CircuitBreakerPermit, CircuitOpenError>, BreakerReport?) {
        let error = CircuitOpenError(component: component, retryAfter: retryAfter)
        guard !rejectionReported else { return (.failure(error), nil) }
        rejectionReported = true
        return (.failure(error), .rejected(retryAfter: retryAfter))
    }
}

/// What a transition or refusal should report, decided under the lock and emitted after it.
enum BreakerReport {
    case opened(failures: Int, calls: Int, trigger: String)
    case halfOpened
    case closed
    case rejected(retryAfter: Duration)
}
