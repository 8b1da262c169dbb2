import SelfHealEvents
import Testing

@testable import SelfHealStore

/// The incident ledger's index and its counters rows, against a `Dictionary` doing the same: growth, collisions
/// and deletion by backward shift.
@Suite struct LedgerTableTests {
    /// A deterministic generator (SplitMix64), so a failure repeats.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            return mix(state)
        }
    }

    @Test(arguments: [3, 64, 1_000_000])
    func probeIndexAgreesWithADictionary(distinctHashes: Int) {
        // Few distinct hashes force long probe runs, so removals must shift entries back across them.
        var random = Generator(state: UInt64(distinctHashes))
        var table = ProbeIndex()
        var slotHashes: [UInt64] = []
        var slotKeys: [Int] = []
        var freeSlots: [Int] = []
        var model: [Int: Int] = [:]
        func hash(_ key: Int) -> UInt64 { mix(UInt64(key % distinctHashes)) }
        for _ in 0..<20_000 {
            let key = Int.random(in: 0..<400, using: &random)
            let found = table.find(hash(key), hashes: slotHashes) { slotKeys[$0] == key }
            #expect(found == model[key])
            if let slot = found {
                table.remove(slot, hashes: slotHashes)
                model[key] = nil
                freeSlots.append(slot)
            } else {
                let slot: Int
                if let free = freeSlots.popLast() {
                    slot = free
                    slotHashes[slot] = hash(key)
                    slotKeys[slot] = key
                } else {
                    slot = slotHashes.count
                    slotHashes.append(hash(key))
                    slotKeys.append(key)
                }
                table.insert(slot, hashes: slotHashes)
                model[key] = slot
            }
        }
        #expect(!model.isEmpty)
        for key in 0..<400 {
            #expect(table.find(hash(key), hashes: slotHashes) { slotKeys[$0] == key } == model[key])
        }
    }

    @Test func counterRowsAgreeWithADictionary() {
        var random = Generator(state: 7)
        var rows = CounterRows()
        var model: [CounterKey: CounterValues] = [:]
        // Long and short names, equal lengths and shared ends, more rows than the first table holds.
        let services = (0..<150).map { index in
            index % 3 == 0 ? "svc-\(index)" : "a-very-long-service-name-\(index)-that-ends-the-same"
        }
        for round in 0..<3 {
            for _ in 0..<5_000 {
                let service = services[Int.random(in: 0..<services.count, using: &random)]
                let hour = Int64.random(in: 0..<3, using: &random)
                let kind = [EventKind.timeoutPrevented, .retryAttempt, .ratelimitThrottled].randomElement(
                    using: &random
                )!
                rows.count(kind, hour: hour, service: service)
                model[CounterKey(hour: hour, service: service), default: CounterValues()].count(kind)
            }
            #expect(rows.rows.count == model.count)
            #expect(Dictionary(uniqueKeysWithValues: rows.rows.map { ($0.key, $0.values) }) == model)
            rows.removeAll()
            model = [:]
            #expect(rows.rows.isEmpty, "round \(round)")
        }
    }
}
