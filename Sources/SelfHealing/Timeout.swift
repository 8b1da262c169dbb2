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
    /// - Throws: ``TimeoutError`` when the time passed first, `CancellationError` when the caller was cancelled,
    ///   else whatever the operation throws.
    public func run<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        guard isEnabled else { return try await operation() }
        try Task.checkCancellation()
        let race = TimeoutRace<T>()
        let limit = duration
        let component = reporter.component
        // The deadline is set before the call starts, so a call that moves a manual clock cannot outrun it.
        let timer = timers.after(limit) { [self] in
            if race.finish(.failure(TimeoutError(component: component, timeout: limit))) { reportFired() }
        }
        race.attach(Task { race.finish(await Result { try await operation() }) })
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { race.wait($0) }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
        timer.cancel()
        if case .success = result { reporter.recoverIfFailing("a call within \(limit.milliseconds) ms") }
        return try result.get()
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
    /// The result of an async throwing body.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}

/// The race between a call, its deadline and the caller's cancellation: the first to finish wins, once.
final class TimeoutRace<T: Sendable>: Sendable {
    private enum State {
        case pending(CheckedContinuation<Result<T, any Error>, Never>?)
        case finished(Result<T, any Error>)
        case delivered
    }

    private let state = Mutex<State>(.pending(nil))
    /// The call's task, cancelled when the deadline or the caller's cancellation wins.
    private let task = Mutex<(task: Task<Void, Never>?, cancel: Bool)>((nil, false))

    /// Gives the race the call's task (cancelled at once if the race was already lost).
    func attach(_ call: Task<Void, Never>) {
        let cancel = task.withLock { entry in
            entry.task = call
            return entry.cancel
        }
        if cancel { call.cancel() }
    }

    /// Settles the race with `result` if nothing settled it yet; `true` when this call won. A deadline or a
    /// cancellation that wins cancels the call's task.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (won, continuation) = state.withLock { state -> (Bool, CheckedContinuation<Result<T, any Error>, Never>?) in
            guard case .pending(let continuation) = state else { return (false, nil) }
            state = continuation == nil ? .finished(result) : .delivered
            return (true, continuation)
        }
        if won, case .failure = result {
            let call = task.withLock { entry in
                entry.cancel = true
                return entry.task
            }
            call?.cancel()
        }
        continuation?.resume(returning: result)
        return won
    }

    /// Waits for the race's result.
    func wait(_ continuation: CheckedContinuation<Result<T, any Error>, Never>) {
        let ready = state.withLock { state -> Result<T, any Error>? in
            if case .finished(let result) = state {
                state = .delivered
                return result
            }
            state = .pending(continuation)
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }
}
