import Foundation
import HTTPTypes
import SelfHealEvents
import SelfHealStore

/// The reads of the HTTP API on a read-only store: the one file of this target that calls the store's query
/// API, so that a change of that API is adapted here only. Every answer is the bytes of the command line's
/// `--format json`.
struct Queries: Sendable {
    /// A store opened read-only beside the daemon's writer (WAL: reads never wait for it).
    let store: EventStore

    /// The most events `GET /api/v1/events` returns without a `limit`.
    static let defaultEventLimit = 10_000
    /// The largest `limit` accepted.
    static let maximumEventLimit = 100_000

    /// `GET /api/v1/events`: the `events` json array, at most `limit` events, in (ts, seq) order.
    func events(_ query: QueryParameters) throws(APIError) -> String {
        try query.allow(["since", "until", "tz", "as_of", "service", "kind", "limit"])
        let range = try query.range()
        let service = try query.service()
        let kind = try query.kind()
        let limit = try query.integer("limit", in: 1...Self.maximumEventLimit) ?? Self.defaultEventLimit
        var records: [String] = []
        let filter = EventFilter(since: range.since, until: range.until, service: service, kind: kind)
        // Until the store takes `EventFilter.limit`: the walk stops by throwing a marker the store passes on.
        let limitReached = StoreError("selfheal.http.limit-reached")
        try read {
            do {
                try store.forEachEvent(filter) { event in
                    records.append(event.json)
                    if records.count >= limit { throw limitReached }
                }
            } catch let error as StoreError where error.message == limitReached.message {
                return
            }
        }
        return JSONArray.text(records)
    }

    /// `GET /api/v1/incidents`: the `incidents` json array.
    func incidents(_ query: QueryParameters) throws(APIError) -> String {
        try query.allow(["since", "until", "tz", "as_of", "service", "state", "min_level"])
        let range = try query.range()
        let filter = IncidentFilter(
            since: range.since,
            until: range.until,
            service: try query.service(),
            state: try query.state(),
            minimumLevel: try query.level()
        )
        var records: [String] = []
        try read { try store.forEachIncident(filter) { records.append(IncidentJSON.object($0)) } }
        return JSONArray.text(records)
    }

    /// `GET /api/v1/incidents/{id}`: the incident object with `"events":[...]`, its events in seq order; nil
    /// when there is no such incident.
    func incident(id: Int64, _ query: QueryParameters) throws(APIError) -> String? {
        try query.allow(["as_of"])
        var found: Incident?
        try read { found = try store.allIncidents().first { $0.id == id } }
        guard let incident = found else { return nil }
        // Until the store answers `events(of:)`: the events of the incident's key between its first and last
        // seq whose role touches incidents (the key has one active incident at a time, so they are its own).
        var events: [String] = []
        try read {
            let filter = EventFilter(since: Timestamp.minimum, until: Int64.max, service: incident.service)
            var matching: [StoredEvent] = []
            try store.forEachEvent(filter) { stored in
                guard stored.seq >= incident.firstSeq, stored.seq <= incident.lastSeq else { return }
                let event = stored.event
                guard event.incident == incident.incident,
                    incident.incident != nil || event.component == incident.component
                else { return }
                switch event.kind.role {
                case .detect, .mitigate, .recover, .fail: matching.append(stored)
                case .prevent, .info: return
                }
            }
            events = matching.sorted { $0.seq < $1.seq }.map(\.json)
        }
        var object = IncidentJSON.object(incident)
        object.removeLast()
        object += ",\"events\":" + JSONText.array(events) + "}"
        return object + "\n"
    }

    /// `GET /api/v1/stats`: the `stats` json object.
    func stats(_ query: QueryParameters) throws(APIError) -> String {
        try query.allow(["since", "until", "tz", "as_of", "service"])
        let range = try query.range()
        let service = try query.service()
        var text = ""
        try read {
            text = IncidentJSON.stats(try store.stats(since: range.since, until: range.until, service: service))
        }
        return text + "\n"
    }

    /// The figures of the last 24 hours as of `now`, for the stream's `stats` events.
    func lastDayStats(now: Int64) throws(APIError) -> String {
        var text = ""
        try read { text = IncidentJSON.stats(try store.stats(since: now - 86_400_000, until: now)) }
        return text
    }

    /// `GET /api/v1/rejects`: the `rejects` json array.
    func rejects(_ query: QueryParameters) throws(APIError) -> String {
        try query.allow(["since", "until", "tz"])
        let range = try query.range()
        var records: [String] = []
        try read { try store.forEachReject(since: range.since, until: range.until) { records.append($0.json) } }
        return JSONArray.text(records)
    }

