import SelfHealEvents

// The json shapes of SPEC section 7 for incidents and figures, written once: the command line's `--format
// json`, the HTTP API and the reports all encode through these (events and rejects: SelfHealEvents).

extension Incident {
    /// The incident in json (SPEC section 7).
    public var json: String { jsonText().finish() }

    /// The incident in json with `"events":[...]`, its events in seq order (SPEC section 9).
    public func json(events: [StoredEvent]) -> String {
        var json = jsonText()
        json.raw("events", JSONText.array(events.map(\.json)))
        return json.finish()
    }

    private func jsonText() -> JSONText {
        var json = JSONText()
        json.number("id", id)
        json.string("service", service)
        json.string("component", component)
        if let incident { json.string("incident", incident) } else { json.null("incident") }
        json.string("title", title)
        json.string("state", state.rawValue)
        json.string("peak_level", peakLevel.name)
        json.string("opened_at", Timestamp.formatRFC3339(openedAt))
        json.string("last_event_at", Timestamp.formatRFC3339(lastEventAt))
        json.time("resolved_at", resolvedAt)
        json.time("failed_at", failedAt)
        json.time("ended_at", endedAt)
        json.integer("recovery_ms", recoveryMs)
        json.raw("actions", JSONText.array(actions.map(JSONText.quoted)))
        json.number("event_count", eventCount)
        return json
    }
}

extension Stats {
    /// The figures in json (SPEC section 7).
    public var json: String {
        var json = JSONText()
        json.string("since", Timestamp.formatRFC3339(since))
        json.string("until", Timestamp.formatRFC3339(until))
        json.number("events", events)
        json.number("actions", actions)
        var byKind = JSONText()
        for kind in preventedByKind.keys.sorted() { byKind.number(kind, preventedByKind[kind] ?? 0) }
        var preventedJSON = JSONText()
        preventedJSON.number("total", prevented)
        preventedJSON.raw("by_kind", byKind.finish())
        json.raw("prevented", preventedJSON.finish())
        var incidentsJSON = JSONText()
        incidentsJSON.number("total", incidents)
        incidentsJSON.number("resolved", resolved)
        incidentsJSON.number("failed", failed)
        incidentsJSON.number("open", open)
        incidentsJSON.number("expired", expired)
        json.raw("incidents", incidentsJSON.finish())
        json.number("success_rate", successRate)
        json.integer("mttr_ms", mttrMs)
        json.integer("p50_recovery_ms", recoveryPercentile(50))
        json.integer("p95_recovery_ms", recoveryPercentile(95))
        return json.finish()
    }
}
