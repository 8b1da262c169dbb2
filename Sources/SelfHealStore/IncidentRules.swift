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

    init(_ event: Event) {
        if let incident = event.incident {
            self.init(service: event.service, name: incident, byIncident: true)
        } else {
            self.init(service: event.service, name: event.component, byIncident: false)
        }
    }
}

/// The distinct mitigate kinds of an incident, as bits in the order of their names.
struct ActionSet: Equatable, Sendable {
    var bits: UInt32 = 0

    /// The mitigate kinds of the vocabulary, sorted by name: bit i is `names[i]`.
    static let names: [String] = EventKind.vocabulary.filter { $0.role == .mitigate }.map(\.name).sorted()
    private static let bitByName: [String: UInt32] = Dictionary(
        uniqueKeysWithValues: names.enumerated().map { ($1, UInt32(1) << UInt32($0)) }
    )

    mutating func insert(_ kind: String) {
        if let bit = Self.bitByName[kind] { bits |= bit }
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

    /// Readable text from the first event: `pool.warning on db-pool: Pool at 92%`.
    static func title(_ event: Event) -> String {
        let subject = event.kind.name + " on " + event.component
        guard let message = event.message, !message.isEmpty else { return subject }
        // The first line of the message, at most 160 characters.
        let utf8 = message.utf8
        let firstLine: Substring
        if let end = utf8.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) {
            firstLine = message[..<end]
        } else {
            firstLine = message[...]
        }
        guard !firstLine.isEmpty else { return subject }
        if firstLine.utf8.count <= 160 { return subject + ": " + firstLine }
        return subject + ": " + firstLine.prefix(159) + "…"
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
        switch kind.name {
        case "timeout.prevented": timeoutPrevented += 1
        case "transition.blocked": transitionBlocked += 1
        case "ratelimit.throttled": ratelimitThrottled += 1
        // The vocabulary has these three prevent kinds; a new one needs a column (a new migration).
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

    /// What an incident adds to the counters of its opening hour.
    static func of(_ record: IncidentRecord) -> (CounterKey, CounterValues) {
        var values = CounterValues()
        switch record.state {
        case .open: values.open = 1
        case .resolved:
            values.resolved = 1
            values.recoverySum = record.recoveryMs ?? 0
        case .failed: values.failed = 1
        }
        return (CounterKey(hour: hourOf(record.openedAt), service: record.key.service), values)
    }
}

/// The UTC hour an instant falls in: floor(ms / 3,600,000).
func hourOf(_ millis: Int64) -> Int64 {
    let hour: Int64 = 3_600_000
    return millis >= 0 ? millis / hour : -((-millis + hour - 1) / hour)
}

/// The rules of SPEC section 5 applied to a batch of events in memory: the active incidents per key, the
/// incidents the batch touched (with what they were before it), and the counter changes.
struct IncidentLedger: Sendable {
    /// The active incident of each key.
    var active: [IncidentKey: IncidentRecord]
    /// The id the next opened incident gets.
    var nextID: Int64
    /// The seq of the last event applied.
    var lastSeq: Int64

    /// Incidents touched since ``beginBatch()``: before (nil when opened in the batch) and now.
    private(set) var touched: [Int64: (before: IncidentRecord?, after: IncidentRecord)] = [:]
    /// Counter changes since ``beginBatch()``.
    private(set) var counterChanges: [CounterKey: CounterValues] = [:]

    init(active: [IncidentKey: IncidentRecord], nextID: Int64, lastSeq: Int64) {
        self.active = active
        self.nextID = nextID
        self.lastSeq = lastSeq
    }

    /// Forgets the changes of the previous batch.
    mutating func beginBatch() {
        touched.removeAll(keepingCapacity: true)
        counterChanges.removeAll(keepingCapacity: true)
    }

    /// Applies one event; events come in seq order.
    mutating func apply(_ stored: StoredEvent) {
        let event = stored.event
        lastSeq = stored.seq
        let kind = event.kind
        counterChanges[CounterKey(hour: hourOf(stored.timestamp), service: event.service), default: .init()]
            .count(kind)
        let role = kind.role
        guard role == .detect || role == .mitigate || role == .recover || role == .fail else { return }
        let key = IncidentKey(event)
        let level = event.effectiveLevel
        let existing = active.removeValue(forKey: key)
        var record: IncidentRecord
        if let existing {
            record = existing
        } else {
            // A recover event with no active incident does nothing.
            guard role != .recover else { return }
            record = IncidentRecord(
                id: nextID,
                key: key,
                component: event.component,
                kind: kind.name,
                title: IncidentRecord.title(event),
                state: role == .fail ? .failed : .open,
                peakLevel: level,
                openedAt: stored.timestamp,
                resolvedAt: nil,
                failedAt: role == .fail ? stored.timestamp : nil,
                eventCount: 0,
                actions: ActionSet(),
                firstSeq: stored.seq,
                lastSeq: stored.seq
            )
            nextID += 1
        }
        // Every role that reaches here adds the event to the incident.
        record.eventCount += 1
        record.lastSeq = stored.seq
        if level > record.peakLevel { record.peakLevel = level }
        switch role {
        case .mitigate:
            record.actions.insert(kind.name)
        case .recover:
            record.resolvedAt = stored.timestamp
            if record.state == .open { record.state = .resolved }
        case .fail:
            if record.state == .open {
                record.state = .failed
                record.failedAt = stored.timestamp
            }
        default:
            break
        }
        if record.resolvedAt == nil { active[key] = record }
        if let previous = touched[record.id] {
            touched[record.id] = (previous.before, record)
        } else {
            touched[record.id] = (existing, record)
        }
    }

    /// Moves the touched incidents' counter contributions from what they were to what they are.
    mutating func settleIncidentCounters() {
        for (before, after) in touched.values {
            if let before {
                let (key, values) = CounterValues.of(before)
                counterChanges[key, default: .init()].add(values, sign: -1)
            }
            let (key, values) = CounterValues.of(after)
            counterChanges[key, default: .init()].add(values)
        }
    }
}
