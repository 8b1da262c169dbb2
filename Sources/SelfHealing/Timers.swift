import Dispatch
import Foundation
import Synchronization

/// A clock that can say what wall-clock time it is, so events are stamped by the clock the primitives run on (a
/// manual clock in a test, a simulated one in a replay) and recovery times come out as that clock measured them.
public protocol EventTimeSource: Sendable {
    /// The clock's current time as epoch milliseconds.
    var epochMilliseconds: Int64 { get }
}

/// A clock that runs timers itself (a manual clock fires them when it is advanced past their deadline). The
/// primitives use it for the breaker's half-open timer and the timeout's deadline instead of sleeping on it.
public protocol TimerScheduling: Sendable {
    /// Calls `action` once `delay` has passed on this clock; cancelling the returned handle before then stops it.
    func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> ScheduledTimer
}

/// A timer that can be cancelled before it fires.
public final class ScheduledTimer: Sendable {
    private let cancelled = Atomic<Bool>(false)
    /// The action, when the timer holds it (the shared deadline thread's timers): let go of on cancel, so what it
    /// captured is freed when the call answers, not when the thread next sweeps its heap.
    private let action: Mutex<(@Sendable () -> Void)?>

    /// Creates a handle.
    public init() { action = Mutex(nil) }

    /// A handle that holds its action until it fires or is cancelled.
    init(action: @escaping @Sendable () -> Void) { self.action = Mutex(action) }

    /// Stops the timer if it has not fired yet.
    public func cancel() {
        cancelled.store(true, ordering: .releasing)
        let released = action.withLock { action in
            defer { action = nil }
            return action
        }
        _ = released  // released here, outside the lock
    }

    /// Runs the action it holds, once, unless cancelled.
    func fire() {
        let action = action.withLock { action in
            defer { action = nil }
            return action
        }
        if !isCancelled { action?() }
    }

    /// Whether ``cancel()`` was called.
    public var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
}

/// Timers for the primitives of any clock: the clock's own when it runs timers (``TimerScheduling``), one shared
/// deadline thread for the system clocks, else a task sleeping on the clock.
struct Timers: Sendable {
    private let schedule: @Sendable (Duration, @escaping @Sendable () -> Void) -> ScheduledTimer

    init<C: Clock>(_ clock: C) where C.Duration == Duration {
        if let scheduling = clock as? any TimerScheduling {
            schedule = { scheduling.schedule(after: $0, $1) }
        } else if clock is ContinuousClock || clock is SuspendingClock {
            schedule = { DeadlineThread.shared.schedule(after: $0, $1) }
        } else {
            schedule = { delay, action in
                let timer = ScheduledTimer()
                Task {
                    try? await clock.sleep(for: delay)
                    if !timer.isCancelled { action() }
                }
                return timer
            }
        }
    }

    /// Calls `action` after `delay`, unless the returned timer is cancelled first.
    func after(_ delay: Duration, _ action: @escaping @Sendable () -> Void) -> ScheduledTimer {
        schedule(delay, action)
    }
}

/// One thread that fires the system clocks' timers in deadline order: scheduling is a lock and a heap insertion,
/// so a timeout costs no task and no thread hop while the call it guards is on time.
final class DeadlineThread: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var sequence: UInt64
        /// Holds the action until it fires or is cancelled.
        var timer: ScheduledTimer
    }

    private struct State {
        var heap: [Entry] = []
        var sequence: UInt64 = 0
        var running = false
        /// The heap size at which cancelled timers (calls that answered in time) are swept out.
        var compactAt = 4_096
    }

    static let shared = DeadlineThread()
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)

    func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> ScheduledTimer {
        let timer = ScheduledTimer(action: action)
        let deadline = ContinuousClock.now.advanced(by: delay)
        let (start, signal) = state.withLock { state -> (Bool, Bool) in
            state.sequence &+= 1
            // Read in place: `heap.first` would copy the entry (and retain its references) on every call.
            let earliest = state.heap.isEmpty ? nil : state.heap[0].deadline
            Self.push(Entry(deadline: deadline, sequence: state.sequence, timer: timer), &state.heap)
            if state.heap.count >= state.compactAt {
                // Most timers are cancelled long before their deadline: sweep them out now and then (a sorted
                // array is a valid heap), so memory follows the calls in flight, not the calls made. In place: the
                // array keeps its storage, so a sweep frees and allocates nothing.
                state.heap.removeAll { $0.timer.isCancelled }
                state.heap.sort(by: Self.before)
                state.compactAt = max(4_096, state.heap.count * 2)
            }
            let start = !state.running
            state.running = true
            return (start, earliest.map { deadline < $0 } ?? true)
        }
        if start {
            let thread = Thread { [self] in loop() }
            thread.name = "selfheal-timers"
            thread.start()
        } else if signal {
            wake.signal()
        }
        return timer
    }

    private func loop() {
        while true {
            let now = ContinuousClock.now
            var due: [Entry] = []
            let next = state.withLock { state -> ContinuousClock.Instant? in
                while !state.heap.isEmpty, state.heap[0].deadline <= now || state.heap[0].timer.isCancelled {
                    due.append(Self.pop(&state.heap))
                }
                return state.heap.isEmpty ? nil : state.heap[0].deadline
            }
            for entry in due { entry.timer.fire() }
            if let next {
                let wait = now.duration(to: next)
                let nanoseconds = max(
                    0,
                    wait.components.seconds * 1_000_000_000 + wait.components.attoseconds / 1_000_000_000
                )
                _ = wake.wait(timeout: .now() + .nanoseconds(Int(min(nanoseconds, 60_000_000_000))))
            } else {
                _ = wake.wait(timeout: .now() + .seconds(60))
            }
        }
    }

    private static func before(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline < b.deadline || (a.deadline == b.deadline && a.sequence < b.sequence)
    }

    /// Whether `heap[i]` is due before `heap[j]`, reading their keys in place (no copy of the entries).
    private static func before(_ heap: [Entry], _ i: Int, _ j: Int) -> Bool {
        heap[i].deadline < heap[j].deadline
            || (heap[i].deadline == heap[j].deadline && heap[i].sequence < heap[j].sequence)
    }

    private static func push(_ entry: consuming Entry, _ heap: inout [Entry]) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard before(heap, child, parent) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private static func pop(_ heap: inout [Entry]) -> Entry {
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, before(heap, left, smallest) { smallest = left }
            if right < heap.count, before(heap, right, smallest) { smallest = right }
            if smallest == parent { return top }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
