import PropertyBased
import SelfHealEvents
import Testing

@testable import SelfHealStore

/// On random event streams cut into random batches, the incremental projections equal a rebuild and equal
/// a small independent model of SPEC section 5 written here, quiet incidents included; with a working set
/// of two active incidents, so that most lookups go to SQLite.
@Suite struct ProjectionPropertyTests {
    /// The quiet period of these tests: an hour.
    static let quiet: Int64 = 3_600_000

    /// One generated event: indexes into small pools, so keys collide, events arrive late and ids repeat; its
    /// time is the previous event's plus a gap chosen around the quiet period.
    struct Step: Sendable, CustomStringConvertible {
        var kind: Int
        var key: Int
        var gap: Int64
        var level: Int
        var id: Int
        var endsBatch: Bool

        static let kinds: [EventKind] = EventKind.vocabulary + [EventKind(name: "x.custom")!]
        static let services = ["api", "worker"]
        // Index 0-1: keyed by component; 2-3: keyed by incident, with strings equal to the components.
        static let names = ["db", "openai"]
        /// Gaps between events: none, tiny, exactly the quiet period and around it, long, and late events.
        static let gaps: [Int64] = [
            0, 1, 1_000, 600_000, quiet - 1, quiet, quiet + 1, quiet / 2, 2 * quiet, 30 * 60_000, -1, -600_000,
            -quiet,
        ]

        func event(at ts: Int64) -> IncomingEvent {
            let kind = Self.kinds[self.kind]
            let service = Self.services[key % 2]
            let name = Self.names[(key / 2) % 2]
            let byIncident = key >= 4
            let level: EventLevel? = level < 4 ? EventLevel(rawValue: level) : nil
            return IncomingEvent(
                event: Event(
                    service: service,
                    kind: kind,
                    component: byIncident ? "other" : name,
                    timestamp: ts,
                    level: level,
                    message: ts % 3 == 0 ? "message \(ts)" : nil,
                    incident: byIncident ? name : nil,
                    id: id < 6 ? "id-\(id)" : nil
                ),
                receivedAt: ts,
                peer: nil
            )
        }

        var description: String {
            "\(Self.kinds[kind].name) key \(key) gap \(gap) level \(level) id \(id)\(endsBatch ? " |" : "")"
        }
    }

    static let step = zip(
        Gen.int(in: 0...(Step.kinds.count - 1)),
        Gen.int(in: 0...7),
        Gen.element(of: Step.gaps).map { $0 ?? 0 },
        Gen.int(in: 0...5),
        Gen.int(in: 0...40),
        Gen.bool(0.2)
    ).map { Step(kind: $0, key: $1, gap: $2, level: $3, id: $4, endsBatch: $5) }

    /// Ranges and the read's clock, anywhere from before the first event to after the last.
    static let reads = zip(
        Gen.int64(in: -3_600_000...(40 * 3_600_000)),
        Gen.int64(in: 0...(30 * 3_600_000)),
        Gen.int64(in: -3_600_000...(60 * 3_600_000))
    )
    .map { (since: $0, until: $0 + $1, asOf: $2) }
    .array(of: 4)

    @Test func incrementalProjectionEqualsRebuildAndModel() async throws {
        await propertyCheck(count: 80, input: Self.step.array(of: 0...120), Self.reads) { steps, reads in
            let test = try TemporaryStore(quietPeriod: Self.quiet, workingSetLimit: 2)
            var batch: [IncomingEvent] = []
            var ts: Int64 = 0
            var events: [IncomingEvent] = []
            for step in steps {
                ts += step.gap
                let event = step.event(at: ts)
                events.append(event)
                batch.append(event)
                if step.endsBatch {
                    _ = try test.store.append(batch)
                    batch = []
                }
            }
            _ = try test.store.append(batch)

            let model = Model(events.map(\.event), quietPeriod: Self.quiet)
            for read in reads {
                let incremental = try test.store.allIncidents(asOf: read.asOf)
                #expect(incremental.map(ModelIncident.init) == model.incidents(asOf: read.asOf))
                let stats = try test.store.stats(since: read.since, until: read.until, asOf: read.asOf)
                #expect(Figures(stats) == model.figures(since: read.since, until: read.until, asOf: read.asOf))
                let overlapping = try test.store.incidents(
                    IncidentFilter(since: read.since, until: read.until, asOf: read.asOf)
                )
                #expect(
                    overlapping.map(\.id) == model.overlapping(since: read.since, until: read.until, asOf: read.asOf)
                )
            }

            #expect(try test.store.verify().isClean)
            let before = try test.store.allIncidents(asOf: 0)
            _ = try test.store.rebuild()
            #expect(try test.store.allIncidents(asOf: 0) == before)
        }
    }
}

