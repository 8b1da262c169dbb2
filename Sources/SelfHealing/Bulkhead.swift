import SelfHealEvents
import Synchronization

/// How much a call matters when a bulkhead is under pressure.
public enum CallPriority: Sendable, Equatable {
    /// Must run if at all possible (user auth, task assignment): queued first, never shed.
    case critical
    /// May be shed under critical load (analytics, reports, prefetches).
    case nonCritical
}

/// A bulkhead's limits.
public struct BulkheadConfiguration: Sendable {
    /// Whether the bulkhead is on; when off every call simply runs.
    public var isEnabled: Bool = true
    /// Calls that may run at once. Default 10.
    public var maxConcurrent: Int = 10
    /// Calls that may wait for a slot; beyond it calls are refused. Default 20.
    public var maxQueue: Int = 20
    /// Utilisation thresholds for `pool.warning`, `pool.critical` and `pool.recovered`.
    public var thresholds = PoolThresholds()
    /// Whether non-critical calls are refused while utilisation is critical. Default true.
    public var shedsNonCriticalAtCriticalLoad: Bool = true

    /// Creates a configuration with the documented defaults.
    public init() {}

    /// Creates a configuration.
    /// - Parameters:
    ///   - maxConcurrent: calls that may run at once.
    ///   - maxQueue: calls that may wait for a slot.
    ///   - thresholds: utilisation thresholds.
    public init(maxConcurrent: Int, maxQueue: Int = 20, thresholds: PoolThresholds = PoolThresholds()) {
        self.maxConcurrent = maxConcurrent
        self.maxQueue = maxQueue
        self.thresholds = thresholds
    }
}

/// A concurrency limit with a queue, that reports its utilisation like a pool monitor.
///
/// At most `maxConcurrent` calls run at once; others wait in a queue (critical calls ahead of non-critical ones)
/// of at most `maxQueue`. When the queue is full a critical call takes the place of the newest non-critical waiter,
/// which is refused. While utilisation is critical, new non-critical calls are shed at once.
/// Emits `pool.warning`, `pool.critical` and `pool.recovered` on level changes, and `bulkhead.rejected` on the
/// first refusal of each period of saturation.
public final class Bulkhead: Sendable {
    private struct Waiter {
        let id: UInt64
        let priority: CallPriority
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var inFlight = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var tracker: PoolLevelTracker
        var rejectionReported = false
        /// Events decided under the lock, emitted after it (a sink may read the bulkhead).
        var reports: [BulkheadReport] = []
    }

    /// The bulkhead's limits.
    public let configuration: BulkheadConfiguration
    /// Where events go; its component names the resource, e.g. `db-pool`.
    public let reporter: EventReporter
    private let state: Mutex<State>
    /// Whether `state.reports` may hold reports: lets ``emitReports()`` skip the lock on the common path.
    private let hasReports = Atomic<Bool>(false)

    /// Creates an idle bulkhead.
    /// - Parameters:
    ///   - configuration: limits and thresholds.
    ///   - reporter: where events go.
    public init(configuration: BulkheadConfiguration = BulkheadConfiguration(), reporter: EventReporter) {
        self.configuration = configuration
        self.reporter = reporter
        state = Mutex(State(tracker: PoolLevelTracker(thresholds: configuration.thresholds)))
    }

    /// Calls running now.
    public var inFlight: Int { state.withLock { $0.inFlight } }
    /// Calls waiting for a slot.
    public var queued: Int { state.withLock { $0.waiters.count } }
    /// Running calls as a share of `maxConcurrent`.
    public var utilisation: Double { Double(inFlight) / Double(max(1, configuration.maxConcurrent)) }
    /// The utilisation level.
    public var level: PoolLevel { state.withLock { $0.tracker.level } }

    /// Runs the operation in a slot, waiting in the queue if needed.
    /// - Parameters:
    ///   - priority: whether the call may be shed under critical load.
    ///   - operation: the work.
    /// - Throws: ``BulkheadFullError`` when refused, `CancellationError` when cancelled while queued, else whatever
    ///   the operation throws.
    public nonisolated(nonsending) func run<T>(
        priority: CallPriority = .critical,
        _ operation: nonisolated(nonsending) () async throws -> T
    ) async throws -> T {
        guard configuration.isEnabled else { return try await operation() }
        // A free slot is taken without an async call; only a call that must queue waits.
        if try !admitNow(priority: priority) { try await wait(priority: priority) }
        defer { release() }
        return try await operation()
    }

    /// Takes a slot, waiting in the queue if needed; give it back with ``release()``.
    public nonisolated(nonsending) func acquire(priority: CallPriority = .critical) async throws {
        guard configuration.isEnabled else { return }
        if try !admitNow(priority: priority) { try await wait(priority: priority) }
    }

    /// Takes a free slot if there is one (`false` when the call must queue); throws when the call is shed.
    private func admitNow(priority: CallPriority) throws(BulkheadFullError) -> Bool {
        defer { emitReports() }
        let maxConcurrent = max(1, configuration.maxConcurrent)
        let sheds = priority == .nonCritical && configuration.shedsNonCriticalAtCriticalLoad
        return try state.withLock { state throws(BulkheadFullError) -> Bool in
            if sheds, state.tracker.level == .critical {
                throw refuse(&state, reason: .shed)
            }
            if state.inFlight < maxConcurrent {
                state.inFlight += 1
                state.rejectionReported = false
                track(&state)
                return true
            }
            return false
        }
    }

