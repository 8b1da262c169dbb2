import Foundation
import SelfHealEvents
import SelfHealStore

/// The section-5 figures of a report's period: the store's `Stats`, the very numbers `selfheal stats` prints.
public typealias ReportFigures = Stats

extension Stats {
    /// Figures built by hand (tests, previews), over no particular range; recovery times are sorted.
    public init(
        events: Int64,
        preventedByKind: [String: Int64],
        resolved: Int64,
        failed: Int64,
        open: Int64,
        expired: Int64 = 0,
        recoveryTimes: [Int64]
    ) {
        self.init(
            since: 0,
            until: 0,
            asOf: 0,
            events: events,
            preventedByKind: preventedByKind,
            resolved: resolved,
            failed: failed,
            open: open,
            expired: expired,
            recoveryTimes: recoveryTimes.sorted()
        )
    }

    /// The counts behind the success rate: (prevented + resolved) of (prevented + resolved + failed).
    public var decided: (succeeded: Int64, total: Int64) { (prevented + resolved, prevented + resolved + failed) }
}

/// The reports read the store's incidents as they are (SPEC section 5).
public typealias ReportIncident = Incident

extension Incident {
    /// An incident built by hand (tests, previews): the fields the reports read; not keyed by `incident`.
    public init(
        id: Int64,
        service: String,
        component: String,
        kind: String,
        title: String,
        state: IncidentState,
        peakLevel: EventLevel,
        openedAt: Int64,
        lastEventAt: Int64? = nil,
        resolvedAt: Int64? = nil,
        failedAt: Int64? = nil,
        endedAt: Int64? = nil,
        actions: [String] = [],
        eventCount: Int64 = 1
    ) {
        self.init(
            id: id,
            service: service,
            component: component,
            incident: nil,
            kind: kind,
            title: title,
            state: state,
            peakLevel: peakLevel,
            openedAt: openedAt,
            lastEventAt: lastEventAt ?? resolvedAt ?? failedAt ?? openedAt,
            resolvedAt: resolvedAt,
            failedAt: failedAt,
            endedAt: endedAt ?? resolvedAt,
            eventCount: eventCount,
            actions: actions,
            firstSeq: 0,
            lastSeq: 0
        )
    }
}

/// How often a kind of issue happened in a period and how many of those healed themselves.
public struct KindCount: Sendable, Equatable {
    /// The kind: an incident's first event kind, or a prevent kind.
    public var kind: String
    /// Incidents opened with this kind, or prevent events of this kind.
    public var count: Int64
    /// Of those, resolved incidents or (prevent kinds) all of them.
    public var selfHealed: Int64
    /// Of those, failed incidents.
    public var failed: Int64
    /// Of those, incidents that went quiet without a recovery signal.
    public var expired: Int64
    /// On how many days of the period the kind occurred.
    public var daysSeen: Int

    /// Creates a count.
    public init(
        kind: String,
        count: Int64,
        selfHealed: Int64,
        failed: Int64 = 0,
        expired: Int64 = 0,
        daysSeen: Int = 0
    ) {
        self.kind = kind
        self.count = count
        self.selfHealed = selfHealed
        self.failed = failed
        self.expired = expired
        self.daysSeen = daysSeen
    }
}

/// One bar of the chart: an hour of a day or a day of a week, split by outcome.
public struct ChartBucket: Sendable, Equatable {
    /// Start of the bucket, epoch milliseconds.
    public var start: Int64
    /// Prevent events.
    public var prevented: Int
    /// Incidents opened in the bucket, resolved.
    public var autoRecovered: Int
    /// Incidents opened in the bucket, failed.
    public var failed: Int
    /// Incidents opened in the bucket, still open.
    public var open: Int
    /// Incidents opened in the bucket that went quiet without a recovery signal.
    public var expired: Int

    /// Creates a bucket.
    public init(
        start: Int64,
        prevented: Int = 0,
        autoRecovered: Int = 0,
        failed: Int = 0,
        open: Int = 0,
        expired: Int = 0
    ) {
        self.start = start
        self.prevented = prevented
        self.autoRecovered = autoRecovered
        self.failed = failed
        self.open = open
        self.expired = expired
    }

    /// All actions in the bucket.
    public var total: Int { prevented + autoRecovered + failed + open + expired }
}

