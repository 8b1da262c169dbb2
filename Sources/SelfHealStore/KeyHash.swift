import SelfHealEvents

/// A fast non-cryptographic hash of a string's UTF-8 bytes, all of them: eight bytes at a time, each word mixed
/// in by a multiplication and a shift, the last partial word read as the final eight bytes. Keys that share
/// their first and last bytes (`order-000123-payment`) hash apart like any others.
func keyHash(_ string: String) -> UInt64 {
    if let hash = string.utf8.withContiguousStorageIfAvailable({ keyHash(UnsafeRawBufferPointer($0)) }) {
        return hash
    }
    var copy = string
    return copy.withUTF8 { keyHash(UnsafeRawBufferPointer($0)) }
}

/// ``keyHash(_:)`` of raw bytes.
func keyHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    let count = bytes.count
    var hash: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ (UInt64(count) &* 0xFF51_AFD7_ED55_8CCD)
    var offset = 0
    while offset + 8 <= count {
        hash = (hash ^ bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) &* 0xBF58_476D_1CE4_E5B9
        hash ^= hash >> 31
        offset += 8
    }
    if offset < count {
        var tail: UInt64 = 0
        if count >= 8 {
            // The last eight bytes, overlapping the words already read.
            tail = bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        } else if let base = bytes.baseAddress {
            withUnsafeMutableBytes(of: &tail) { $0.baseAddress?.copyMemory(from: base, byteCount: count) }
        }
        hash = (hash ^ tail) &* 0x94D0_49BB_1331_11EB
        hash ^= hash >> 29
    }
    return SplitMix64.mix(hash)
}

/// The UTC hour an instant falls in: floor(ms / 3,600,000).
func hourOf(_ millis: Int64) -> Int64 {
    let hour: Int64 = 3_600_000
    return millis >= 0 ? millis / hour : -((-millis + hour - 1) / hour)
}
