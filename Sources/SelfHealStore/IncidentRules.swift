import SelfHealEvents

/// The key of an incident (SPEC section 5): `(service, incident)` when the event gives `incident`, else
/// `(service, component)`. Keys of the two sorts never meet, even when the strings are equal.
struct IncidentKey: Hashable, Sendable {
    var service: String
    var name: String
    var byIncident: Bool

    init(service: String, name: String, byIncident: Bool) {
        self.service = service
        self.name = name
        self.byIncident = byIncident
    }
}

/// The distinct mitigate kinds of an incident, as bits in the order of their names.
struct ActionSet: Equatable, Sendable {
    var bits: UInt32 = 0

    /// The mitigate kinds of the vocabulary, sorted by name: bit i is `names[i]`.
    static let names: [String] = EventKind.vocabulary.filter { $0.role == .mitigate }.map(\.name).sorted()
    /// The names found by ``quickHash(_:)``: a `Dictionary` hashed the whole name with SipHash for every
    /// mitigate event (370 instructions a lookup, measured with callgrind).
    private static let nameHashes = names.map(quickHash)
    private static let nameIndex: ProbeIndex = {
        var index = ProbeIndex()
        for name in names.indices { index.insert(name, hashes: nameHashes) }
        return index
    }()

    mutating func insert(_ kind: String) {
        if let bit = Self.nameIndex.find(quickHash(kind), hashes: Self.nameHashes, where: { Self.names[$0] == kind }) {
            bits |= 1 << UInt32(bit)
        }
    }

    /// The kinds as a JSON array, as the `actions` column holds them: `["breaker.opened","retry.attempt"]`.
    var json: String { Self.jsonBySet[Int(bits)] }
    private static let jsonBySet: [String] = (0..<(1 << names.count)).map { bits in
        JSONText.array(names.enumerated().compactMap { bits & (1 << $0) != 0 ? JSONText.quoted($1) : nil })
    }

    /// Every set by its JSON text.
    static let byJSON: [String: ActionSet] = Dictionary(
        uniqueKeysWithValues: jsonBySet.enumerated().map { ($1, ActionSet(bits: UInt32($0))) }
    )

    private init(bits: UInt32) { self.bits = bits }

    /// The kinds, sorted.
    var sorted: [String] { Self.sortedBySet[Int(bits)] }
    private static let sortedBySet: [[String]] = (0..<(1 << names.count)).map { bits in
        names.enumerated().compactMap { bits & (1 << $0) != 0 ? $1 : nil }
    }

    init() {}

    init(_ kinds: [String]) {
        for kind in kinds { insert(kind) }
    }
}

/// An incident while the rules work on it.
struct IncidentRecord: Equatable, Sendable {
    var id: Int64
    var key: IncidentKey
    var component: String
    var kind: String
    var title: String
    var state: IncidentState
    var peakLevel: EventLevel
    var openedAt: Int64
    var resolvedAt: Int64?
    var failedAt: Int64?
    var eventCount: Int64
    var actions: ActionSet
    var firstSeq: Int64
    var lastSeq: Int64

    var recoveryMs: Int64? { resolvedAt.map { max(0, $0 - openedAt) } }

    /// The longest an incident of each span class lasts (class 3: longer, or unresolved).
    static let spanBounds: [Int64] = [60_000, 3_600_000, 86_400_000]

    /// The `span_class` column: 0 at most a minute, 1 at most an hour, 2 at most a day, 3 longer or unresolved.
    var spanClass: Int64 {
        guard let recovery = recoveryMs else { return 3 }
        return Int64(Self.spanBounds.firstIndex { recovery <= $0 } ?? 3)
    }

    var incident: Incident {
        Incident(
            id: id,
            service: key.service,
            component: component,
            incident: key.byIncident ? key.name : nil,
            kind: kind,
            title: title,
            state: state,
            peakLevel: peakLevel,
            openedAt: openedAt,
            resolvedAt: resolvedAt,
            failedAt: failedAt,
            eventCount: eventCount,
            actions: actions.sorted,
            firstSeq: firstSeq,
            lastSeq: lastSeq
        )
    }