/// Everything a report is made from, read from the store (or made by hand in tests).
public struct ReportInput: Sendable {
    /// The period.
    public var period: ReportPeriod
    /// The figures of the period (`selfheal stats` over it).
    public var figures: ReportFigures
    /// Incidents whose life overlaps the period, ordered by `opened_at`, then `id`.
    public var incidents: [ReportIncident]
    /// Issues by kind, most frequent first.
    public var kinds: [KindCount]
    /// The chart: per hour for a day, per day for a week.
    public var buckets: [ChartBucket]
    /// Issues by kind in the period before (the previous week of a weekly report), for trends.
    public var previousKinds: [KindCount]
    /// When the report was made, epoch milliseconds (the ages of open incidents are counted to it or to the
    /// end of the period, whichever is earlier).
    public var generatedAt: Int64
    /// The head of the log's hash chain when the report was made, for its footer: it pins the history the
    /// report was made from (`selfheal verify --head`). Nil when not known.
    public var chainHead: ChainHead?

    /// Creates an input from precomputed parts.
    public init(
        period: ReportPeriod,
        figures: ReportFigures,
        incidents: [ReportIncident],
        kinds: [KindCount],
        buckets: [ChartBucket],
        previousKinds: [KindCount] = [],
        generatedAt: Int64
    ) {
        self.period = period
        self.figures = figures
        self.incidents = incidents
        self.kinds = kinds
        self.buckets = buckets
        self.previousKinds = previousKinds
        self.generatedAt = generatedAt
    }

    /// Assembles an input from the facts of the store: the figures, the incidents overlapping the period, and
    /// the timestamps of the prevent events in it, per kind. Kinds and chart buckets are derived here.
    public static func assemble(
        period: ReportPeriod,
        figures: ReportFigures,
        incidents: [ReportIncident],
        preventedTimes: [String: [Int64]],
        previous: (period: ReportPeriod, incidents: [ReportIncident], preventedTimes: [String: [Int64]])? = nil,
        generatedAt: Int64
    ) -> ReportInput {
        let kinds = kindCounts(period: period, incidents: incidents, preventedTimes: preventedTimes)
        let previousKinds =
            previous.map { kindCounts(period: $0.period, incidents: $0.incidents, preventedTimes: $0.preventedTimes) }
            ?? []
        return ReportInput(
            period: period,
            figures: figures,
            incidents: incidents,
            kinds: kinds,
            buckets: buckets(period: period, incidents: incidents, preventedTimes: preventedTimes),
            previousKinds: previousKinds,
            generatedAt: generatedAt
        )
    }

    /// Counts by kind of the incidents opened in the period and of the prevent events, most frequent first.
    public static func kindCounts(
        period: ReportPeriod,
        incidents: [ReportIncident],
        preventedTimes: [String: [Int64]]
    ) -> [KindCount] {
        var counts: [String: KindCount] = [:]
        var days: [String: Set<Int>] = [:]
        for incident in incidents where incident.openedAt >= period.since && incident.openedAt < period.until {
            var count = counts[incident.kind] ?? KindCount(kind: incident.kind, count: 0, selfHealed: 0)
            count.count += 1
            if incident.state == .resolved { count.selfHealed += 1 }
            if incident.state == .failed { count.failed += 1 }
            if incident.state == .expired { count.expired += 1 }
            counts[incident.kind] = count
            days[incident.kind, default: []].insert(period.dayIndex(of: incident.openedAt))
        }
        for (kind, times) in preventedTimes {
            let inRange = times.filter { $0 >= period.since && $0 < period.until }
            guard !inRange.isEmpty else { continue }
            var count = counts[kind] ?? KindCount(kind: kind, count: 0, selfHealed: 0)
            count.count += Int64(inRange.count)
            count.selfHealed += Int64(inRange.count)
            counts[kind] = count
            for time in inRange { days[kind, default: []].insert(period.dayIndex(of: time)) }
        }
        return counts.values.map { count in
            var count = count
            count.daysSeen = days[count.kind]?.count ?? 0
            return count
        }
        .sorted { ($0.count, $1.kind) > ($1.count, $0.kind) }
    }

    /// The chart's buckets: hours of a day (23 to 25 on days when clocks change), days of a week.
    public static func buckets(
        period: ReportPeriod,
        incidents: [ReportIncident],
        preventedTimes: [String: [Int64]]
    ) -> [ChartBucket] {
        let starts = period.bucketStarts
        var buckets = starts.map { ChartBucket(start: $0) }
        func index(_ time: Int64) -> Int? {
            guard time >= period.since, time < period.until else { return nil }
            var low = 0
            var high = starts.count - 1
            while low < high {
                let middle = (low + high + 1) / 2
                if starts[middle] <= time { low = middle } else { high = middle - 1 }
            }
            return low
        }
        for times in preventedTimes.values {
            for time in times { if let i = index(time) { buckets[i].prevented += 1 } }
        }
        for incident in incidents {
            guard let i = index(incident.openedAt) else { continue }
            switch incident.state {
            case .resolved: buckets[i].autoRecovered += 1
            case .failed: buckets[i].failed += 1
            case .open: buckets[i].open += 1
            case .expired: buckets[i].expired += 1
            }
        }
        return buckets
    }
}
