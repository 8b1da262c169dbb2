import Foundation
import HTTPTypes
import NIOCore
import SelfHealEvents
import SelfHealStore

/// The reads of the HTTP API on a store: the one file of this target that calls the store's query API
/// (``StoreReader``), so that a change of that API is adapted here only. Every answer is the bytes of the command
/// line's `--format json`.
struct Queries: Sendable {
    /// A local store opened read-only beside the daemon's writer (WAL: reads never wait for it), or the fleet's.
    let store: any StoreReader

    /// The most events `GET /api/v1/events` returns without a `limit`.
    static let defaultEventLimit = 10_000
    /// The largest `limit` accepted.
    static let maximumEventLimit = 100_000

    /// `GET /api/v1/events`: the `events` json array, at most `limit` events, in (ts, seq) order.
    func events(_ query: QueryParameters) throws(APIError) -> ByteBuffer {
        try query.allow(["since", "until", "tz", "as_of", "service", "kind", "limit"])
        let range = try query.range()
        _ = try query.asOf()  // checked like the command line's; events do not depend on it
        let filter = EventFilter(
            since: range.since,
            until: range.until,
            service: try query.service(),
            kind: try query.kind(),
            limit: try query.integer("limit", in: 1...Self.maximumEventLimit) ?? Self.defaultEventLimit
        )
        var array = JSONArray()
        try read { try store.forEachEvent(filter) { array.append($0.json) } }
        return array.finish()
    }

    /// `GET /api/v1/incidents`: the `incidents` json array.
    func incidents(_ query: QueryParameters) throws(APIError) -> ByteBuffer {
        try query.allow(["since", "until", "tz", "as_of", "service", "state", "min_level"])
        let range = try query.range()
        let filter = IncidentFilter(
            since: range.since,
            until: range.until,
            asOf: try query.asOf(),
            service: try query.service(),
            state: try query.state(),
            minimumLevel: try query.level()
        )
        var array = JSONArray()
        try read { try store.forEachIncident(filter) { array.append($0) } }
        return array.finish()
    }

    /// `GET /api/v1/incidents/{id}`: the incident object with `"events":[...]`, its events in seq order; nil
    /// when there is no such incident.
    func incident(id: Int64, _ query: QueryParameters) throws(APIError) -> String? {
        try query.allow(["as_of", "tz"])
        let asOf = try query.asOf()
        var text: String?
        try read {
            guard let incident = try store.incident(id: id, asOf: asOf) else { return }
            text = incident.json(events: try store.events(of: incident)) + "\n"
        }
        return text
    }

    /// `GET /api/v1/stats`: the `stats` json object.
    func stats(_ query: QueryParameters) throws(APIError) -> String {
        try query.allow(["since", "until", "tz", "as_of", "service"])
        let range = try query.range()
        let service = try query.service()
        let asOf = try query.asOf()
        var text = ""
        try read { text = try store.stats(since: range.since, until: range.until, service: service, asOf: asOf).json }
        return text + "\n"
    }

    /// The figures of the last 24 hours as of `now`, for the stream's `stats` events.
    func lastDayStats(now: Int64) throws(APIError) -> String {
        var text = ""
        try read { text = try store.stats(since: now - 86_400_000, until: now, service: nil, asOf: now).json }
        return text
    }

    /// `GET /api/v1/rejects`: the `rejects` json array.
    func rejects(_ query: QueryParameters) throws(APIError) -> ByteBuffer {
        try query.allow(["since", "until", "tz"])
        let range = try query.range()
        var array = JSONArray()
        try read { try store.forEachReject(since: range.since, until: range.until) { array.append($0.json) } }
        return array.finish()
    }

    /// Incidents by id as of `now`, as json objects (for the stream's `incident` events); ids with no incident
    /// are skipped.
    func incidents(ids: [Int64], now: Int64) throws(APIError) -> [String] {
        var records: [String] = []
        try read {
            for id in ids {
                if let incident = try store.incident(id: id, asOf: now) { records.append(incident.json) }
            }
        }
        return records
    }

    /// The active incidents as of `now` (open or failed, not ended), as json objects, by service.
    func activeIncidents(now: Int64) throws(APIError) -> [(service: String, json: String)] {
        var records: [(service: String, json: String)] = []
        try read {
            try store.forEachIncident(IncidentFilter(since: now, until: now + 1, asOf: now)) { incident in
                guard incident.endedAt == nil else { return }
                records.append((incident.service, incident.json))
            }
        }
        return records
    }

    /// The log's last seq.
    func lastSeq() throws(APIError) -> Int64 {
        var seq: Int64 = 0
        try read { seq = try store.lastSeq() }
        return seq
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

/// The command line's json array layout, written into one buffer as the records come: `[`, one record a line
/// separated by `,`, `]` (or `[]`), then a newline. An incident is encoded into a small scratch buffer that stays in
/// the cache, then copied to the answer; the answer is a `ByteBuffer`, which grows by `realloc` (often without a
/// copy) where an array copies itself at each doubling.
struct JSONArray {
    private var buffer = ByteBuffer()
    private var scratch: [UInt8] = []
    private var isEmpty = true

    /// Starts a record: `[` and a newline before the first, `,` and a newline before the others.
    private mutating func separate() {
        buffer.writeInteger(isEmpty ? UInt8(ascii: "[") : UInt8(ascii: ","))
        buffer.writeInteger(UInt8(ascii: "\n"))
        isEmpty = false
    }

    /// Appends a record already encoded.
    mutating func append(_ record: String) {
        separate()
        buffer.writeString(record)
    }

    /// Appends an incident, encoded straight into bytes.
    mutating func append(_ incident: Incident) {
        separate()
        scratch.removeAll(keepingCapacity: true)
        incident.appendJSON(to: &scratch)
        buffer.writeBytes(scratch)
    }

    /// Closes the array: the answer's bytes.
    consuming func finish() -> ByteBuffer {
        buffer.writeString(isEmpty ? "[]\n" : "\n]\n")
        return buffer
    }
}
