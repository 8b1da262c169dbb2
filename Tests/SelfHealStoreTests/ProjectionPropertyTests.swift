import PropertyBased
import SelfHealEvents
@testable import SelfHealStore
import Testing

/// On random event streams cut into random batches, the incremental projections equal a rebuild and equal
/// a small independent model of SPEC section 5 written here.
@Suite struct ProjectionPropertyTests {
    /// One generated event: indexes into small pools, so keys collide, events arrive late and ids repeat.
    struct Step: Sendable, CustomStringConvertible {
        var kind: Int
        var key: Int
        var ts: Int64
        var level: Int
        var id: Int
        var endsBatch: Bool

        static let kinds: [EventKind] = EventKind.vocabulary + [EventKind(name: "x.custom")!]
        static let services = ["api", "worker"]
        // Index 0-1: keyed by component; 2-3: keyed by incident, with strings equal to the components.
        static let names = ["db", "openai"]

        var event: IncomingEvent {
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
            "\(Self.kinds[kind].name) key \(key) ts \(ts) level \(level) id \(id)\(endsBatch ? " |" : "")"
        }
    }

    static let step = zip(
        Gen.int(in: 0...(Step.kinds.count - 1)),
        Gen.int(in: 0...7),
        Gen.int64(in: 0...(50 * 3_600_000)),
        Gen.int(in: 0...5),
        Gen.int(in: 0...40),
        Gen.bool(0.2)
    ).map { Step(kind: $0, key: $1, ts: $2, level: $3, id: $4, endsBatch: $5) }

    static let ranges = zip(Gen.int64(in: -3_600_000...(52 * 3_600_000)), Gen.int64(in: 0...(30 * 3_600_000)))
        .map { (since: $0, until: $0 + $1) }
        .array(of: 4)

    @Test func incrementalProjectionEqualsRebuildAndModel() async throws {
        await propertyCheck(count: 60, input: Self.step.array(of: 0...120), Self.ranges) { steps, ranges in
            let test = try TemporaryStore()
            var batch: [IncomingEvent] = []
            for step in steps {
                batch.append(step.event)
                if step.endsBatch {
                    _ = try test.store.append(batch)
                    batch = []
                }
            }
            _ = try test.store.append(batch)

            let model = Model(steps.map(\.event.event))
            let incremental = try test.store.allIncidents()
            #expect(incremental.map(ModelIncident.init) == model.incidents)
            for range in ranges {
                let stats = try test.store.stats(since: range.since, until: range.until)
                #expect(Figures(stats) == model.figures(since: range.since, until: range.until))
                let overlapping = try test.store.incidents(IncidentFilter(since: range.since, until: range.until))
                #expect(overlapping.map(\.id) == model.overlapping(since: range.since, until: range.until))
            }

            #expect(try test.store.verify().isClean)
            _ = try test.store.rebuild()
            #expect(try test.store.allIncidents() == incremental)
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
    var resolvedAt: Int64?
    var failedAt: Int64?
    var recoveryMs: Int64?
    var count: Int64
    var actions: [String]

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
        resolvedAt = incident.resolvedAt
        failedAt = incident.failedAt
        recoveryMs = incident.recoveryMs
        count = incident.eventCount
        actions = incident.actions
    }

    var description: String {
        "#\(id) \(service)/\(incident ?? component) \(state) \(peak) \(openedAt)-\(resolvedAt.map(String.init) ?? "") n=\(count)"
    }
}

/// The figures the tests compare.
struct Figures: Equatable {
    var events: Int64
    var prevented: [String: Int64]
    var resolved: Int64
    var failed: Int64
    var open: Int64
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
        self.successRate = successRate
        self.mttr = mttr
        self.p50 = p50
        self.p95 = p95
    }
}

/// SPEC section 5 read literally, with no cache, no batches and no SQL: a list of incidents, and the active one
/// of a key found by searching the list for the latest one on that key with no `resolved_at`.
struct Model {
    private(set) var incidents: [ModelIncident] = []
    private(set) var events: [Event] = []

    init(_ sent: [Event]) {
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
        var index = incidents.lastIndex { sameKey($0, event) && $0.resolvedAt == nil }
        switch event.kind.role {
        case .prevent, .info:
            return
        case .recover:
            guard index != nil else { return }
        case .detect, .mitigate, .fail:
            if index == nil {
                var opened = ModelIncident(
                    id: Int64(incidents.count + 1),
                    service: event.service,
                    component: event.component,
                    incident: event.incident,
                    state: event.kind.role == .fail ? .failed : .open,
                    peak: level,
                    openedAt: ts
                )
                if event.kind.role == .fail { opened.failedAt = ts }
                incidents.append(opened)
                index = incidents.count - 1
                // The fail event is added below, without failing it a second time.
                if event.kind.role == .fail {
                    incidents[index!].count += 1
                    return
                }
            }
        }
        var incident = incidents[index!]
        incident.count += 1
        incident.peak = max(incident.peak, level)
        switch event.kind.role {
        case .mitigate:
            incident.actions = Array(Set(incident.actions + [event.kind.name])).sorted()
        case .recover:
            incident.resolvedAt = ts
            incident.recoveryMs = max(0, ts - incident.openedAt)
            if incident.state == .open { incident.state = .resolved }
        case .fail:
            if incident.state == .open {
                incident.state = .failed
                incident.failedAt = ts
            }
        default:
            break
        }
        incidents[index!] = incident
    }

    func figures(since: Int64, until: Int64) -> Figures {
        let inRange = events.filter { $0.timestamp! >= since && $0.timestamp! < until }
        var prevented: [String: Int64] = ["timeout.prevented": 0, "transition.blocked": 0, "ratelimit.throttled": 0]
        for event in inRange where event.kind.role == .prevent { prevented[event.kind.name, default: 0] += 1 }
        let opened = incidents.filter { $0.openedAt >= since && $0.openedAt < until }
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
            successRate: decided == 0 ? nil : Double(preventedTotal + Int64(resolved.count)) / Double(decided),
            mttr: times.isEmpty ? nil : Int64((Double(times.reduce(0, +)) / Double(times.count)).rounded()),
            p50: percentile(50),
            p95: percentile(95)
        )
    }

    func overlapping(since: Int64, until: Int64) -> [Int64] {
        incidents.filter { $0.openedAt < until && ($0.resolvedAt == nil || $0.resolvedAt! >= since) }
            .sorted { ($0.openedAt, $0.id) < ($1.openedAt, $1.id) }
            .map(\.id)
    }
}
