#if canImport(Glibc)
import Glibc
#endif

/// A small, fast, seedable random number generator (SplitMix64): reproducible streams for jitter, the demo's
/// days, benchmarks and tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator; the same seed gives the same numbers.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The bits of a value mixed: SplitMix64's finalizer, also a good last step of a hash.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The wall clock, epoch milliseconds: `received_at`, event times, and `now` on the command line.
public enum WallClock {
    /// The current time, epoch milliseconds.
    @inline(__always)
    public static func nowMillis() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000 + Int64(time.tv_nsec) / 1_000_000
    }
}
