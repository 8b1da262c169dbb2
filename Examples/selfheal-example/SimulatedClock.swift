import Synchronization

/// A clock for replaying stories in an instant: it only moves when the story says time passes (`advance`), or
/// when a primitive sleeps (a retry's backoff), which jumps to the end of the sleep at once. The primitives are
/// the real ones; only time is simulated.
final class SimulatedClock: Clock, Sendable {
    struct Instant: InstantProtocol, Hashable, Sendable {
        var offset: Duration

        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private let current = Mutex(Instant(offset: .zero))

    var now: Instant { current.withLock { $0 } }
    var minimumResolution: Duration { .nanoseconds(1) }

    func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        current.withLock { if deadline > $0 { $0 = deadline } }
    }

    /// Lets `duration` pass.
    func advance(by duration: Duration) {
        current.withLock { $0 = $0.advanced(by: duration) }
    }

    /// The time since the story began, e.g. `+1.250s`.
    var stamp: String {
        let milliseconds =
            now.offset.components.seconds * 1_000 + now.offset.components.attoseconds / 1_000_000_000_000_000
        let seconds = milliseconds / 1_000
        let fraction = String(milliseconds % 1_000)
        return "+\(seconds).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)s"
    }
}
