import SelfHealEvents
import SelfHealStore

extension ReportFigures {
    /// The figures `selfheal stats` computes.
    public init(_ stats: Stats) {
        self.init(
            events: stats.events,
            preventedByKind: stats.preventedByKind,
            resolved: stats.resolved,
            failed: stats.failed,
            open: stats.open,
            expired: stats.expired,
            recoveryTimes: stats.recoveryTimes
        )
    }
}

extension ReportInput {
    /// Reads a period's input from the store: `stats` over the period (the same call `selfheal stats` makes),
    /// the incidents overlapping it, the prevent events' times; for a weekly report the week before too.
    public static func load(
        from store: any StoreReader,
        period: ReportPeriod,
        service: String? = nil,
        generatedAt: Int64
    ) throws(StoreError) -> ReportInput {
        let figures = try store.stats(since: period.since, until: period.until, service: service, asOf: generatedAt)
        let incidents = try self.incidents(
            store,
            since: period.since,
            until: period.until,
            service: service,
            asOf: generatedAt
        )
        let prevented = try preventedTimes(store, since: period.since, until: period.until, service: service)
        var previous: (period: ReportPeriod, incidents: [ReportIncident], preventedTimes: [String: [Int64]])?
        if period.kind == .weekly {
            let before = period.previous
            previous = (
                before,
                try self.incidents(
                    store,
                    since: before.since,
                    until: before.until,
                    service: service,
                    asOf: generatedAt
                ),
                try preventedTimes(store, since: before.since, until: before.until, service: service)
            )
        }
        var input = assemble(
            period: period,
            figures: figures,
            incidents: incidents,
            preventedTimes: prevented,
            previous: previous,
            generatedAt: generatedAt
        )
        input.chainHead = try store.chainHead()
        return input
    }

    /// The incidents whose life overlaps `[since, until)` as of `asOf`, as `selfheal incidents` lists them.
    public static func incidents(
        _ store: any StoreReader,
        since: Int64,
        until: Int64,
        service: String? = nil,
        asOf: Int64
    ) throws(StoreError) -> [ReportIncident] {
        try store.incidents(IncidentFilter(since: since, until: until, asOf: asOf, service: service))
    }

    static func preventedTimes(
        _ store: any StoreReader,
        since: Int64,
        until: Int64,
        service: String?
    ) throws(StoreError) -> [String: [Int64]] {
        var times: [String: [Int64]] = [:]
        for kind in EventKind.vocabulary where kind.role == .prevent {
            var list: [Int64] = []
            try store.forEachEvent(EventFilter(since: since, until: until, service: service, kind: kind.name)) {
                list.append($0.timestamp)
            }
            if !list.isEmpty { times[kind.name] = list }
        }
        return times
    }
}