    /// Readable text from the first event: `pool.warning on db-pool: Pool at 92%`, with the message's first line
    /// (a line of more than 160 bytes cut to 159 characters and an ellipsis).
    static func title(_ event: UnsafePointer<Event>) -> String {
        // This runs for every incident the daemon opens: the bytes are copied into one new string (building it
        // by appending cost 1,750 instructions a title, measured with callgrind).
        var kind = event.pointee.kind.name
        var component = event.pointee.component
        var message = event.pointee.message ?? ""
        return kind.withUTF8 { kind in
            component.withUTF8 { component in
                message.withUTF8 { message in
                    let lineBytes = message.firstIndex { $0 == 0x0A || $0 == 0x0D } ?? message.count
                    // A line of more than 160 bytes is cut to 159 characters and an ellipsis.
                    guard lineBytes <= 160 else {
                        return longTitle(kind: kind, component: component, line: message[..<lineBytes])
                    }
                    let separator = lineBytes > 0 ? 2 : 0
                    return String(unsafeUninitializedCapacity: kind.count + 4 + component.count + separator + lineBytes)
                    { title in
                        // Each returns the index after what it wrote.
                        var end = title.initialize(fromContentsOf: kind)
                        end = title[end...].initialize(fromContentsOf: " on ".utf8)
                        end = title[end...].initialize(fromContentsOf: component)
                        guard lineBytes > 0 else { return end }
                        end = title[end...].initialize(fromContentsOf: ": ".utf8)
                        return title[end...].initialize(fromContentsOf: message[..<lineBytes])
                    }
                }
            }
        }
    }

    /// A title whose message line is longer than 160 bytes: cut to 159 characters and an ellipsis.
    private static func longTitle(
        kind: UnsafeBufferPointer<UInt8>,
        component: UnsafeBufferPointer<UInt8>,
        line: UnsafeBufferPointer<UInt8>.SubSequence
    ) -> String {
        String(decoding: kind, as: UTF8.self) + " on " + String(decoding: component, as: UTF8.self) + ": "
            + String(decoding: line, as: UTF8.self).prefix(159) + "…"
    }
}

/// The counters of one hour and service (see `counters` in `schema/002_projections.sql`).
struct CounterKey: Hashable, Sendable {
    var hour: Int64
    var service: String
}

/// Values of a counters row, or a change to one.
struct CounterValues: Equatable, Sendable {
    var events: Int64 = 0
    var timeoutPrevented: Int64 = 0
    var transitionBlocked: Int64 = 0
    var ratelimitThrottled: Int64 = 0
    var open: Int64 = 0
    var resolved: Int64 = 0
    var failed: Int64 = 0
    var recoverySum: Int64 = 0

    var isZero: Bool { self == CounterValues() }

    /// The prevent kinds, in the order of their columns.
    static let preventKinds = ["timeout.prevented", "transition.blocked", "ratelimit.throttled"]

    /// Counts one event of a kind.
    mutating func count(_ kind: EventKind) {
        events += 1
        guard kind.role == .prevent else { return }
        // The vocabulary has these three prevent kinds; a new one needs a column (a new migration). Their lengths
        // differ, so one comparison of names decides instead of up to three.
        let name = kind.name
        switch name.utf8.count {
        case 17 where name == "timeout.prevented": timeoutPrevented += 1
        case 18 where name == "transition.blocked": transitionBlocked += 1
        case 19 where name == "ratelimit.throttled": ratelimitThrottled += 1
        default: break
        }
    }

    /// The prevent counts by kind name.
    var prevented: [String: Int64] {
        [
            "timeout.prevented": timeoutPrevented, "transition.blocked": transitionBlocked,
            "ratelimit.throttled": ratelimitThrottled,
        ]
    }

