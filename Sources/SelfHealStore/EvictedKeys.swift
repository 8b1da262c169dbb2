import SelfHealEvents

/// A Bloom filter of the incident keys whose active incident the ledger holds only in SQLite: a key it has
/// never seen is known to have no active incident there without asking SQLite. A fixed size (2 MiB by
/// default) whatever the load; false positives only cost a lookup in SQLite's index of active incidents,
/// never a wrong answer. Keys cannot be removed: the ledger rebuilds the filter from SQLite when too many
/// insertions have made it stale (see ``IncidentLedger``).
package struct EvictedKeys: Sendable {
    private var words: [UInt64]
    private let mask: UInt64
    /// Insertions since the filter was made or emptied (a key inserted twice counts twice).
    private(set) var insertions = 0

    /// The default size: 2^24 bits, about 0.2% false positives at a million keys.
    package static let defaultBits = 1 << 24

    /// An empty filter of `bits` bits, a power of two of at least 64.
    package init(bits: Int = defaultBits) {
        precondition(bits >= 64 && bits & (bits - 1) == 0, "the filter's size must be a power of two")
        words = [UInt64](repeating: 0, count: bits / 64)
        mask = UInt64(bits - 1)
    }

    /// Whether nothing was inserted since the filter was made or emptied.
    var isEmpty: Bool { insertions == 0 }

    /// Adds a key's hash.
    package mutating func insert(_ hash: UInt64) {
        insertions += 1
        var position = hash
        let step = SplitMix64.mix(hash) | 1
        for _ in 0..<4 {
            let bit = position & mask
            words[Int(bit >> 6)] |= 1 << (bit & 63)
            position &+= step
        }
    }

    /// False when the hash was certainly never inserted.
    func mayContain(_ hash: UInt64) -> Bool {
        guard insertions > 0 else { return false }
        var position = hash
        let step = SplitMix64.mix(hash) | 1
        for _ in 0..<4 {
            let bit = position & mask
            if words[Int(bit >> 6)] & (1 << (bit & 63)) == 0 { return false }
            position &+= step
        }
        return true
    }

    /// Forgets every key.
    mutating func removeAll() {
        for index in words.indices { words[index] = 0 }
        insertions = 0
    }
}