    /// Waits in the queue for a slot (``release()`` hands it over), or is refused when the queue is full.
    private nonisolated(nonsending) func wait(priority: CallPriority) async throws {
        defer { emitReports() }
        let maxConcurrent = max(1, configuration.maxConcurrent)
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enqueue(Waiter(id: id, priority: priority, continuation: continuation), maxConcurrent: maxConcurrent)
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Gives a slot back: the first waiter (critical ones first) takes it, else it is freed.
    public func release() {
        guard configuration.isEnabled else { return }
        defer { emitReports() }
        let next = state.withLock { state -> Waiter? in
            if !state.waiters.isEmpty {
                let index = state.waiters.firstIndex { $0.priority == .critical } ?? 0
                return state.waiters.remove(at: index)
            }
            state.inFlight = max(0, state.inFlight - 1)
            track(&state)
            return nil
        }
        next?.continuation.resume()
    }

    private func enqueue(_ waiter: Waiter, maxConcurrent: Int) {
        defer { emitReports() }
        enum Outcome {
            case queued
            case resume(Waiter)
            case fail(Waiter, any Error)
        }
        let outcome = state.withLock { state -> Outcome in
            // Checked under the lock: a cancellation handler that ran before this found nothing to cancel.
            if Task.isCancelled { return .fail(waiter, CancellationError()) }
            if state.inFlight < maxConcurrent {
                // A slot was freed between the first look and now.
                state.inFlight += 1
                track(&state)
                return .resume(waiter)
            }
            if state.waiters.count < max(0, configuration.maxQueue) {
                state.waiters.append(waiter)
                return .queued
            }
            if waiter.priority == .critical,
                let index = state.waiters.lastIndex(where: { $0.priority == .nonCritical })
            {
                let evicted = state.waiters.remove(at: index)
                state.waiters.append(waiter)
                return .fail(evicted, refuse(&state, reason: .shed))
            }
            return .fail(waiter, refuse(&state, reason: .queueFull))
        }
        switch outcome {
        case .queued: break
        case .resume(let waiter): waiter.continuation.resume()
        case .fail(let waiter, let error): waiter.continuation.resume(throwing: error)
        }
    }

    private func track(_ state: inout State) {
        if let kind = state.tracker.update(used: state.inFlight, max: max(1, configuration.maxConcurrent)) {
            state.reports.append(.pool(kind, used: state.inFlight))
            hasReports.store(true, ordering: .releasing)
        }
    }

    private func refuse(_ state: inout State, reason: BulkheadFullError.Reason) -> BulkheadFullError {
        let error = BulkheadFullError(
            component: reporter.component,
            reason: reason,
            inFlight: state.inFlight,
            maxConcurrent: configuration.maxConcurrent
        )
        if !state.rejectionReported, reporter.isEnabled {
            state.rejectionReported = true
            state.reports.append(.rejected(error, queued: state.waiters.count))
            hasReports.store(true, ordering: .releasing)
        }
        return error
    }

    /// Emits the events decided under the lock, in order, with the lock released.
    private func emitReports() {
        // Every path that adds a report calls this after it, so a report added after this check is emitted by the
        // call that added it.
        guard hasReports.load(ordering: .acquiring) else { return }
        let reports = state.withLock { state -> [BulkheadReport] in
            hasReports.store(false, ordering: .relaxed)
            guard !state.reports.isEmpty else { return [] }
            defer { state.reports.removeAll() }
            return state.reports
        }
        for report in reports {
            switch report {
            case .pool(let kind, let used):
                reporter.reportPool(kind, used: used, max: configuration.maxConcurrent)
            case .rejected(let error, let queued):
                reporter.emit(.bulkheadRejected, error.description) {
                    $0.set("max", error.maxConcurrent)
                    $0.set("in_flight", error.inFlight)
                    $0.set("queued", queued)
                    $0.set("reason", error.reason.rawValue)
                }
            }
        }
    }

    /// The bulkhead's load, for metrics.
    public var snapshot: BulkheadSnapshot {
        state.withLock { state in
            BulkheadSnapshot(
                component: reporter.component,
                inFlight: state.inFlight,
                queued: state.waiters.count,
                maxConcurrent: configuration.maxConcurrent,
                level: state.tracker.level
            )
        }
    }
}

/// An event a bulkhead decided to emit.
enum BulkheadReport {
    case pool(EventKind, used: Int)
    case rejected(BulkheadFullError, queued: Int)
}

/// A bulkhead's load: for metrics and health pages.
public struct BulkheadSnapshot: Sendable, Equatable {
    /// The resource.
    public var component: String
    /// Calls running.
    public var inFlight: Int
    /// Calls waiting.
    public var queued: Int
    /// The concurrency limit.
    public var maxConcurrent: Int
    /// The utilisation level.
    public var level: PoolLevel
}