    mutating func add(_ other: CounterValues, sign: Int64 = 1) {
        events += sign * other.events
        timeoutPrevented += sign * other.timeoutPrevented
        transitionBlocked += sign * other.transitionBlocked
        ratelimitThrottled += sign * other.ratelimitThrottled
        open += sign * other.open
        resolved += sign * other.resolved
        failed += sign * other.failed
        recoverySum += sign * other.recoverySum
    }

    /// Adds (`sign` 1) or takes back (-1) what an incident counts in the row of its opening hour.
    mutating func add(incidentIn state: IncidentState, recoveryMs: Int64?, sign: Int64) {
        switch state {
        case .open: open += sign
        case .resolved:
            resolved += sign
            recoverySum += sign * (recoveryMs ?? 0)
        case .failed: failed += sign
        }
    }
}

/// The counters rows one batch touches, found by hour and service for every event the daemon commits. A batch
/// touches few rows, and a `Dictionary` hashed the service name with SipHash for each event, which cost more
/// than the counting itself: rows are found through a ``ProbeIndex`` on ``quickHash(_:)``, the row used last
/// first.
struct CounterRows: Sendable {
    /// The rows, in order of first use.
    private(set) var rows: [(key: CounterKey, values: CounterValues)] = []
    /// Each row's hash.
    private var hashes: [UInt64] = []
    private var index = ProbeIndex()
    private var lastRow = -1

    /// Counts an event of this kind in the row of its hour and service.
    mutating func count(_ kind: EventKind, hour: Int64, service: String) {
        rows[row(hour: hour, service: service)].values.count(kind)
    }

    /// Adds (`sign` 1) or takes back (-1) what an incident counts: in the row of its opening hour and service.
    mutating func add(_ record: borrowing IncidentRecord, sign: Int64) {
        let row = row(hour: hourOf(record.openedAt), service: record.key.service)
        rows[row].values.add(incidentIn: record.state, recoveryMs: record.recoveryMs, sign: sign)
    }

    /// The index in ``rows`` of the row of this hour and service, added (empty) if new.
    private mutating func row(hour: Int64, service: String) -> Int {
        // Events of one service often come together: the row used last is tried before hashing.
        if lastRow >= 0, rows[lastRow].key.hour == hour, rows[lastRow].key.service == service { return lastRow }
        let hash = mix(UInt64(bitPattern: hour) &* 0x9E37_79B9_7F4A_7C15 ^ quickHash(service))
        func matches(_ row: Int) -> Bool {
            hashes[row] == hash && rows[row].key.hour == hour && rows[row].key.service == service
        }
        if let found = index.find(hash, hashes: hashes, where: matches) {
            lastRow = found
            return found
        }
        lastRow = rows.count
        rows.append((CounterKey(hour: hour, service: service), CounterValues()))
        hashes.append(hash)
        index.insert(lastRow, hashes: hashes)
        return lastRow
    }

    mutating func removeAll() {
        rows.removeAll(keepingCapacity: true)
        hashes.removeAll(keepingCapacity: true)
        index.removeAll()
        lastRow = -1
    }
}

/// A cheap hash of a string for the ledger's tables, which look up a service or key for every event: the
/// length and the first and last eight bytes (a string shorter than eight bytes counts whole). Collisions
/// only cost a comparison of the strings.
func quickHash(_ string: String) -> UInt64 {
    let hash = string.utf8.withContiguousStorageIfAvailable { bytes in
        let raw = UnsafeRawBufferPointer(bytes)
        var head: UInt64 = 0
        var tail: UInt64 = 0
        if raw.count >= 8 {
            head = raw.loadUnaligned(as: UInt64.self)
            tail = raw.loadUnaligned(fromByteOffset: raw.count - 8, as: UInt64.self)
        } else if let base = raw.baseAddress {
            // Short names (`svc-03`) are common: one copy, not a loop over the bytes (measured with callgrind:
            // 40 instructions a call, against 295 for a loop over the `UTF8View`).
            withUnsafeMutableBytes(of: &head) { $0.baseAddress?.copyMemory(from: base, byteCount: raw.count) }
        }
        return (head &* 0xC2B2_AE3D_27D4_EB4F) ^ (tail &* 0x1656_67B1_9E37_79F9) ^ UInt64(raw.count)
    }
    return hash ?? UInt64(truncatingIfNeeded: string.hashValue)
}

