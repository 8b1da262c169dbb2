import SelfHealEvents
import Synchronization

/// A call that took longer than its timeout; the call was cancelled.
public struct TimeoutError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The component the call was to.
    public var component: String
    /// The time allowed.
    public var timeout: Duration

    /// Creates the error.
    public init(component: String, timeout: Duration) {
        self.component = component
        self.timeout = timeout
    }

    /// A one-line description a person can act on.
    public var description: String { "\(component) did not answer within \(timeout.milliseconds) ms" }
}

/// Gives a call a time limit: when it passes, the caller gets ``TimeoutError`` at once and the call's task is
/// cancelled (the loser of the race), so a hung call cannot hold a breaker's probe slot or a health round.
///
/// Placed inside a retry it limits each attempt; outside it, the whole call with its retries. The deadline is a
/// timer of the clock (a manual clock fires it when advanced past it; the system clocks share one timer thread),
/// not a second task. Emits `timeout.fired` (attrs `timeout_ms`, `elapsed_ms`) each time, and
/// `recovery.succeeded` on the first call in time after one fired.
public final class Timeout<C: Clock>: Sendable where C.Duration == Duration {
    /// The time allowed.
    public let duration: Duration
    /// Whether the limit is on; when off the call simply runs.
    public let isEnabled: Bool
    /// Where events go.
    public let reporter: EventReporter
    /// The clock the deadline is measured on.
    public let clock: C
    private let timers: Timers

    /// Creates a timeout.
    /// - Parameters:
    ///   - duration: the time allowed.
    ///   - reporter: where events go.
    ///   - isEnabled: when `false` the call simply runs.
    ///   - clock: the clock the deadline is measured on.
    public init(_ duration: Duration, reporter: EventReporter, isEnabled: Bool = true, clock: C) {
        self.duration = duration
        self.isEnabled = isEnabled
        self.reporter = reporter.timed(by: clock)
        self.clock = clock
        timers = Timers(clock)
    }

    /// Runs the operation with the time limit.
    ///
    /// The operation runs in a task of its own, so that cancelling it when it loses does not cancel the caller (an
    /// attempt that timed out inside a retry leaves the next attempt free to run). That task starts at once on the
    /// caller's thread (`Task.immediate`): a call that answers without suspending has finished before the caller
    /// would wait, so the success path makes no executor hop and no continuation; the deadline is an entry on the
    /// clock's timer, removed when the call answers.
    /// - Throws: ``TimeoutError`` when the time passed first, `CancellationError` when the caller was cancelled,
    ///   else whatever the operation throws.
    public nonisolated(nonsending) func run<T: Sendable>(
        _ operation: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        guard isEnabled else { return try await operation() }
        try Task.checkCancellation()
        let race = TimeoutRace()
        // The deadline is set before the call starts, so a call that moves a manual clock cannot outrun it.
        let timer = timers.after(duration) { [self] in
            if race.finish(.failure(TimeoutError(component: reporter.component, timeout: duration))) { reportFired() }
        }
        let outcome = await race.run(operation)
        timer.cancel()
        switch outcome {
        case .success(let value):
            reporter.recoverIfFailing("a call within \(duration.milliseconds) ms")
            // The value is the operation's: of type T.
            return value as! T
        case .failure(let error): throw error
        }
    }

    private func reportFired() {
        guard reporter.isEnabled else { return }
        let milliseconds = duration.milliseconds
        reporter.emit(.timeoutFired, "\(reporter.component) timed out after \(milliseconds) ms; call cancelled") {
            $0.set("timeout_ms", milliseconds)
            $0.set("elapsed_ms", milliseconds)
        }
    }
}

extension Timeout where C == ContinuousClock {
    /// Creates a timeout on the continuous clock.
    /// - Parameters:
    ///   - duration: the time allowed.
    ///   - reporter: where events go.
    ///   - isEnabled: when `false` the call simply runs.
    public convenience init(_ duration: Duration, reporter: EventReporter, isEnabled: Bool = true) {
        self.init(duration, reporter: reporter, isEnabled: isEnabled, clock: ContinuousClock())
    }
}

extension Result where Failure == any Error {
    /// The result of an async throwing body, run on the caller's executor.
    nonisolated(nonsending) init(catching body: nonisolated(nonsending) () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// The race between a call, its deadline and the caller's cancellation: the first to finish wins, once.
///
/// Not generic: the value travels as `any Sendable` and is cast back once, because unspecialised generic code (a
/// pipeline's, across the module boundary) looks up the runtime metadata of every generic type it touches on each
/// call, which cost more than the whole race.
final class TimeoutRace: Sendable {
    /// A call's result, its value type-erased.
    typealias Outcome = Result<any Sendable, any Error>

    private enum Phase {
        case pending(CheckedContinuation<Outcome, Never>?)
        case finished(Outcome)
        case delivered
    }

    private struct State {
        var phase = Phase.pending(nil)
        /// The call's task, cancelled when the deadline or the caller's cancellation wins.
        var task: Task<Void, Never>?
        /// Whether the call's task is to be cancelled (a failure won before the task was attached).
        var cancel = false
    }

    private let state = Mutex(State())

    /// Gives the race the call's task (cancelled at once if the race was already lost).
    private func attach(_ call: Task<Void, Never>) {
        let cancel = state.withLock { state in
            state.task = call
            return state.cancel
        }
        if cancel { call.cancel() }
    }

    /// Settles the race with `outcome` if nothing settled it yet; `true` when this call won. A deadline or a
    /// cancellation that wins cancels the call's task.
    @discardableResult
    func finish(_ outcome: Outcome) -> Bool {
        var isFailure = false
        if case .failure = outcome { isFailure = true }
        var won = false
        var continuation: CheckedContinuation<Outcome, Never>?
        var call: Task<Void, Never>?
        state.withLock { state in
            guard case .pending(let waiting) = state.phase else { return }
            won = true
            continuation = waiting
            state.phase = waiting == nil ? .finished(outcome) : .delivered
            if isFailure {
                state.cancel = true
                call = state.task
            }
        }
        call?.cancel()
        continuation?.resume(returning: outcome)
        return won
    }

    /// Starts the call in a task of its own that begins at once on the caller's thread, and returns the race's
    /// outcome: the call's, the deadline's, or `CancellationError` when the caller is cancelled first. A call that
    /// answers without suspending has settled the race before this would wait, so it returns without suspending.
    nonisolated(nonsending) func run<T: Sendable>(
        _ operation: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async -> Outcome {
        attach(Task.immediate { self.finish(await Outcome { try await operation() }) })
        if let ready = takeIfFinished() { return ready }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { wait($0) }
        } onCancel: {
            finish(.failure(CancellationError()))
        }
    }

    /// The outcome if the race is settled and nobody waits for it yet (it is then delivered).
    private func takeIfFinished() -> Outcome? {
        state.withLock { state in
            guard case .finished(let outcome) = state.phase else { return nil }
            state.phase = .delivered
            return outcome
        }
    }

    /// Waits for the race's outcome.
    private func wait(_ continuation: CheckedContinuation<Outcome, Never>) {
        let ready = state.withLock { state -> Outcome? in
            if case .finished(let outcome) = state.phase {
                state.phase = .delivered
                return outcome
            }
            state.phase = .pending(continuation)
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }
}