/// What the tests compare of an incident.
struct ModelIncident: Equatable, CustomStringConvertible {
    var id: Int64
    var service: String
    var component: String
    var incident: String?
    var state: IncidentState
    var peak: EventLevel
    var openedAt: Int64
    var lastEventAt: Int64
    var resolvedAt: Int64?
    var failedAt: Int64?
    var endedAt: Int64?
    var recoveryMs: Int64?
    var count: Int64
    var actions: [String]
    /// Whether a later event on its key found it quiet (the model's own bookkeeping; not compared).
    var wentQuiet = false

    init(
        id: Int64,
        service: String,
        component: String,
        incident: String?,
        state: IncidentState,
        peak: EventLevel,
        openedAt: Int64
    ) {
        self.id = id
        self.service = service
        self.component = component
        self.incident = incident
        self.state = state
        self.peak = peak
        self.openedAt = openedAt
        lastEventAt = openedAt
        count = 0
        actions = []
    }

    init(_ incident: Incident) {
        self.init(
            id: incident.id,
            service: incident.service,
            component: incident.component,
            incident: incident.incident,
            state: incident.state,
            peak: incident.peakLevel,
            openedAt: incident.openedAt
        )
        lastEventAt = incident.lastEventAt
        resolvedAt = incident.resolvedAt
        failedAt = incident.failedAt
        endedAt = incident.endedAt
        recoveryMs = incident.recoveryMs
        count = incident.eventCount
        actions = incident.actions
    }

    static func == (lhs: ModelIncident, rhs: ModelIncident) -> Bool {
        (lhs.id, lhs.service, lhs.component, lhs.incident, lhs.state, lhs.peak)
            == (rhs.id, rhs.service, rhs.component, rhs.incident, rhs.state, rhs.peak)
            && (lhs.openedAt, lhs.lastEventAt, lhs.resolvedAt, lhs.failedAt, lhs.endedAt, lhs.recoveryMs)
                == (rhs.openedAt, rhs.lastEventAt, rhs.resolvedAt, rhs.failedAt, rhs.endedAt, rhs.recoveryMs)
            && (lhs.count, lhs.actions) == (rhs.count, rhs.actions)
    }

    var description: String {
        "#\(id) \(service)/\(incident ?? component) \(state) \(peak) \(openedAt)-\(endedAt.map(String.init) ?? "") "
            + "last \(lastEventAt) n=\(count)"
    }
}

/// The figures the tests compare.
struct Figures: Equatable {
    var events: Int64
    var prevented: [String: Int64]
    var resolved: Int64
    var failed: Int64
    var open: Int64
    var expired: Int64
    var successRate: Double?
    var mttr: Int64?
    var p50: Int64?
    var p95: Int64?

    init(_ stats: Stats) {
        events = stats.events
        prevented = stats.preventedByKind
        resolved = stats.resolved
        failed = stats.failed
        open = stats.open
        expired = stats.expired
        successRate = stats.successRate
        mttr = stats.mttrMs
        p50 = stats.recoveryPercentile(50)
        p95 = stats.recoveryPercentile(95)
    }

    init(
        events: Int64,
        prevented: [String: Int64],
        resolved: Int64,
        failed: Int64,
        open: Int64,
        expired: Int64,
        successRate: Double?,
        mttr: Int64?,
        p50: Int64?,
        p95: Int64?
    ) {
        self.events = events
        self.prevented = prevented
        self.resolved = resolved
        self.failed = failed
        self.open = open
        self.expired = expired
        self.successRate = successRate
        self.mttr = mttr
        self.p50 = p50
        self.p95 = p95
    }
}

/// SPEC section 5 read literally, with no cache, no batches and no SQL: a list of incidents, and the active one
/// of a key found by searching the list for the latest one on that key that has not ended; the quiet rule
/// applied before each event, and again by each read as of its own time.
struct Model {
    let quietPeriod: Int64
    private var stored: [ModelIncident] = []
    private(set) var events: [Event] = []

    init(_ sent: [Event], quietPeriod: Int64) {
        self.quietPeriod = quietPeriod
        var seenIDs = Set<String>()
        for event in sent {
            if let id = event.id {
                guard seenIDs.insert(event.service + "\u{0}" + id).inserted else { continue }
            }
            events.append(event)
            apply(event)
        }
    }

