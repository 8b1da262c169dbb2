import SelfHealEvents

/// The one query API (SPEC sections 7 to 9): what the command line's reads, the reports and the HTTP API ask of
/// a store. ``EventStore`` answers it from a local data directory; the fleet's reader (SelfHealFleet) from the
/// central PostgreSQL store, with the same figures.
///
/// Every call blocks until it has its answer: callers that must not block (event loops) call it from a thread
/// pool.
public protocol StoreReader: Sendable {
    /// Calls `body` for each stored event with ts in range, in (ts, seq) order, without loading them all.
    func forEachEvent(_ filter: EventFilter, _ body: (StoredEvent) throws -> Void) throws(StoreError)

    /// Calls `body` for each rejected line received in `[since, until)`, oldest first.
    func forEachReject(since: Int64, until: Int64, _ body: (RejectedLine) throws -> Void) throws(StoreError)

    /// The figures of SPEC section 5 over `[since, until)` as of `asOf`, for one service or all.
    func stats(since: Int64, until: Int64, service: String?, asOf: Int64) throws(StoreError) -> Stats

    /// Calls `body` for each incident whose life overlaps the range as of `filter.asOf` (`opened_at < until`
    /// and `ended_at` null or `>= since`) and passes the filter, ordered by `opened_at`, then `id`.
    func forEachIncident(_ filter: IncidentFilter, _ body: (Incident) throws -> Void) throws(StoreError)

    /// One incident by id, as of a time; nil when there is none.
    func incident(id: Int64, asOf: Int64) throws(StoreError) -> Incident?

    /// The events of an incident, in seq order.
    func events(of incident: Incident) throws(StoreError) -> [StoredEvent]

    /// Every incident by id, as of a time (for tests and checks).
    func allIncidents(asOf: Int64) throws(StoreError) -> [Incident]

    /// The store's quiet period, milliseconds (SPEC section 5).
    func quietPeriod() throws(StoreError) -> Int64

    /// The highest seq in the log; 0 when it is empty.
    func lastSeq() throws(StoreError) -> Int64

    /// The head of the log's hash chain, for the reports' footer; nil when the log is empty or has no single
    /// chain (the fleet's log has one per host).
    func chainHead() throws(StoreError) -> ChainHead?
}

extension StoreReader {
    /// The incidents ``forEachIncident(_:_:)`` lists.
    public func incidents(_ filter: IncidentFilter) throws(StoreError) -> [Incident] {
        var incidents: [Incident] = []
        try forEachIncident(filter) { incidents.append($0) }
        return incidents
    }
}

extension EventStore: StoreReader {}

extension EventKind {
    /// Whether events of this kind join incidents (detect, mitigate, recover, fail; not prevent or info): the
    /// events an incident's timeline shows.
    package var joinsIncidents: Bool {
        switch role {
        case .detect, .mitigate, .recover, .fail: true
        case .prevent, .info: false
        }
    }
}