/// The bits of a hash mixed (the finalizer of SplitMix64).
func mix(_ value: UInt64) -> UInt64 {
    var mixed = value
    mixed ^= mixed >> 30
    mixed = mixed &* 0xBF58_476D_1CE4_E5B9
    mixed ^= mixed >> 27
    mixed = mixed &* 0x94D0_49BB_1331_11EB
    return mixed ^ (mixed >> 31)
}

/// The UTC hour an instant falls in: floor(ms / 3,600,000).
func hourOf(_ millis: Int64) -> Int64 {
    let hour: Int64 = 3_600_000
    return millis >= 0 ? millis / hour : -((-millis + hour - 1) / hour)
}

/// An open-addressing index (linear probing, deletion by backward shift) of entries numbered from 0, whose
/// hashes the owner keeps in an array (`hashes[entry]`) along with the entries themselves; a lookup is given a
/// test of the entry it finds. The incident ledger finds the active incidents and the counters rows through it
/// for every event the daemon commits.
struct ProbeIndex: Sendable {
    /// Entries (-1: empty); the count is a power of two, at least twice the entries.
    private var table = [Int32](repeating: -1, count: 64)
    private var count = 0

    /// The entry with this hash that passes `matches`, if any.
    func find(_ hash: UInt64, hashes: [UInt64], where matches: (Int) -> Bool) -> Int? {
        let mask = table.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
        while table[position] >= 0 {
            let entry = Int(table[position])
            if hashes[entry] == hash, matches(entry) { return entry }
            position = (position + 1) & mask
        }
        return nil
    }

    /// Adds an entry that is not in the index; `hashes[entry]` is its hash.
    mutating func insert(_ entry: Int, hashes: [UInt64]) {
        if (count + 1) * 2 > table.count {
            let old = table
            table = [Int32](repeating: -1, count: old.count * 2)
            for moved in old where moved >= 0 { place(Int(moved), hash: hashes[Int(moved)]) }
        }
        place(entry, hash: hashes[entry])
        count += 1
    }

    /// Removes an entry that is in the index.
    mutating func remove(_ entry: Int, hashes: [UInt64]) {
        let mask = table.count - 1
        var hole = Int(truncatingIfNeeded: hashes[entry]) & mask
        while Int(table[hole]) != entry { hole = (hole + 1) & mask }
        // Moves back each following entry that the hole would otherwise cut off from its home position.
        var next = hole
        while true {
            next = (next + 1) & mask
            let moving = Int(table[next])
            if moving < 0 { break }
            let home = Int(truncatingIfNeeded: hashes[moving]) & mask
            // The entry may move to the hole when its home is not cyclically within (hole, next].
            let homeBetween = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next)
            if !homeBetween {
                table[hole] = table[next]
                hole = next
            }
        }
        table[hole] = -1
        count -= 1
    }

    mutating func removeAll() {
        for position in table.indices { table[position] = -1 }
        count = 0
    }

    /// Puts an entry in the first free position from its home.
    private mutating func place(_ entry: Int, hash: UInt64) {
        let mask = table.count - 1
        var position = Int(truncatingIfNeeded: hash) & mask
        while table[position] >= 0 { position = (position + 1) & mask }
        table[position] = Int32(entry)
    }
}

