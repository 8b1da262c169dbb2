import SelfHealEvents

/// An incident as the store holds it, while the rules work on it (``Incident`` is what a read shows).
package struct IncidentRecord: Equatable, Sendable {
    package var id: Int64
    package var key: IncidentKey
    package var component: String
    package var kind: String
    package var title: String
    /// As the store holds it: `open` or `failed` while active; `expired`, `resolved` or `failed` once ended.
    package var state: IncidentState
    package var peakLevel: EventLevel
    package var openedAt: Int64
    /// The greatest ts of its events.
    package var lastEventAt: Int64
    package var resolvedAt: Int64?
    package var failedAt: Int64?
    /// When the store ended it: the recover event's ts, or `lastEventAt + Q` when a later event found it
    /// quiet; nil while active.
    package var endedAt: Int64?
    package var eventCount: Int64
    package var actions: ActionSet
    package var firstSeq: Int64
    package var lastSeq: Int64

    package var recoveryMs: Int64? { resolvedAt.map { max(0, $0 - openedAt) } }

    /// Whether the store holds it active (its key's current incident).
    var isActive: Bool { endedAt == nil }

    /// The longest an incident of each span class lasts (class 3: longer, or not ended).
    package static let spanBounds: [Int64] = [60_000, 3_600_000, 86_400_000]

    /// The `span_class` column: how long it lasted until the store ended it, 0 at most a minute, 1 at most an
    /// hour, 2 at most a day, 3 longer or not ended.
    package var spanClass: Int64 {
        guard let endedAt else { return 3 }
        let span = endedAt - openedAt
        return Int64(Self.spanBounds.firstIndex { span <= $0 } ?? 3)
    }

    /// The incident as a read shows it as of `asOf` (SPEC section 5, quiet incidents): a non-resolved incident
    /// is ended (`expired`, or `failed`) exactly when `lastEventAt + quietPeriod <= asOf`, whether or not a
    /// later event has ended it in the store; otherwise it is active (`open` or `failed`).
    package func shown(asOf: Int64, quietPeriod: Int64) -> Incident {
        let (state, ended) = Self.shown(
            state: state,
            resolvedAt: resolvedAt,
            lastEventAt: lastEventAt,
            asOf: asOf,
            quietPeriod: quietPeriod
        )
        return Incident(
            id: id,
            service: key.service,
            component: component,
            incident: key.byIncident ? key.name : nil,
            kind: kind,
            title: title,
            state: state,
            peakLevel: peakLevel,
            openedAt: openedAt,
            lastEventAt: lastEventAt,
            resolvedAt: resolvedAt,
            failedAt: failedAt,
            endedAt: ended,
            eventCount: eventCount,
            actions: actions.sorted,
            firstSeq: firstSeq,
            lastSeq: lastSeq
        )
    }

    /// The state and end a read as of `asOf` shows of an incident the store holds in `state` (the quiet rule of
    /// SPEC section 5, for ``shown(asOf:quietPeriod:)`` and for the figures).
    package static func shown(
        state stored: IncidentState,
        resolvedAt: Int64?,
        lastEventAt: Int64,
        asOf: Int64,
        quietPeriod: Int64
    ) -> (state: IncidentState, endedAt: Int64?) {
        var state = stored
        var ended: Int64?
        if let resolvedAt {
            ended = resolvedAt
        } else if lastEventAt + quietPeriod <= asOf {
            ended = lastEventAt + quietPeriod
            if state == .open { state = .expired }
        } else if state == .expired {
            state = .open
        }
        return (state, ended)
    }

    /// Readable text from the first event, in words per kind: "Connection pool warning on db-pool", with the
    /// message's first line after a colon ("Retries on openai: 503 from upstream"); a line of more than 160
    /// bytes is cut to 159 characters and an ellipsis.
    static func title(kind: EventKind, component: String, message: String?) -> String {
        var title = kind.incidentTitlePrefix
        title.reserveCapacity(title.utf8.count + component.utf8.count + 2 + min(message?.utf8.count ?? 0, 162))
        title += " "
        title += component
        guard let message else { return title }
        // The common case, a short message of one line, without walking its characters: no byte of it can
        // start a newline character (\n, \v, \f, \r, U+0085, U+2028, U+2029).
        if message.utf8.count <= 160,
            !message.utf8.contains(where: { $0 <= 0x0D && $0 >= 0x0A || $0 == 0xC2 || $0 == 0xE2 })
        {
            if !message.isEmpty {
                title += ": "
                title += message
            }
            return title
        }
        let line = message.prefix { !$0.isNewline }
        guard !line.isEmpty else { return title }
        title += ": "
        if line.utf8.count > 160 {
            title += line.prefix(159)
            title += "…"
        } else {
            title += line
        }
        return title
    }
}

extension IncidentRecord {
    /// A record with every column given (the central store reads its rows with this).
    package static func columns(
        id: Int64,
        key: IncidentKey,
        component: String,
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
        actions: ActionSet,
        firstSeq: Int64,
        lastSeq: Int64
    ) -> IncidentRecord {
        IncidentRecord(
            id: id,
            key: key,
            component: component,
            kind: kind,
            title: title,
            state: state,
            peakLevel: peakLevel,
            openedAt: openedAt,
            lastEventAt: lastEventAt,
            resolvedAt: resolvedAt,
            failedAt: failedAt,
            endedAt: endedAt,
            eventCount: eventCount,
            actions: actions,
            firstSeq: firstSeq,
            lastSeq: lastSeq
        )
    }
}
