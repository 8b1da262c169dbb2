import Synchronization

/// A clock that only moves when told: `advance(by:)`, or a `sleep`, which moves it to the sleep's deadline at once
/// and records the duration. Tests run in no real time and see exactly the delays asked for.
public final class ManualClock: Clock, Sendable {
    /// A point on the manual clock's line.
    public struct Instant: InstantProtocol, Hashable, Sendable {
        /// The distance from the clock's origin.
        public var offset: Duration

        /// Creates an instant.
        public init(offset: Duration) { self.offset = offset }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct State {
        var now = Instant(offset: .seconds(1_000))
        public var sleeps: [Duration] = []
    }

    private let state = Mutex(State())

    /// Creates a clock at its origin plus 1,000 s.
    public init() {}

    public var now: Instant { state.withLock { $0.now } }
    public var minimumResolution: Duration { .nanoseconds(1) }

    /// The durations slept so far, in order.
    public var sleeps: [Duration] { state.withLock { $0.sleeps } }

    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        state.withLock { state in
            state.sleeps.append(state.now.duration(to: deadline))
            if deadline > state.now { state.now = deadline }
        }
    }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        state.withLock { $0.now = $0.now.advanced(by: duration) }
    }
}