    /// The incidents changed by the events with seq in `(after, through]` and ts in `[since, until)`, as json
    /// objects with their ids (for the stream's `incident` events).
    func changedIncidents(
        after: Int64,
        through: Int64,
        since: Int64,
        until: Int64
    ) throws(APIError)
        -> [(id: Int64, json: String)]
    {
        var changed: [(id: Int64, json: String)] = []
        try read {
            try store.forEachIncident(IncidentFilter(since: since, until: until)) { incident in
                if incident.lastSeq > after && incident.lastSeq <= through {
                    changed.append((incident.id, IncidentJSON.object(incident)))
                }
            }
        }
        return changed
    }

    /// The active incidents (open or failed, not resolved) as json objects, for a new stream client.
    func activeIncidents(now: Int64) throws(APIError) -> [String] {
        var records: [String] = []
        try read {
            try store.forEachIncident(IncidentFilter(since: now, until: now + 1)) { incident in
                guard incident.resolvedAt == nil, incident.state == .open || incident.state == .failed else { return }
                records.append(IncidentJSON.object(incident))
            }
        }
        return records
    }

    /// Active incidents (open or failed, not resolved) per service, and the log's last seq, for the metrics.
    func activeIncidentsByService(now: Int64) throws(APIError) -> (byService: [String: Int], lastSeq: Int64) {
        var counts: [String: Int] = [:]
        var lastSeq: Int64 = 0
        try read {
            try store.forEachIncident(IncidentFilter(since: now, until: now + 1)) { incident in
                guard incident.resolvedAt == nil, incident.state == .open || incident.state == .failed else { return }
                counts[incident.service, default: 0] += 1
            }
            lastSeq = try store.lastSeq()
        }
        return (counts, lastSeq)
    }

    /// Runs a read, turning a store failure into a `503` that names it.
    private func read(_ body: () throws -> Void) throws(APIError) {
        do {
            try body()
        } catch let error as APIError {
            throw error
        } catch let error as StoreError {
            throw APIError(.serviceUnavailable, "cannot read the store: \(error.message)")
        } catch {
            throw APIError(.serviceUnavailable, "cannot read the store: \(error)")
        }
    }
}

/// The command line's json array layout: `[`, one record a line separated by `,`, `]` (or `[]`), then a newline.
enum JSONArray {
    static func text(_ records: [String]) -> String {
        records.isEmpty ? "[]\n" : "[\n" + records.joined(separator: ",\n") + "\n]\n"
    }
}

/// The json of incidents and figures, as the command line writes them (SPEC section 7). Until the store
/// encodes them itself (issue 10 moves `Incident.json` and `Stats.json` into SelfHealStore), this is a copy of
/// the command line's encoders; the HTTP tests compare its bytes with `selfheal incidents/stats --format json`.
enum IncidentJSON {
    static func object(_ incident: Incident) -> String {
        var json = JSONText()
        json.number("id", incident.id)
        json.string("service", incident.service)
        json.string("component", incident.component)
        if let key = incident.incident { json.string("incident", key) } else { json.null("incident") }
        json.string("title", incident.title)
        json.string("state", incident.state.rawValue)
        json.string("peak_level", incident.peakLevel.name)
        json.string("opened_at", Timestamp.formatRFC3339(incident.openedAt))
        time(&json, "resolved_at", incident.resolvedAt)
        time(&json, "failed_at", incident.failedAt)
        if let recovery = incident.recoveryMs { json.number("recovery_ms", recovery) } else { json.null("recovery_ms") }
        json.raw("actions", JSONText.array(incident.actions.map(JSONText.quoted)))
        json.number("event_count", incident.eventCount)
        return json.finish()
    }

    static func stats(_ stats: Stats) -> String {
        var json = JSONText()
        json.string("since", Timestamp.formatRFC3339(stats.since))
        json.string("until", Timestamp.formatRFC3339(stats.until))
        json.number("events", stats.events)
        json.number("actions", stats.actions)
        var byKind = JSONText()
        for kind in stats.preventedByKind.keys.sorted() { byKind.number(kind, stats.preventedByKind[kind] ?? 0) }
        var prevented = JSONText()
        prevented.number("total", stats.prevented)
        prevented.raw("by_kind", byKind.finish())
        json.raw("prevented", prevented.finish())
        var incidents = JSONText()
        incidents.number("total", stats.incidents)
        incidents.number("resolved", stats.resolved)
        incidents.number("failed", stats.failed)
        incidents.number("open", stats.open)
        json.raw("incidents", incidents.finish())
        json.number("success_rate", stats.successRate)
        optional(&json, "mttr_ms", stats.mttrMs)
        optional(&json, "p50_recovery_ms", stats.recoveryPercentile(50))
        optional(&json, "p95_recovery_ms", stats.recoveryPercentile(95))
        return json.finish()
    }

    private static func time(_ json: inout JSONText, _ key: String, _ millis: Int64?) {
        if let millis { json.string(key, Timestamp.formatRFC3339(millis)) } else { json.null(key) }
    }

    private static func optional(_ json: inout JSONText, _ key: String, _ value: Int64?) {
        if let value { json.number(key, value) } else { json.null(key) }
    }
}