/// The rules of SPEC section 5 applied to a batch of events in memory: the active incidents per key, the
/// incidents the batch touched, and the counter changes.
///
/// This runs for every event the daemon commits, so each event costs one lookup of its key and changes the
/// active incident in place; no record is copied. An incident the batch resolves keeps its slot until the next
/// batch begins, so the writer reads every touched incident where it is.
struct IncidentLedger: Sendable {
    /// The active incidents, and those the batch resolved, each in a slot that stays put meanwhile; a free slot
    /// (listed in ``freeSlots``) keeps its last record until reused.
    private var slots: [IncidentRecord] = []
    private var freeSlots: [Int] = []
    /// Slots of incidents the batch resolved: free once the next batch begins.
    private var resolvedSlots: [Int] = []
    /// The slot of each key's active incident, and each slot's key hash (see ``keyHash(service:name:byIncident:)``).
    private var activeKeys = ProbeIndex()
    private var slotHashes: [UInt64] = []
    /// The id the next opened incident gets.
    var nextID: Int64
    /// The seq of the last event applied.
    var lastSeq: Int64

    /// The batch being applied, counted from 1.
    private var batch = 0
    /// The incidents touched in the batch, in order of first touch (so the ones opened in the batch come in the
    /// order of their ids): whether each existed before the batch, and its slot.
    private var touches: [(existed: Bool, slot: Int)] = []
    /// Per slot: the batch that last touched it.
    private var slotBatches: [Int] = []
    /// The counter changes of the batch: its events, and for each touched incident what it counts now less
    /// what it counted before.
    private(set) var counterChanges = CounterRows()

    init(active: [IncidentKey: IncidentRecord], nextID: Int64, lastSeq: Int64) {
        self.nextID = nextID
        self.lastSeq = lastSeq
        for (key, record) in active {
            slots.append(record)
            slotHashes.append(Self.keyHash(service: key.service, name: key.name, byIncident: key.byIncident))
            slotBatches.append(0)
            activeKeys.insert(slots.count - 1, hashes: slotHashes)
        }
    }

    /// The hash of an incident key in ``activeKeys``.
    static func keyHash(service: String, name: String, byIncident: Bool) -> UInt64 {
        mix(quickHash(service) &* 0x9E37_79B9_7F4A_7C15 ^ quickHash(name) ^ (byIncident ? 0x5555 : 0))
    }

    /// Applies a batch of events in seq order: afterwards ``forEachTouched(_:)`` and ``counterChanges`` tell
    /// what it changed.
    mutating func apply(_ events: EventBatch) {
        beginBatch()
        for event in events.stored { apply(event.event, seq: event.seq, timestamp: event.timestamp) }
        // The daemon's hot path: each event is read where the append left it. Indexing the array instead would
        // copy every `IncomingEvent` (two memcpy and a retain per string field).
        events.appended.withUnsafeBufferPointer { appended in
            guard let base = appended.baseAddress else { return }
            for index in appended.indices {
                guard let seq = events.seqs[index] else { continue }
                let incoming = base + index
                let timestamp = incoming.pointee.timestamp
                if let event = incoming.pointer(to: \.event) {
                    apply(eventAt: event, seq: seq, timestamp: timestamp)
                } else {
                    // Not reached (`event` is a stored property), but never skip an event.
                    apply(incoming.pointee.event, seq: seq, timestamp: timestamp)
                }
            }
        }
        finishBatch()
    }

    /// Calls `body` with each incident the last batch touched, in order of first touch: whether it existed
    /// before the batch, and what it is now.
    func forEachTouched(_ body: (_ existed: Bool, _ record: borrowing IncidentRecord) throws -> Void) rethrows {
        for touch in touches { try body(touch.existed, slots[touch.slot]) }
    }

    /// The number of incidents the last batch opened.
    var openedCount: Int { touches.count { !$0.existed } }

    /// Forgets the changes of the previous batch, and frees the slots of the incidents it resolved.
    private mutating func beginBatch() {
        batch += 1
        touches.removeAll(keepingCapacity: true)
        counterChanges.removeAll()
        freeSlots.append(contentsOf: resolvedSlots)
        resolvedSlots.removeAll(keepingCapacity: true)
    }

    /// Applies one event with its seq and time; events come in seq order.
    private mutating func apply(_ event: borrowing Event, seq: Int64, timestamp: Int64) {
        withUnsafePointer(to: event) { apply(eventAt: $0, seq: seq, timestamp: timestamp) }
    }

