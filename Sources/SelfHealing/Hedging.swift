import Synchronization

/// Hedging as a layer: when the call has not answered after `delay`, a second one starts (up to `maxAttempts`
/// in all, at once when one fails); the first success wins and the others are cancelled. For idempotent reads of
/// a dependency with a slow tail. The last failure is thrown when every attempt failed.
public struct HedgingLayer<C: Clock>: PipelineLayer where C.Duration == Duration {
    /// How long to wait for an answer before starting another attempt.
    public let delay: Duration
    /// The most attempts running or run, the first included (at least 1).
    public let maxAttempts: Int
    private let timers: Timers

    /// Creates the layer.
    /// - Parameters:
    ///   - delay: how long to wait before hedging.
    ///   - maxAttempts: the most attempts, the first included.
    ///   - clock: the clock the delay is measured on.
    public init(delay: Duration, maxAttempts: Int = 2, clock: C) {
        self.delay = delay
        self.maxAttempts = max(1, maxAttempts)
        timers = Timers(clock)
    }

    /// Runs the rest, hedged.
    public nonisolated(nonsending) func execute<T: Sendable>(
        _ call: PipelineCall<T>,
        _ next: nonisolated(nonsending) @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = HedgeRace<T>(maxAttempts: maxAttempts)
        let delay = delay
        let timers = timers
        @Sendable func launch() {
            guard race.begin() else { return }
            // The next attempt's timer is set before this one starts, so an attempt cannot outrun it.
            _ = timers.after(delay) { launch() }
            race.track(
                Task {
                    let result = await Result { try await next() }
                    if race.complete(result) { launch() }
                }
            )
        }
        launch()
        return try await withTaskCancellationHandler {
            await withCheckedContinuation { race.wait($0) }
        } onCancel: {
            race.cancelAll()
        }.get()
    }

    /// No state.
    public var snapshot: LayerSnapshot? { nil }
}

/// The attempts of one hedged call.
final class HedgeRace<T: Sendable>: Sendable {
    private struct State {
        var started = 0
        var failed = 0
        var done = false
        var result: Result<T, any Error>?
        var continuation: CheckedContinuation<Result<T, any Error>, Never>?
        var tasks: [Task<Void, Never>] = []
    }

    private let state = Mutex(State())
    private let maxAttempts: Int

    init(maxAttempts: Int) { self.maxAttempts = maxAttempts }

    /// Whether another attempt may start (and counts it).
    func begin() -> Bool {
        state.withLock { state in
            guard !state.done, state.started < maxAttempts else { return false }
            state.started += 1
            return true
        }
    }

    func track(_ task: Task<Void, Never>) {
        let cancel = state.withLock { state -> Bool in
            state.tasks.append(task)
            return state.done
        }
        if cancel { task.cancel() }
    }

    /// Records an attempt's result; `true` when another attempt should start now (this one failed, others may).
    func complete(_ result: Result<T, any Error>) -> Bool {
        let (deliver, tasks, again) = state.withLock {
            state -> (
                (CheckedContinuation<Result<T, any Error>, Never>, Result<T, any Error>)?, [Task<Void, Never>], Bool
            ) in
            guard !state.done else { return (nil, [], false) }
            if case .failure = result {
                state.failed += 1
                if state.failed < maxAttempts {
                    // Others are running, or one more may start: keep going.
                    return (nil, [], state.started < maxAttempts)
                }
            }
            state.done = true
            let tasks = state.tasks
            if let continuation = state.continuation {
                state.continuation = nil
                return ((continuation, result), tasks, false)
            }
            state.result = result
            return (nil, tasks, false)
        }
        for task in tasks { task.cancel() }
        if let (continuation, result) = deliver { continuation.resume(returning: result) }
        return again
    }

    func wait(_ continuation: CheckedContinuation<Result<T, any Error>, Never>) {
        let ready = state.withLock { state -> Result<T, any Error>? in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }

    func cancelAll() {
        let tasks = state.withLock { $0.tasks }
        for task in tasks { task.cancel() }
    }
}
