import SelfHealEvents

/// An entry of the store's index of the active incidents that left the working set (`incident_keys`): the
/// key's hash and the incident's id.
package struct IndexedKey: Comparable, Sendable {
    /// The key's hash.
    package var hash: UInt64
    /// The incident's id.
    package var id: Int64

    /// Ordered by hash, then id.
    package static func < (lhs: IndexedKey, rhs: IndexedKey) -> Bool {
        (lhs.hash, lhs.id) < (rhs.hash, rhs.id)
    }
}

/// Where the ledger finds the active incidents it does not hold in memory: SQLite, through its index of the
/// active incidents that left the working set, read and written in the transaction the batch is applied in.
package protocol ActiveIncidentSource {
    /// The active incident of a key, if the index names one.
    func activeIncident(_ key: IncidentKey) throws -> IncidentRecord?
    /// Adds entries to the index, sorted (so that each page of the index is written once per call).
    func index(_ entries: [IndexedKey]) throws
    /// Calls `body` with the hash of every entry of the index.
    func forEachIndexedHash(_ body: (UInt64) -> Void) throws
}

/// The rules of SPEC section 5 applied to batches of events in seq order: the active incidents per key, the
/// incidents each batch touched, and the batch's counter changes.
///
/// The active incidents live in a bounded working set in memory (``workingSetLimit``, the ones touched most
/// recently); those that leave it are entered, a few thousand at a time and sorted, in SQLite's index of keys
/// (``ActiveIncidentSource``), and ``EvictedKeys`` says which keys may have one there, so a key never seen
/// costs no lookup. An incident that opens, joins or ends in the working set touches no index of keys: the
/// index is written once per incident that leaves the working set, not once per incident. Correctness never
/// depends on the working set: every record is written at the end of its batch, and every active incident
/// outside the working set is in the index.
///
/// This runs for every event the daemon commits: each event costs one lookup of its key, and changes the
/// active incident in place; no record is copied.
package struct IncidentLedger: Sendable {
    /// What one batch did to one incident.
    package struct Touch: Sendable {
        /// Whether the incident existed before the batch (else the batch opened it).
        package var existed: Bool
        var slot: Int
        /// Whether its state or end changed (else events only joined it).
        package var transitioned: Bool
    }

    /// The store's quiet period, milliseconds.
    package let quietPeriod: Int64
    /// The most active incidents kept in memory between batches.
    let workingSetLimit: Int
    /// The id the next opened incident gets.
    package var nextID: Int64
    /// The seq of the last event applied.
    package var lastSeq: Int64

    /// The working set, each record in a slot that stays put during a batch; a free slot keeps its last record
    /// until reused.
    private var slots: [IncidentRecord] = []
    private var freeSlots: [Int] = []
    /// Slots of the incidents the batch ended: free once the next batch begins.
    private var endedSlots: [Int] = []
    /// Per slot: whether its record came from the index of keys (so its entry is to go when it ends).
    private var slotIndexed: [Bool] = []
    /// The ids of the incidents the batch ended, which the store still holds active until the batch is written.
    private var endedIDs: Set<Int64> = []
    /// The same for the batch before, which a store that writes one batch while the next is applied (the
    /// central projector) may still hold active too.
    private var previouslyEndedIDs: Set<Int64> = []
    /// The slot of each key's active incident in the working set.
    private var active: [IncidentKey: Int] = [:]
    /// Keys whose active incident may be in SQLite only.
    private var evicted: EvictedKeys
    /// Active incidents in SQLite only when ``evicted`` was last rebuilt.
    private var evictedAtRebuild = 0

    /// The batch being applied, counted from 1.
    private var batch = 0
    /// Per slot: the batch that last touched it, and its index in ``touches`` during that batch.
    private var slotBatches: [Int] = []
    private var slotTouches: [Int] = []
    /// The incidents touched in the batch, in order of first touch (those it opened come in order of id).
    package private(set) var touches: [Touch] = []
    /// The counter changes of the batch.
    package private(set) var counterChanges = CounterRows()
    /// The index entries of the incidents the batch ended that had one: to be removed when it is written.
    private(set) var unindexed: [IndexedKey] = []

    /// A ledger starting from `active`, the most recent active incidents, with `evicted` holding the keys of
    /// the others.
    package init(
        quietPeriod: Int64,
        workingSetLimit: Int,
        nextID: Int64,
        lastSeq: Int64,
        active records: [IncidentRecord] = [],
        evicted: EvictedKeys = EvictedKeys(),
        evictedCount: Int = 0
    ) {
        // The records given are not in the index of keys: the loader indexes only those it leaves out.
        self.quietPeriod = quietPeriod
        self.workingSetLimit = max(1, workingSetLimit)
        self.nextID = nextID
        self.lastSeq = lastSeq
        self.evicted = evicted
        evictedAtRebuild = evictedCount
        for record in records { active[record.key] = place(record) }
    }

    /// How many active incidents the working set holds.
    var workingSetCount: Int { active.count }

    /// The record in a slot the last batch touched.
    package func record(_ touch: Touch) -> IncidentRecord { slots[touch.slot] }

    /// Whether applying an event of this key may ask the source: its active incident, if any, is not in the
    /// working set, and the filter of the keys held only by the source may hold it. A source that answers over a
    /// network fetches these keys together before a batch.
    package func mayLookUp(_ key: IncidentKey) -> Bool { active[key] == nil && evicted.mayContain(key.hash) }

    /// The number of incidents the last batch opened.
    var openedCount: Int { touches.count { !$0.existed } }

    /// Applies a batch of events in seq order; afterwards ``touches`` and ``counterChanges`` tell what it
    /// changed.
    package mutating func apply(_ events: EventBatch, source: some ActiveIncidentSource) throws {
        try beginBatch(source)
        for event in events.stored {
            try withUnsafePointer(to: event.event) {
                try apply(eventAt: $0, seq: event.seq, timestamp: event.timestamp, source)
            }
        }
        // The daemon's hot path: each event is read where the append left it; indexing the array instead would
        // copy every `IncomingEvent` (two memcpy and a retain per string field).
        try events.appended.withUnsafeBufferPointer { appended in
            guard let base = appended.baseAddress else { return }
            for index in appended.indices {
                guard let seq = events.seqs[index] else { continue }
                let incoming = base + index
                let timestamp = incoming.pointee.timestamp
                // `event` is a stored property, so its pointer exists.
                try apply(eventAt: incoming.pointer(to: \.event)!, seq: seq, timestamp: timestamp, source)
            }
        }
    }

    /// Forgets the previous batch's changes, frees the slots of the incidents it ended, and keeps the working
    /// set within its limit.
    private mutating func beginBatch(_ source: some ActiveIncidentSource) throws {
        batch += 1
        touches.removeAll(keepingCapacity: true)
        counterChanges.removeAll()
        freeSlots.append(contentsOf: endedSlots)
        endedSlots.removeAll(keepingCapacity: true)
        swap(&endedIDs, &previouslyEndedIDs)
        endedIDs.removeAll(keepingCapacity: true)
        unindexed.removeAll(keepingCapacity: true)
        if active.count > workingSetLimit { try evictLeastRecent(source) }
        // Stale bits (keys loaded back, or ended since) only cost lookups; rebuild when they outnumber the live.
        if evicted.insertions > max(4 * workingSetLimit, 2 * evictedAtRebuild) { try rebuildEvicted(source) }
    }

    /// Moves the least recently touched active incidents out of the working set, down to half its limit (so
    /// that this runs once per half a limit of new incidents, not for every batch), into SQLite's index of keys.
    /// Their rows were written by earlier batches: those the previous batch touched stay, as their rows may still
    /// be on their way to a store that writes one batch while the next is applied.
    private mutating func evictLeastRecent(_ source: some ActiveIncidentSource) throws {
        let keep = workingSetLimit / 2
        // Slots, not keys, are sorted: a key is two strings, which every move would retain and release.
        var byAge = Array(active.values)
        byAge.sort { slotBatches[$0] < slotBatches[$1] }
        var entries: [IndexedKey] = []
        entries.reserveCapacity(byAge.count - keep)
        for slot in byAge.prefix(byAge.count - keep) where slotBatches[slot] < batch - 1 {
            let hash = slots[slot].key.hash
            active.removeValue(forKey: slots[slot].key)
            evicted.insert(hash)
            freeSlots.append(slot)
            // One that came from the index is still in it.
            if !slotIndexed[slot] { entries.append(IndexedKey(hash: hash, id: slots[slot].id)) }
        }
        entries.sort()
        try source.index(entries)
    }

    /// Rebuilds the filter from SQLite's index of keys.
    private mutating func rebuildEvicted(_ source: some ActiveIncidentSource) throws {
        evicted.removeAll()
        var count = 0
        try source.forEachIndexedHash { hash in
            evicted.insert(hash)
            count += 1
        }
        evictedAtRebuild = count
    }

    /// Puts a record in a free slot, or a new one; returns the slot.
    private mutating func place(_ record: consuming IncidentRecord, indexed: Bool = false) -> Int {
        if let free = freeSlots.popLast() {
            slots[free] = record
            slotBatches[free] = 0
            slotIndexed[free] = indexed
            return free
        }
        slots.append(record)
        slotBatches.append(0)
        slotTouches.append(0)
        slotIndexed.append(indexed)
        return slots.count - 1
    }

    /// The slot of the key's active incident, loaded from SQLite when it is there only.
    private mutating func activeSlot(_ key: IncidentKey, _ source: some ActiveIncidentSource) throws -> Int? {
        if let slot = active[key] { return slot }
        guard evicted.mayContain(key.hash), let record = try source.activeIncident(key),
            !endedIDs.contains(record.id), !previouslyEndedIDs.contains(record.id)
        else { return nil }
        let slot = place(record, indexed: true)
        active[key] = slot
        return slot
    }

    /// Records the first touch of a slot in the batch.
    private mutating func touch(_ slot: Int, existed: Bool) {
        guard slotBatches[slot] != batch else { return }
        slotBatches[slot] = batch
        slotTouches[slot] = touches.count
        touches.append(Touch(existed: existed, slot: slot, transitioned: false))
    }

    /// Ends the active incident in a slot (resolved, or gone quiet): its key is free for the next one. The
    /// slot stays until the batch is written.
    private mutating func end(_ slot: Int) {
        touches[slotTouches[slot]].transitioned = true
        active.removeValue(forKey: slots[slot].key)
        endedSlots.append(slot)
        endedIDs.insert(slots[slot].id)
        if slotIndexed[slot] { unindexed.append(IndexedKey(hash: slots[slot].key.hash, id: slots[slot].id)) }
    }

    /// Applies one event, read where it lies; events come in seq order.
    private mutating func apply(
        eventAt pointer: UnsafePointer<Event>,
        seq: Int64,
        timestamp: Int64,
        _ source: some ActiveIncidentSource
    ) throws {
        lastSeq = seq
        let kind = pointer.pointee.kind
        counterChanges.count(kind, hour: hourOf(timestamp), service: pointer.pointee.service)
        let role = kind.role
        guard role == .detect || role == .mitigate || role == .recover || role == .fail else { return }
        let key = IncidentKey(
            service: pointer.pointee.service,
            name: pointer.pointee.incident ?? pointer.pointee.component,
            byIncident: pointer.pointee.incident != nil
        )
        let level = pointer.pointee.effectiveLevel
        if let slot = try activeSlot(key, source) {
            touch(slot, existed: true)
            if slots[slot].lastEventAt + quietPeriod <= timestamp {
                // Quiet for the whole period before this event: it ended then, and the event finds none active.
                slots[slot].endedAt = slots[slot].lastEventAt + quietPeriod
                if slots[slot].state == .open { slots[slot].state = .expired }
                end(slot)
            } else {
                if Self.add(kind, seq: seq, timestamp: timestamp, role: role, level: level, to: &slots[slot]) {
                    touches[slotTouches[slot]].transitioned = true
                }
                if slots[slot].endedAt != nil { end(slot) }
                return
            }
        }
        // A recover event with no active incident does nothing.
        guard role != .recover else { return }
        var record = IncidentRecord(
            id: nextID,
            key: key,
            component: pointer.pointee.component,
            kind: kind.name,
            title: IncidentRecord.title(
                kind: kind,
                component: pointer.pointee.component,
                message: pointer.pointee.message
            ),
            state: role == .fail ? .failed : .open,
            peakLevel: level,
            openedAt: timestamp,
            lastEventAt: timestamp,
            resolvedAt: nil,
            failedAt: role == .fail ? timestamp : nil,
            endedAt: nil,
            eventCount: 0,
            actions: ActionSet(),
            firstSeq: seq,
            lastSeq: seq
        )
        nextID += 1
        // Not a recover event, so the new incident stays active.
        Self.add(kind, seq: seq, timestamp: timestamp, role: role, level: level, to: &record)
        let slot = place(record)
        active[key] = slot
        touch(slot, existed: false)
    }

    /// Adds an event of an incident-driving role to its incident; returns whether its state or end changed.
    @discardableResult
    private static func add(
        _ kind: EventKind,
        seq: Int64,
        timestamp: Int64,
        role: EventRole,
        level: EventLevel,
        to record: inout IncidentRecord
    ) -> Bool {
        record.eventCount += 1
        record.lastSeq = seq
        if timestamp > record.lastEventAt { record.lastEventAt = timestamp }
        if level > record.peakLevel { record.peakLevel = level }
        switch role {
        case .mitigate:
            record.actions.insert(kind.name)
            return false
        case .recover:
            record.resolvedAt = timestamp
            record.endedAt = timestamp
            if record.state == .open { record.state = .resolved }
            return true
        case .fail:
            guard record.state == .open else { return false }
            record.state = .failed
            record.failedAt = timestamp
            return true
        default:
            return false
        }
    }
}