    /// Like ``apply(_:seq:timestamp:)``, for an event read where it lies (the daemon's hot path): passing it by
    /// value from an array copies the whole event, a retain per string field.
    private mutating func apply(eventAt pointer: UnsafePointer<Event>, seq: Int64, timestamp: Int64) {
        lastSeq = seq
        let kind = pointer.pointee.kind
        let service = pointer.pointee.service
        counterChanges.count(kind, hour: hourOf(timestamp), service: service)
        let role = kind.role
        guard role == .detect || role == .mitigate || role == .recover || role == .fail else { return }
        // The key (see ``IncidentKey``): the incident when the event names one, else the component.
        let byIncident = pointer.pointee.incident != nil
        let name = pointer.pointee.incident ?? pointer.pointee.component
        let hash = Self.keyHash(service: service, name: name, byIncident: byIncident)
        let level = pointer.pointee.effectiveLevel
        if let slot = activeKeys.find(
            hash,
            hashes: slotHashes,
            where: { slot in
                let key = slots[slot].key
                return key.byIncident == byIncident && key.service == service && key.name == name
            }
        ) {
            if slotBatches[slot] != batch {
                // First touch in the batch: what it counted before comes off, what it counts after goes on at
                // the end.
                slotBatches[slot] = batch
                touches.append((true, slot))
                counterChanges.add(slots[slot], sign: -1)
            }
            // Changed in its slot, never copied.
            Self.add(kind, seq: seq, timestamp: timestamp, role: role, level: level, to: &slots[slot])
            if slots[slot].resolvedAt != nil {
                // A resolved incident is no longer active: its key is free for the next one. Its slot stays
                // until the batch is written.
                activeKeys.remove(slot, hashes: slotHashes)
                resolvedSlots.append(slot)
            }
        } else {
            // A recover event with no active incident does nothing.
            guard role != .recover else { return }
            var record = IncidentRecord(
                id: nextID,
                key: IncidentKey(service: service, name: name, byIncident: byIncident),
                component: pointer.pointee.component,
                kind: kind.name,
                title: IncidentRecord.title(pointer),
                state: role == .fail ? .failed : .open,
                peakLevel: level,
                openedAt: timestamp,
                resolvedAt: nil,
                failedAt: role == .fail ? timestamp : nil,
                eventCount: 0,
                actions: ActionSet(),
                firstSeq: seq,
                lastSeq: seq
            )
            nextID += 1
            // Not a recover event, so the new incident stays active.
            Self.add(kind, seq: seq, timestamp: timestamp, role: role, level: level, to: &record)
            let slot: Int
            if let free = freeSlots.popLast() {
                slot = free
                slots[slot] = consume record
                slotHashes[slot] = hash
                slotBatches[slot] = batch
            } else {
                slot = slots.count
                slots.append(consume record)
                slotHashes.append(hash)
                slotBatches.append(batch)
            }
            touches.append((false, slot))
            activeKeys.insert(slot, hashes: slotHashes)
        }
    }

    /// Adds an event of an incident-driving role to its incident.
    private static func add(
        _ kind: EventKind,
        seq: Int64,
        timestamp: Int64,
        role: EventRole,
        level: EventLevel,
        to record: inout IncidentRecord
    ) {
        record.eventCount += 1
        record.lastSeq = seq
        if level > record.peakLevel { record.peakLevel = level }
        switch role {
        case .mitigate:
            record.actions.insert(kind.name)
        case .recover:
            record.resolvedAt = timestamp
            if record.state == .open { record.state = .resolved }
        case .fail:
            if record.state == .open {
                record.state = .failed
                record.failedAt = timestamp
            }
        default:
            break
        }
    }

    /// Ends the batch: what each touched incident counts now goes on the counters.
    private mutating func finishBatch() {
        for touch in touches { counterChanges.add(slots[touch.slot], sign: 1) }
    }
}
