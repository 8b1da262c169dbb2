import Foundation
import SelfHealEvents
import Testing

@testable import SelfHealStore

/// The ledger's hashing of whole keys, and its filter of keys held only in SQLite.
@Suite struct KeyHashTests {
    /// Keys that share their first and last bytes, as real incident keys do, spread over the table: no bucket
    /// of a 4,096-bucket table gets more than a few of 40,000 keys.
    @Test(
        arguments: [
            { (n: Int) in "order-\(String(format: "%06d", n))-payment" },
            { (n: Int) in "tenant-eu-1/\(String(format: "%06d", n))/db-pool" },
            { (n: Int) in
                "k-" + String(repeating: "x", count: 25) + String(format: "%08d", n) + String(repeating: "y", count: 25)
            },
            { (n: Int) in "key-\(n)" },
        ] as [@Sendable (Int) -> String]
    )
    func keysThatDifferAnywhereSpreadEvenly(shape: @Sendable (Int) -> String) {
        var buckets = [Int](repeating: 0, count: 4_096)
        var hashes = Set<UInt64>()
        for n in 0..<40_000 {
            let hash = keyHash(shape(n))
            hashes.insert(hash)
            buckets[Int(hash & 4_095)] += 1
        }
        #expect(hashes.count == 40_000)
        // About 9.8 a bucket on average; a fair hash keeps the fullest one far below 40.
        #expect(buckets.max()! < 30)
    }

    @Test func everyByteCounts() {
        let base = Array("tenant-eu-1/000042/db-pool".utf8)
        let hash = base.withUnsafeBytes { keyHash($0) }
        for index in base.indices {
            var changed = base
            changed[index] ^= 1
            #expect(changed.withUnsafeBytes { keyHash($0) } != hash, "byte \(index)")
        }
        #expect(keyHash("") != keyHash("\u{0}"))
        #expect(keyHash("abcdefgh") != keyHash("abcdefgh\u{0}"))
    }

    @Test func stringsAndBytesHashAlike() {
        for text in ["", "a", "db-pool", "exactly8", "a longer key of forty-two bytes in all!!", "ünïcödé"] {
            #expect(keyHash(text) == Array(text.utf8).withUnsafeBytes { keyHash($0) })
        }
    }

    @Test func incidentKeysOfTheTwoSortsDiffer() {
        let byComponent = IncidentKey(service: "api", name: "checkout", byIncident: false)
        let byIncident = IncidentKey(service: "api", name: "checkout", byIncident: true)
        #expect(byComponent != byIncident)
        #expect(byComponent.hash != byIncident.hash)
        #expect(
            IncidentKey(service: "a", name: "bc", byIncident: false)
                != IncidentKey(service: "ab", name: "c", byIncident: false)
        )
    }

    @Test func theFilterNeverForgetsAKey() {
        var filter = EvictedKeys(bits: 1 << 16)
        #expect(filter.isEmpty && !filter.mayContain(42))
        var random = SplitMix64(seed: 1)
        let inserted = (0..<5_000).map { _ in random.next() }
        for hash in inserted { filter.insert(hash) }
        #expect(inserted.allSatisfy { filter.mayContain($0) })
        // 13 bits a key and 4 probes: about 1% false positives.
        let others = (0..<10_000).map { _ in random.next() }
        let falsePositives = others.count { filter.mayContain($0) }
        #expect(falsePositives < 300)
        filter.removeAll()
        #expect(filter.isEmpty && !inserted.contains { filter.mayContain($0) })
    }
}
