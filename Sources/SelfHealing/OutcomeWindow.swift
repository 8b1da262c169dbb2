/// The recent outcomes a circuit breaker judges its failure rate on: the last N calls, or the calls of the last
/// period (kept in ten buckets, so memory stays constant under any load).
///
/// Times are durations since the breaker's origin, so the window is not generic over the clock (generic types
/// cost a metadata lookup per call on the hot path).
struct OutcomeWindow {
    private struct Bucket {
        var epoch: Int = -1
        var calls: Int = 0
        var failures: Int = 0
        var slow: Int = 0
    }

    private static var bucketCount: Int { 10 }

    // Count-based window: a ring of the last outcomes.
    private var outcomes: [UInt8] = []
    private var next = 0
    private var filled = 0
    // Time-based window: buckets of `bucketWidth` since `start`.
    private var bucketWidth: Duration?
    private var buckets: [Bucket] = []

    /// Calls in the window.
    private(set) var calls = 0
    /// Failed calls in the window.
    private(set) var failures = 0
    /// Slow calls in the window (failed or not).
    private(set) var slow = 0

    init(_ window: CircuitBreakerConfiguration.Window) {
        switch window {
        case .count(let size):
            outcomes = Array(repeating: 0, count: max(1, size))
        case .time(let duration):
            bucketWidth = max(duration / OutcomeWindow.bucketCount, .nanoseconds(1))
            buckets = Array(repeating: Bucket(), count: OutcomeWindow.bucketCount)
        }
    }

    /// Whether the window needs the current time to record an outcome.
    var needsTime: Bool { bucketWidth != nil }

    /// The share of failed calls, 0 when there were none.
    var failureRate: Double { calls == 0 ? 0 : Double(failures) / Double(calls) }
    /// The share of slow calls, 0 when there were none.
    var slowRate: Double { calls == 0 ? 0 : Double(slow) / Double(calls) }

    /// Adds one outcome; `now` (time since the origin) is needed by a time-based window only.
    mutating func record(failed: Bool, slow isSlow: Bool = false, now: Duration?) {
        if let bucketWidth {
            guard let now else { return }
            let epoch = epoch(of: now, width: bucketWidth)
            for index in buckets.indices where buckets[index].epoch >= 0 && buckets[index].epoch <= epoch - 10 {
                buckets[index] = Bucket()
            }
            let index = epoch % OutcomeWindow.bucketCount
            if buckets[index].epoch != epoch { buckets[index] = Bucket(epoch: epoch) }
            buckets[index].calls += 1
            if failed { buckets[index].failures += 1 }
            if isSlow { buckets[index].slow += 1 }
            calls = 0
            failures = 0
            slow = 0
            for bucket in buckets {
                calls += bucket.calls
                failures += bucket.failures
                slow += bucket.slow
            }
        } else {
            if filled == outcomes.count {
                if outcomes[next] & 1 != 0 { failures -= 1 }
                if outcomes[next] & 2 != 0 { slow -= 1 }
                calls -= 1
            } else {
                filled += 1
            }
            outcomes[next] = (failed ? 1 : 0) | (isSlow ? 2 : 0)
            calls += 1
            if failed { failures += 1 }
            if isSlow { slow += 1 }
            next = next + 1 == outcomes.count ? 0 : next + 1
        }
    }

    private func epoch(of now: Duration, width: Duration) -> Int {
        guard now > .zero else { return 0 }
        let ratio = now / width
        return ratio >= Double(Int.max / 2) ? Int.max / 2 : Int(ratio)
    }
}
