import SelfHealing
import Synchronization

/// A clock that only moves when told: `advance(by:)`, or a `sleep`, which moves it to the sleep's deadline at once
/// and records the duration. Tests run in no real time and see exactly the delays asked for.
///
/// It runs the primitives' timers itself (``TimerScheduling``): a breaker's half-open timer or a timeout's deadline
/// fires, in deadline order, when the clock is advanced past it (by `advance` or by a sleep). It also gives the
/// wall-clock time events are stamped with (``EventTimeSource``): `startingAt` plus the time advanced, so the
/// recovery times a daemon computes from those events are the clock's.
public final class ManualClock: Clock, EventTimeSource, TimerScheduling, Sendable {
    /// A point on the manual clock's line.
    public struct Instant: InstantProtocol, Hashable, Sendable {
        /// The distance from the clock's origin.
        public var offset: Duration

        /// Creates an instant.
        public init(offset: Duration) { self.offset = offset }

        /// The instant `duration` later.
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        /// The duration from this instant to `other`.
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        /// Orders instants by offset.
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Timer {
        var deadline: Instant
        var sequence: UInt64
        var handle: ScheduledTimer
        var action: @Sendable () -> Void
    }

    private struct State {
        var now = Instant(offset: .seconds(1_000))
        var sleeps: [Duration] = []
        var timers: [Timer] = []
        var sequence: UInt64 = 0
    }

    private static let origin = Instant(offset: .seconds(1_000))
    private let state = Mutex(State())
    /// The wall-clock time of the clock's start, epoch milliseconds.
    public let startEpochMilliseconds: Int64

    /// Creates a clock at its origin plus 1,000 s.
    /// - Parameter startingAt: the wall-clock time events are stamped with at the start, epoch milliseconds.
    ///   Default 2025-11-25T08:00:00Z.
    public init(startingAt: Int64 = 1_764_057_600_000) {
        startEpochMilliseconds = startingAt
    }

    /// The current instant.
    public var now: Instant { state.withLock { $0.now } }
    /// One nanosecond.
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// The durations slept so far, in order.
    public var sleeps: [Duration] { state.withLock { $0.sleeps } }

    /// The current time as epoch milliseconds: the start plus the time advanced.
    public var epochMilliseconds: Int64 {
        let elapsed = Self.origin.duration(to: now)
        let (seconds, attoseconds) = elapsed.components
        return startEpochMilliseconds + seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }

    /// Timers waiting to fire.
    public var pendingTimers: Int { state.withLock { $0.timers.filter { !$0.handle.isCancelled }.count } }

    /// Moves the clock to the deadline at once (firing the timers due by then) and records the duration.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        state.withLock { $0.sleeps.append($0.now.duration(to: deadline)) }
        move(to: deadline)
    }

    /// Moves the clock forward, firing the timers that fall due, each at its own deadline.
    public func advance(by duration: Duration) {
        move(to: now.advanced(by: duration))
    }

    /// Schedules `action` for when the clock has moved `delay` further.
    public func schedule(after delay: Duration, _ action: @escaping @Sendable () -> Void) -> ScheduledTimer {
        let handle = ScheduledTimer()
        state.withLock { state in
            state.sequence &+= 1
            state.timers.append(
                Timer(deadline: state.now.advanced(by: delay), sequence: state.sequence, handle: handle, action: action)
            )
        }
        return handle
    }

    /// Fires due timers one at a time, outside the lock, with the clock at each one's deadline.
    private func move(to target: Instant) {
        while true {
            let next = state.withLock { state -> Timer? in
                state.timers.removeAll { $0.handle.isCancelled }
                guard
                    let index = state.timers.indices.min(by: {
                        (state.timers[$0].deadline, state.timers[$0].sequence)
                            < (state.timers[$1].deadline, state.timers[$1].sequence)
                    }), state.timers[index].deadline <= target
                else {
                    if target > state.now { state.now = target }
                    return nil
                }
                let timer = state.timers.remove(at: index)
                if timer.deadline > state.now { state.now = timer.deadline }
                return timer
            }
            guard let next else { return }
            if !next.handle.isCancelled { next.action() }
        }
    }
}
