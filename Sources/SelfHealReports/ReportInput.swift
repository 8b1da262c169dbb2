import Foundation
import SelfHealEvents

/// A report's period: one calendar day or one ISO week in a time zone, `[since, until)`.
public struct ReportPeriod: Sendable, Equatable {
    /// Daily or weekly.
    public enum Kind: String, Sendable {
        case daily, weekly
    }

    /// Daily or weekly.
    public var kind: Kind
    /// Start, inclusive, epoch milliseconds.
    public var since: Int64
    /// End, exclusive, epoch milliseconds.
    public var until: Int64
    /// The zone the period's days are counted in.
    public var zone: TimeZone
    /// `2025-11-25` or `2025-W48`: the file names' part.
    public var label: String
    /// `November 25, 2025` or `Week 48, 2025`: the subject's part.
    public var title: String
    /// The start of each day of the period, and `until` last (2 entries for a day, 8 for a week).
    public var dayStarts: [Int64]

    /// The number of days in the period.
    public var days: Int { dayStarts.count - 1 }

    /// The calendar day `date` (`YYYY-MM-DD`) in `zone`; nil when the date does not exist.
    public static func day(_ date: String, zone: TimeZone) -> ReportPeriod? {
        let parts = date.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1...12).contains(month), (1...Timestamp.daysInMonth(year: year, month: month)).contains(day)
        else { return nil }
        let calendar = Calendar.gregorian(zone)
        guard let start = calendar.date(from: DateComponents(year: year, month: month, day: day)),
            let end = calendar.date(byAdding: .day, value: 1, to: start)
        else { return nil }
        let title = "\(ReportFormat.monthNames[month - 1]) \(day), \(year)"
        return ReportPeriod(
            kind: .daily, since: start.millis, until: end.millis, zone: zone, label: date, title: title,
            dayStarts: [start.millis, end.millis])
    }

    /// The ISO week `week` (`YYYY-Www`, Monday to Monday) in `zone`; nil when the week does not exist.
    public static func week(_ week: String, zone: TimeZone) -> ReportPeriod? {
        let parts = week.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 3, parts[1].first == "W",
            let year = Int(parts[0]), let number = Int(parts[1].dropFirst()), number >= 1
        else { return nil }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = zone
        var components = DateComponents(weekday: 2, weekOfYear: number, yearForWeekOfYear: year)
        components.hour = 0
        guard let start = calendar.date(from: components),
            calendar.component(.weekOfYear, from: start) == number,
            calendar.component(.yearForWeekOfYear, from: start) == year
        else { return nil }
        let starts = (0...7).compactMap { calendar.date(byAdding: .day, value: $0, to: start)?.millis }
        guard starts.count == 8 else { return nil }
        let label = String(format: "%04d-W%02d", year, number)
        return ReportPeriod(
            kind: .weekly, since: starts[0], until: starts[7], zone: zone, label: label,
            title: "Week \(number), \(year)", dayStarts: starts)
    }

    /// The day containing `instant` in `zone`.
    public static func day(containing instant: Int64, zone: TimeZone) -> ReportPeriod {
        let calendar = Calendar.gregorian(zone)
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(millis: instant))
        let label = String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
        return day(label, zone: zone)!
    }

    /// The ISO week containing `instant` in `zone`.
    public static func week(containing instant: Int64, zone: TimeZone) -> ReportPeriod {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = zone
        let date = Date(millis: instant)
        let year = calendar.component(.yearForWeekOfYear, from: date)
        let number = calendar.component(.weekOfYear, from: date)
        return week(String(format: "%04d-W%02d", year, number), zone: zone)!
    }

    /// The week before this one (weekly periods), or the day before (daily periods).
    public var previous: ReportPeriod {
        switch kind {
        case .daily: return Self.day(containing: since - 1, zone: zone)
        case .weekly: return Self.week(containing: since - 1, zone: zone)
        }
    }
}

/// The figures of SPEC section 5 over a period, as `selfheal stats` computes them.
public struct ReportFigures: Sendable, Equatable {
    /// Events with ts in range.
    public var events: Int64
    /// Prevent-role events with ts in range, per kind.
    public var preventedByKind: [String: Int64]
    /// Incidents opened in range that are resolved.
    public var resolved: Int64
    /// Incidents opened in range that failed.
    public var failed: Int64
    /// Incidents opened in range still open.
    public var open: Int64
    /// Recovery times of the resolved incidents opened in range, ascending.
    public var recoveryTimes: [Int64]

    /// Creates figures.
    public init(
        events: Int64, preventedByKind: [String: Int64], resolved: Int64, failed: Int64, open: Int64,
        recoveryTimes: [Int64]
    ) {
        self.events = events
        self.preventedByKind = preventedByKind
        self.resolved = resolved
        self.failed = failed
        self.open = open
        self.recoveryTimes = recoveryTimes.sorted()
    }

