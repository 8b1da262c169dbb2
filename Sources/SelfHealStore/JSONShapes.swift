import SelfHealEvents

// The json shapes of SPEC section 7 for incidents and figures, written once: the command line's `--format
// json`, the HTTP API and the reports all encode through these (events and rejects: SelfHealEvents). They write
// bytes (``JSONBytes``): a day's incidents are tens of thousands of objects, and a `String` per value cost
// most of the time of such an answer.

extension Incident {
    /// The incident in json (SPEC section 7).
    public var json: String {
        var json = JSONBytes()
        write(&json)
        return json.finish()
    }

    /// Appends the incident in json (the bytes of ``json``) to a buffer.
    public func appendJSON(to buffer: inout [UInt8]) {
        var json = JSONBytes(continuing: &buffer)
        write(&json)
        json.finish(into: &buffer)
    }

    /// The incident in json with `"events":[...]`, its events in seq order (SPEC section 9).
    public func json(events: [StoredEvent]) -> String {
        var json = JSONBytes()
        write(&json)
        json.raw("events", JSONText.array(events.map(\.json)).utf8)
        return json.finish()
    }

    private func write(_ json: inout JSONBytes) {
        json.number("id", id)
        json.string("service", service)
        json.string("component", component)
        if let incident { json.string("incident", incident) } else { json.null("incident") }
        json.string("title", title)
        json.string("state", state.rawValue)
        json.string("peak_level", peakLevel.name)
        json.time("opened_at", openedAt)
        json.time("last_event_at", lastEventAt)
        json.time("resolved_at", resolvedAt)
        json.time("failed_at", failedAt)
        json.time("ended_at", endedAt)
        json.integer("recovery_ms", recoveryMs)
        json.strings("actions", actions)
        json.number("event_count", eventCount)
    }
}

extension Stats {
    /// The figures in json (SPEC section 7).
    public var json: String {
        var json = JSONBytes()
        json.time("since", since)
        json.time("until", until)
        json.number("events", events)
        json.number("actions", actions)
        json.object("prevented") { prevented in
            prevented.number("total", self.prevented)
            prevented.object("by_kind") { byKind in
                for kind in preventedByKind.keys.sorted() { byKind.number(named: kind, preventedByKind[kind] ?? 0) }
            }
        }
        json.object("incidents") { incidents in
            incidents.number("total", self.incidents)
            incidents.number("resolved", resolved)
            incidents.number("failed", failed)
            incidents.number("open", open)
            incidents.number("expired", expired)
        }
        json.number("success_rate", successRate)
        json.integer("mttr_ms", mttrMs)
        json.integer("p50_recovery_ms", recoveryPercentile(50))
        json.integer("p95_recovery_ms", recoveryPercentile(95))
        return json.finish()
    }
}