    private func sameKey(_ incident: ModelIncident, _ event: Event) -> Bool {
        guard incident.service == event.service else { return false }
        if let key = event.incident { return incident.incident == key }
        return incident.incident == nil && incident.component == event.component
    }

    private mutating func apply(_ event: Event) {
        let ts = event.timestamp!
        let level = event.level ?? event.kind.defaultLevel
        if event.kind.role == .prevent || event.kind.role == .info { return }
        var index = stored.lastIndex { sameKey($0, event) && $0.resolvedAt == nil && !$0.wentQuiet }
        if let found = index, stored[found].lastEventAt + quietPeriod <= ts {
            stored[found].wentQuiet = true
            index = nil
        }
        if index == nil {
            guard event.kind.role != .recover else { return }
            var opened = ModelIncident(
                id: Int64(stored.count + 1),
                service: event.service,
                component: event.component,
                incident: event.incident,
                state: event.kind.role == .fail ? .failed : .open,
                peak: level,
                openedAt: ts
            )
            if event.kind.role == .fail { opened.failedAt = ts }
            stored.append(opened)
            index = stored.count - 1
        }
        var incident = stored[index!]
        let isOpening = incident.count == 0
        incident.count += 1
        incident.peak = max(incident.peak, level)
        incident.lastEventAt = max(incident.lastEventAt, ts)
        switch event.kind.role {
        case .mitigate:
            incident.actions = Array(Set(incident.actions + [event.kind.name])).sorted()
        case .recover:
            incident.resolvedAt = ts
            incident.recoveryMs = max(0, ts - incident.openedAt)
            if incident.state == .open { incident.state = .resolved }
        case .fail:
            if incident.state == .open && !isOpening {
                incident.state = .failed
                incident.failedAt = ts
            }
        default:
            break
        }
        stored[index!] = incident
    }

    /// The incidents as a read as of `asOf` shows them.
    func incidents(asOf: Int64) -> [ModelIncident] {
        stored.map { incident in
            var shown = incident
            shown.wentQuiet = false
            if let resolvedAt = incident.resolvedAt {
                shown.endedAt = resolvedAt
            } else if incident.lastEventAt + quietPeriod <= asOf {
                shown.endedAt = incident.lastEventAt + quietPeriod
                if incident.state == .open { shown.state = .expired }
            }
            return shown
        }
    }

    func figures(since: Int64, until: Int64, asOf: Int64) -> Figures {
        let inRange = events.filter { $0.timestamp! >= since && $0.timestamp! < until }
        var prevented: [String: Int64] = ["timeout.prevented": 0, "transition.blocked": 0, "ratelimit.throttled": 0]
        for event in inRange where event.kind.role == .prevent { prevented[event.kind.name, default: 0] += 1 }
        let opened = incidents(asOf: asOf).filter { $0.openedAt >= since && $0.openedAt < until }
        let resolved = opened.filter { $0.state == .resolved }
        let failed = Int64(opened.filter { $0.state == .failed }.count)
        let times = resolved.map { $0.recoveryMs! }.sorted()
        let preventedTotal = prevented.values.reduce(0, +)
        let decided = preventedTotal + Int64(resolved.count) + failed
        func percentile(_ p: Double) -> Int64? {
            times.isEmpty ? nil : times[Int((p / 100 * Double(times.count)).rounded(.up)) - 1]
        }
        return Figures(
            events: Int64(inRange.count),
            prevented: prevented,
            resolved: Int64(resolved.count),
            failed: failed,
            open: Int64(opened.filter { $0.state == .open }.count),
            expired: Int64(opened.filter { $0.state == .expired }.count),
            successRate: decided == 0 ? nil : Double(preventedTotal + Int64(resolved.count)) / Double(decided),
            mttr: times.isEmpty ? nil : Int64((Double(times.reduce(0, +)) / Double(times.count)).rounded()),
            p50: percentile(50),
            p95: percentile(95)
        )
    }

    func overlapping(since: Int64, until: Int64, asOf: Int64) -> [Int64] {
        incidents(asOf: asOf).filter { $0.openedAt < until && ($0.endedAt == nil || $0.endedAt! >= since) }
            .sorted { ($0.openedAt, $0.id) < ($1.openedAt, $1.id) }
            .map(\.id)
    }
}