    /// All prevent-role events in range.
    public var prevented: Int64 { preventedByKind.values.reduce(0, +) }
    /// Incidents opened in range.
    public var incidents: Int64 { resolved + failed + open }
    /// Every self-healing action taken: prevented + incidents.
    public var actions: Int64 { prevented + incidents }
    /// The counts behind the success rate: (prevented + resolved) of (prevented + resolved + failed).
    public var decided: (succeeded: Int64, total: Int64) { (prevented + resolved, prevented + resolved + failed) }
    /// (prevented + resolved) / (prevented + resolved + failed); nil when that is 0/0.
    public var successRate: Double? {
        let (succeeded, total) = decided
        return total == 0 ? nil : Double(succeeded) / Double(total)
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
        let rank = (percent * recoveryTimes.count + 99) / 100
        return recoveryTimes[max(1, rank) - 1]
    }
}

/// An incident as a report shows it (the `incidents` projection's row).
public struct ReportIncident: Sendable, Equatable {
    /// Open, resolved or failed.
    public enum State: String, Sendable {
        case open, resolved, failed
    }

    public var id: Int64
    public var service: String
    public var component: String
    /// The first event's kind.
    public var kind: String
    public var title: String
    public var state: State
    public var peakLevel: EventLevel
    public var openedAt: Int64
    public var resolvedAt: Int64?
    public var failedAt: Int64?
    /// The distinct mitigate kinds among its events, sorted.
    public var actions: [String]
    public var eventCount: Int64

    /// Creates an incident.
    public init(
        id: Int64, service: String, component: String, kind: String, title: String, state: State,
        peakLevel: EventLevel, openedAt: Int64, resolvedAt: Int64? = nil, failedAt: Int64? = nil,
        actions: [String] = [], eventCount: Int64 = 1
    ) {
        self.id = id
        self.service = service
        self.component = component
        self.kind = kind
        self.title = title
        self.state = state
        self.peakLevel = peakLevel
        self.openedAt = openedAt
        self.resolvedAt = resolvedAt
        self.failedAt = failedAt
        self.actions = actions
        self.eventCount = eventCount
    }

    /// `resolved_at - opened_at`, never below 0; nil while unresolved.
    public var recoveryMs: Int64? { resolvedAt.map { max(0, $0 - openedAt) } }
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
    /// On how many days of the period the kind occurred.
    public var daysSeen: Int

    /// Creates a count.
    public init(kind: String, count: Int64, selfHealed: Int64, failed: Int64 = 0, daysSeen: Int = 0) {
        self.kind = kind
        self.count = count
        self.selfHealed = selfHealed
        self.failed = failed
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

    /// Creates a bucket.
    public init(start: Int64, prevented: Int = 0, autoRecovered: Int = 0, failed: Int = 0, open: Int = 0) {
        self.start = start
        self.prevented = prevented
        self.autoRecovered = autoRecovered
        self.failed = failed
        self.open = open
    }

    /// All actions in the bucket.
    public var total: Int { prevented + autoRecovered + failed + open }
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

    /// Creates an input from precomputed parts.
    public init(
        period: ReportPeriod, figures: ReportFigures, incidents: [ReportIncident], kinds: [KindCount],
        buckets: [ChartBucket], previousKinds: [KindCount] = [], generatedAt: Int64
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
            period: period, figures: figures, incidents: incidents, kinds: kinds,
            buckets: buckets(period: period, incidents: incidents, preventedTimes: preventedTimes),
            previousKinds: previousKinds, generatedAt: generatedAt)
    }

    /// Counts by kind of the incidents opened in the period and of the prevent events, most frequent first.
    public static func kindCounts(
        period: ReportPeriod, incidents: [ReportIncident], preventedTimes: [String: [Int64]]
    ) -> [KindCount] {
        var counts: [String: KindCount] = [:]
        var days: [String: Set<Int>] = [:]
        for incident in incidents where incident.openedAt >= period.since && incident.openedAt < period.until {
            var count = counts[incident.kind] ?? KindCount(kind: incident.kind, count: 0, selfHealed: 0)
            count.count += 1
            if incident.state == .resolved { count.selfHealed += 1 }
            if incident.state == .failed { count.failed += 1 }
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
        period: ReportPeriod, incidents: [ReportIncident], preventedTimes: [String: [Int64]]
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
            }
        }
        return buckets
    }
}

extension ReportPeriod {
    /// The starts of the chart's buckets: every hour of a day, every day of a week.
    public var bucketStarts: [Int64] {
        switch kind {
        case .weekly:
            return Array(dayStarts.dropLast())
        case .daily:
            return Array(stride(from: since, to: until, by: 3_600_000))
        }
    }

    /// Which day of the period (0-based) an instant falls on.
    func dayIndex(of time: Int64) -> Int {
        var index = 0
        while index + 1 < dayStarts.count - 1, dayStarts[index + 1] <= time { index += 1 }
        return index
    }
}

extension Calendar {
    static func gregorian(_ zone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar
    }
}

extension Date {
    var millis: Int64 { Int64((timeIntervalSince1970 * 1_000).rounded()) }
    init(millis: Int64) { self.init(timeIntervalSince1970: Double(millis) / 1_000) }
}
