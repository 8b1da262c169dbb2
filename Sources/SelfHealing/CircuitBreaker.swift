import SelfHealEvents
import Synchronization

/// A circuit breaker: stops calling a dependency that keeps failing, then probes it before trusting it again.
///
/// Closed, calls go through and their outcomes are judged by the ``OutcomeRule`` (only failures count); after
/// `consecutiveFailureThreshold` failures in a row, a failure rate over `failureRateThreshold`, or a slow-call rate
/// over `slowCallRateThreshold`, once `minimumCalls` are in the window, it opens. Open, calls are refused with
/// ``CircuitOpenError`` for `resetTimeout` (longer when the dependency's `Retry-After` asked so); then a timer on its
/// clock moves it to half-open by itself, so an idle breaker does not stay open. Half-open: at most
/// `halfOpenMaxProbes` probe calls at a time; a failed (or slow) probe opens it again, enough successful ones close
/// it. A result from a call made before the latest transition is ignored. ``isolate()`` opens it by hand until
/// ``reset()``.
///
/// Emits `breaker.opened`, `breaker.half_opened`, `breaker.closed` once per transition, and `breaker.rejected` once
/// per open or half-open period (on its first refused call), always after its lock is released: a sink may read
/// the breaker's state.
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
    private let timers: Timers

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
        self.reporter = reporter.timed(by: clock)
        self.clock = clock
        origin = clock.now
        timers = Timers(clock)
        machine = Mutex(BreakerMachine(window: OutcomeWindow(configuration.window)))
    }

    /// The current state.
    public var state: CircuitBreakerState { machine.withLock { $0.publicState } }

    /// The breaker's state and window, for metrics.
    public var snapshot: CircuitBreakerSnapshot {
        let component = reporter.component
        return machine.withLock { machine in
            var consecutive = 0
            if case .closed(let failures) = machine.state { consecutive = failures }
            return CircuitBreakerSnapshot(
                component: component,
                state: machine.publicState,
                isIsolated: machine.isIsolated,
                calls: machine.window.calls,
                failures: machine.window.failures,
                slowCalls: machine.window.slow,
                consecutiveFailures: consecutive,
                timesOpened: machine.timesOpened,
                rejectedCalls: machine.rejectedCalls
            )
        }
    }

    /// Runs the operation through the breaker.
    /// - Throws: ``CircuitOpenError`` when refused, else whatever the operation throws.
    public nonisolated(nonsending) func run<T>(
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        try await run(judging: nil, operation)
    }

    /// Runs the operation through the breaker; a returned value `judge` calls a failure counts as one (and is
    /// returned all the same).
    public nonisolated(nonsending) func run<T>(
        judging judge: ((T) -> (outcome: Outcome, error: (any Error)?))?,
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        guard configuration.isEnabled else { return try await operation() }
        let permit = try acquire()
        let start = configuration.slowCallDuration == nil ? nil : clock.now
        let value: T
        do {
            value = try await operation()
        } catch {
            record(permit, outcome: outcome(of: error), elapsed: start.map { $0.duration(to: clock.now) }, error: error)
            throw error
        }
        let verdict = judge?(value)
        let closedQuietly = record(
            permit,
            outcome: verdict?.outcome ?? .success,
            elapsed: start.map { $0.duration(to: clock.now) },
            error: verdict?.error
        )
        // A success the breaker took without a transition, while closed: a failing episode (another primitive's
        // on this component) ends here.
        if closedQuietly, verdict?.outcome ?? .success == .success {
            reporter.recoverIfFailing("a call through the breaker")
        }
        return value
    }

    /// The outcome the breaker counts for an error: the rule's, unless `isIgnored` says otherwise.
    func outcome(of error: any Error) -> Outcome {
        configuration.isIgnored(error) ? .ignored : configuration.rule.outcome(of: error)
    }

    /// Asks leave for one call: the low-level half of ``run(_:)``. Every permit must be given back with
    /// ``record(_:_:)``, or a half-open breaker keeps its probe slot taken.
    /// - Throws: ``CircuitOpenError`` when the breaker refuses the call.
    public func acquire() throws(CircuitOpenError) -> CircuitBreakerPermit {
        // Switched off (`SELF_HEALING_CIRCUIT_BREAKER=0`): every call may go, and its result is not counted.
        guard configuration.isEnabled else { return CircuitBreakerPermit(generation: .max, isProbe: false) }
        let maxProbes = max(1, configuration.halfOpenMaxProbes)
        let now = sinceOrigin()
        let component = reporter.component
        let (result, report) = machine.withLock { machine in machine.acquire(now: now, maxProbes: maxProbes, component)
        }
        if let report { emit(report) }
        return try result.get()
    }

    /// Gives a permit back with the call's outcome; a permit from before the latest transition is ignored.
    public func record(_ permit: CircuitBreakerPermit, _ outcome: CallOutcome) {
        let converted: Outcome =
            switch outcome {
            case .success: .success
            case .failure: .failure
            case .ignored: .ignored
            }
        record(permit, outcome: converted, elapsed: nil, error: nil)
    }

    /// Gives a permit back with the call's outcome and, for the slow-call rule, its duration.
    /// - Returns: whether the breaker is closed after it, with no transition.
    /// - Parameters:
    ///   - permit: from ``acquire()``.
    ///   - outcome: what the rule said of the call.
    ///   - elapsed: how long it took, when measured.
    ///   - error: the failure, for its `Retry-After`.
    @discardableResult
    public func record(
        _ permit: CircuitBreakerPermit,
        outcome: Outcome,
        elapsed: Duration?,
        error: (any Error)?
    ) -> Bool {
        let configuration = configuration
        let slow = configuration.slowCallDuration.map { limit in elapsed.map { $0 > limit } ?? false } ?? false
        var openFor = configuration.resetTimeout
        if configuration.honorsRetryAfter, outcome == .failure, let error,
            let asked = configuration.rule.retryAfter(of: error), asked > openFor
        {
            openFor = asked
        }
        let now = sinceOrigin()
        let (report, openedGeneration, closed) = machine.withLock { machine in
            let report = machine.apply(permit, outcome, slow: slow, now: now, openFor: openFor, configuration)
            let closed = if case .closed = machine.state { true } else { false }
            return (report, machine.isOpenTimer ? machine.generation : nil, closed)
        }
        guard let report else { return closed }
        if let openedGeneration, configuration.halfOpensOnTimer, case .opened = report {
            scheduleHalfOpen(after: openFor, generation: openedGeneration)
        }
        emit(report)
        return false
    }

    /// Opens the breaker by hand: every call is refused until ``reset()``.
    public func isolate() {
        let report = machine.withLock { machine -> BreakerReport? in
            guard !machine.isIsolated else { return nil }
            machine.transition(to: .open(until: .seconds(1_000_000_000)))
            machine.isIsolated = true
            machine.timesOpened += 1
            return .opened(failures: 0, calls: 0, trigger: "manual", openFor: nil)
        }
        if let report { emit(report) }
    }

    /// Closes the breaker by hand and forgets its window, whatever its state (an isolated breaker too).
    public func reset() {
        let configuration = configuration
        let report = machine.withLock { machine -> BreakerReport? in
            let wasClosed = if case .closed = machine.state { true } else { false }
            machine.transition(to: .closed(consecutiveFailures: 0))
            machine.window = OutcomeWindow(configuration.window)
            machine.isIsolated = false
            return wasClosed ? nil : .closed
        }
        if let report { emit(report) }
    }

    private func scheduleHalfOpen(after delay: Duration, generation: UInt64) {
        _ = timers.after(delay) { [weak self] in
            guard let self else { return }
            let report = self.machine.withLock { machine -> BreakerReport? in
                guard machine.generation == generation, !machine.isIsolated, case .open = machine.state else {
                    return nil
                }
                machine.transition(to: .halfOpen(probesInFlight: 0, successes: 0))
                return .halfOpened
            }
            if let report { self.emit(report) }
        }
    }

    /// Time since the origin on the breaker's clock.
    private func sinceOrigin() -> Duration { origin.duration(to: clock.now) }

    private func emit(_ report: BreakerReport) {
        guard reporter.isEnabled else { return }
        let component = reporter.component
        switch report {
        case .opened(let failures, let calls, let trigger, let openFor):
            let threshold = configuration.consecutiveFailureThreshold
            reporter.emit(
                .breakerOpened,
                trigger == "manual"
                    ? "Circuit breaker for \(component) isolated by hand"
                    : "Circuit breaker opened for \(component) after \(failures) failures (\(trigger))"
            ) {
                $0.set("failures", failures)
                if trigger == "failure_rate", let rate = configuration.failureRateThreshold {
                    $0.set("threshold", rate)
                    $0.set("calls", calls)
                } else if trigger == "slow_call_rate", let rate = configuration.slowCallRateThreshold {
                    $0.set("threshold", rate)
                    $0.set("calls", calls)
                } else if let threshold {
                    $0.set("threshold", threshold)
                }
                if let openFor { $0.set("reset_ms", openFor.milliseconds) }
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
