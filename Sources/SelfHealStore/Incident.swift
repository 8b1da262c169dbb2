import SelfHealEvents

/// Where an incident stands (SPEC section 5).
public enum IncidentState: String, Sendable, CaseIterable {
    /// Opened and not yet decided.
    case open
    /// Recovered by itself (a recover event ended it while it was open).
    case resolved
    /// Self-healing gave up (a fail event); a later recover event, or the quiet period, ends it and the state
    /// stays `failed`.
    case failed
    /// Went quiet without a recovery signal: nothing was heard for the quiet period. Outcome unknown.
    case expired
}

/// One incident as the `incidents` projection holds it.
public struct Incident: Sendable, Equatable {
    /// Position in order of opening, from 1.
    public var id: Int64
    /// The service of its events.
    public var service: String
    /// The first event's component.
    public var component: String
    /// The correlation key when the incident is keyed by `incident`; nil when keyed by component.
    public var incident: String?
    /// The first event's kind.
    public var kind: String
    /// Readable text derived from the first event.
    public var title: String
    /// Open, resolved, failed or expired, as of the read's time.
    public var state: IncidentState
    /// The highest level of its events.
    public var peakLevel: EventLevel
    /// The first event's ts, epoch milliseconds.
    public var openedAt: Int64
    /// The greatest ts of its events.
    public var lastEventAt: Int64
    /// The ts of the recover event that ended it; nil unless a recover event came.
    public var resolvedAt: Int64?
    /// The ts of the fail event that failed it; nil unless failed.
    public var failedAt: Int64?
    /// When it ended as of the read: `resolvedAt`, or `lastEventAt` + the quiet period once that has passed;
    /// nil while active.
    public var endedAt: Int64?
    /// How many events it holds.
    public var eventCount: Int64
    /// The distinct mitigate kinds among its events, sorted.
    public var actions: [String]
    /// The seq of its first event.
    public var firstSeq: Int64
    /// The seq of its latest event.
    public var lastSeq: Int64

    /// `resolved_at - opened_at`, never below 0; nil while unresolved.
    public var recoveryMs: Int64? { resolvedAt.map { max(0, $0 - openedAt) } }

    /// Creates an incident.
    public init(
        id: Int64,
        service: String,
        component: String,
        incident: String?,
        kind: String,
        title: String,
        state: IncidentState,
        peakLevel: EventLevel,
        openedAt: Int64,
        lastEventAt: Int64,
        resolvedAt: Int64?,
        failedAt: Int64?,
        endedAt: Int64?,
        eventCount: Int64,
        actions: [String],
        firstSeq: Int64,
        lastSeq: Int64
    ) {
        self.id = id
        self.service = service
        self.component = component
        self.incident = incident
        self.kind = kind
        self.title = title
        self.state = state
        self.peakLevel = peakLevel
        self.openedAt = openedAt
        self.lastEventAt = lastEventAt
        self.resolvedAt = resolvedAt
        self.failedAt = failedAt
        self.endedAt = endedAt
        self.eventCount = eventCount
        self.actions = actions
        self.firstSeq = firstSeq
        self.lastSeq = lastSeq
    }
}

/// Which incidents `incidents` lists: those whose life overlaps `[since, until)` as of `asOf` (SPEC section 7):
/// `opened_at < until` and (`ended_at` null or `ended_at >= since`).
public struct IncidentFilter: Sendable {
    /// Incidents that ended at or after `since`, or are active (epoch milliseconds).
    public var since: Int64
    /// Incidents opened before `until` (epoch milliseconds).
    public var until: Int64
    /// The read's clock for the quiet rule (epoch milliseconds): usually now.
    public var asOf: Int64
    /// Only this service, when set.
    public var service: String?
    /// Only this state (as of `asOf`), when set.
    public var state: IncidentState?
    /// Only incidents whose peak level is at least this, when set.
    public var minimumLevel: EventLevel?

    /// Creates a filter.
    public init(
        since: Int64,
        until: Int64,
        asOf: Int64,
        service: String? = nil,
        state: IncidentState? = nil,
        minimumLevel: EventLevel? = nil
    ) {
        self.since = since
        self.until = until
        self.asOf = asOf
        self.service = service
        self.state = state
        self.minimumLevel = minimumLevel
    }
}

/// The figures of SPEC section 5 over `[since, until)`, as of a time.
public struct Stats: Sendable, Equatable {
    /// Start of the range, inclusive, epoch milliseconds.
    public var since: Int64
    /// End of the range, exclusive, epoch milliseconds.
    public var until: Int64
    /// The read's clock for the quiet rule, epoch milliseconds.
    public var asOf: Int64
    /// Events with ts in range.
    public var events: Int64
    /// Prevent-role events with ts in range, per kind; every prevent kind of the vocabulary is listed.
    public var preventedByKind: [String: Int64]
    /// Incidents opened in range that recovered.
    public var resolved: Int64
    /// Incidents opened in range that failed.
    public var failed: Int64
    /// Incidents opened in range still active as of ``asOf`` and not failed.
    public var open: Int64
    /// Incidents opened in range that went quiet without a recovery signal, as of ``asOf``.
    public var expired: Int64
    /// Recovery times of the resolved incidents opened in range, ascending.
    public var recoveryTimes: [Int64]

    /// Creates figures.
    public init(
        since: Int64,
        until: Int64,
        asOf: Int64,
        events: Int64 = 0,
        preventedByKind: [String: Int64] = [:],
        resolved: Int64 = 0,
        failed: Int64 = 0,
        open: Int64 = 0,
        expired: Int64 = 0,
        recoveryTimes: [Int64] = []
    ) {
        self.since = since
        self.until = until
        self.asOf = asOf
        self.events = events
        self.preventedByKind = preventedByKind
        self.resolved = resolved
        self.failed = failed
        self.open = open
        self.expired = expired
        self.recoveryTimes = recoveryTimes
    }

    /// All prevent-role events in range.
    public var prevented: Int64 { preventedByKind.values.reduce(0, +) }

    /// Incidents opened in range.
    public var incidents: Int64 { resolved + failed + open + expired }

    /// Every self-healing action taken: prevented + incidents.
    public var actions: Int64 { prevented + incidents }

    /// (prevented + resolved) / (prevented + resolved + failed); nil when that is 0/0. Open and expired
    /// incidents are not decided, so not counted.
    public var successRate: Double? {
        let decided = prevented + resolved + failed
        return decided == 0 ? nil : Double(prevented + resolved) / Double(decided)
    }

    /// Mean recovery time of the resolved incidents, rounded to the millisecond; nil when there are none.
    public var mttrMs: Int64? {
        guard !recoveryTimes.isEmpty else { return nil }
        let sum = recoveryTimes.reduce(0.0) { $0 + Double($1) }
        return Int64((sum / Double(recoveryTimes.count)).rounded())
    }

    /// The nearest-rank percentile of the resolved incidents' recovery times; nil when there are none.
    public func recoveryPercentile(_ percent: Int) -> Int64? {
        guard !recoveryTimes.isEmpty else { return nil }
        // Nearest rank: the smallest value with at least percent% of the values at or below it.
        let rank = (percent * recoveryTimes.count + 99) / 100
        return recoveryTimes[max(1, rank) - 1]
    }

    /// Counts one incident opened in range, as a read shows it.
    package mutating func count(_ state: IncidentState, recoveryMs: Int64?) {
        switch state {
        case .open: open += 1
        case .resolved:
            resolved += 1
            recoveryTimes.append(recoveryMs ?? 0)
        case .failed: failed += 1
        case .expired: expired += 1
        }
    }
}
