import SelfHealEvents

/// The demo's data: sixteen days of a web portal's self-healing events, 2025-11-10 to 2025-11-25 (UTC), ending
/// with the day of the users' scenario analysis (the dashboard that exhausted the connection pool, the spam
/// capture that would have timed out, records pushed into forbidden states, an external API that stayed down,
/// a health check still degraded at midnight). Deterministic: the same lines every run.
struct DemoScenario {
    /// The first day, a Monday, so that two whole ISO weeks (W46 and W47) come before the scenario's day.
    static let firstDay = (year: 2025, month: 11, day: 10)
    /// The scenario's day.
    static let lastDay = (year: 2025, month: 11, day: 25)
    static let service = "portal-web"

    private var random = SplitMix64(seed: 0x5E1F_4EA1)
    private var lines: [(ts: Int64, line: String)] = []
    private var serial = 0

    /// Every event, in time order (as services would send them), as wire lines.
    static func lines() -> [String] {
        var scenario = DemoScenario()
        let first = Timestamp.daysFromCivil(year: firstDay.year, month: firstDay.month, day: firstDay.day)
        let last = Timestamp.daysFromCivil(year: lastDay.year, month: lastDay.month, day: lastDay.day)
        for day in first...last {
            scenario.ordinaryDay(Int64(day) * 86_400_000, index: day - first, isLast: day == last)
            if day == last { scenario.scenarioDay(Int64(day) * 86_400_000) }
        }
        // A stable sort: events of the same millisecond keep the order they were written in.
        return scenario.lines.enumerated().sorted { ($0.element.ts, $0.offset) < ($1.element.ts, $1.offset) }
            .map(\.element.line)
    }

    // MARK: An ordinary day

    /// Background traffic whose rates change between the weeks: pool warnings and blocked transitions fall
    /// (a query fixed, a status bug fixed), auto-batching rises (more bulk actions), the rest stays level.
    private mutating func ordinaryDay(_ midnight: Int64, index: Int, isLast: Bool) {
        let secondWeek = index >= 7
        let pools = secondWeek ? random.next(in: 1...2) : random.next(in: 3...4)
        for _ in 0..<(isLast ? 1 : pools) { poolIncident(at: businessHour(midnight)) }
        for _ in 0..<random.next(in: 26...32) { retriedError(at: businessHour(midnight)) }
        for _ in 0..<random.next(in: 6...9) { invalidResponse(at: businessHour(midnight)) }
        for _ in 0..<random.next(in: 2...3) { breakerEpisode(at: businessHour(midnight)) }
        for _ in 0..<random.next(in: 4...6) { healthBlip(at: anyHour(midnight)) }
        let batching = secondWeek ? random.next(in: 9...11) : random.next(in: 5...7)
        for _ in 0..<batching { autoBatch(at: businessHour(midnight), items: random.next(in: 300...900)) }
        let transitions = secondWeek ? random.next(in: 0...1) : random.next(in: 4...6)
        for _ in 0..<transitions { blockedTransition(at: businessHour(midnight)) }
        for _ in 0..<random.next(in: 2...3) {
            emit(
                anyHour(midnight),
                "ratelimit.throttled",
                "/api/search",
                attrs: #"{"client":"crawler-7","limit":100,"window_s":60}"#
            )
        }
        if index % 3 == 2 && !isLast { exhaustedRetries(at: midnight + 16 * 3_600_000, recoverAfter: 40 * 60_000) }
    }

    private mutating func poolIncident(at start: Int64) {
        let used = random.next(in: 85...88)
        emit(
            start,
            "pool.warning",
            "db-pool",
            message: "Connection pool at \(used)% (\(used)/100)",
            attrs: #"{"used":\#(used),"max":100}"#
        )
        let critical = random.next(in: 0...2) == 0
        if critical {
            emit(
                start + 300,
                "pool.critical",
                "db-pool",
                message: "Connection pool at 93% (93/100)",
                attrs: #"{"used":93,"max":100}"#
            )
        }
        let recovery = Int64(random.next(in: 400...1_800))
        emit(start + recovery, "pool.recovered", "db-pool", attrs: #"{"used":61,"max":100}"#)
    }

    private mutating func retriedError(at start: Int64) {
        let endpoint = ["/api/messages", "/api/manager/assistance", "/api/voice/sessions"][random.next(in: 0...2)]
        emit(
            start,
            "error.detected",
            endpoint,
            message: "503 Service Unavailable",
            attrs: #"{"status":503,"endpoint":"\#(endpoint)","transient":true}"#
        )
        let attempts = random.next(in: 1...2)
        var time = start
        for attempt in 1...attempts {
            time += Int64(100 << attempt)
            emit(
                time,
                "retry.attempt",
                endpoint,
                attrs: #"{"attempt":\#(attempt),"max_attempts":3,"delay_ms":\#(100 << attempt)}"#
            )
        }
        emit(
            time + Int64(random.next(in: 50...400)),
            "retry.succeeded",
            endpoint,
            attrs: #"{"attempts":\#(attempts + 1)}"#
        )
    }

    private mutating func invalidResponse(at start: Int64) {
        emit(
            start,
            "response.invalid",
            "/api/manager/assistance",
            message: "Expected JSON, got HTML (status 500)",
            attrs: #"{"status":500,"content_type":"text/html"}"#
        )
        emit(
            start + 200,
            "retry.attempt",
            "/api/manager/assistance",
            attrs: #"{"attempt":1,"max_attempts":3,"delay_ms":200}"#
        )
        emit(start + 700, "retry.succeeded", "/api/manager/assistance", attrs: #"{"attempts":2}"#)
    }

    private mutating func breakerEpisode(at start: Int64) {
        emit(
            start,
            "breaker.opened",
            "openai",
            message: "5 consecutive failures",
            attrs: #"{"failures":5,"threshold":5,"reset_ms":30000}"#
        )
        emit(start + 2_000, "fallback.served", "openai", attrs: #"{"cache_age_ms":42000}"#)
        emit(start + 30_000, "breaker.half_opened", "openai")
        emit(start + 30_400, "breaker.closed", "openai")
    }

    private mutating func healthBlip(at start: Int64) {
        emit(
            start,
            "health.degraded",
            "search",
            message: "search responding slowly",
            attrs: #"{"check":"search","response_ms":2300}"#
        )
        emit(
            start + Int64(random.next(in: 20_000...240_000)),
            "health.recovered",
            "search",
            attrs: #"{"check":"search"}"#
        )
    }

    private mutating func autoBatch(at start: Int64, items: Int) {
        let batches = (items + 99) / 100
        emit(
            start,
            "timeout.prevented",
            "spam-capture",
            message: "Prevented timeout by batching (\(items) items)",
            attrs: #"{"items":\#(items),"batch_size":100,"estimated_ms":\#(items * 10),"limit_ms":10000}"#
        )
        for batch in 1...batches {
            emit(
                start + Int64(batch) * 700,
                "batch.completed",
                "spam-capture",
                attrs: #"{"batch":\#(batch),"batches":\#(batches),"items":100}"#
            )
        }
    }

    private mutating func blockedTransition(at start: Int64) {
        emit(
            start,
            "transition.blocked",
            "messages",
            message: "PROMOTED -> SPAM_REVIEW is not allowed",
            attrs:
                #"{"entity":"message","id":"msg-\#(random.next(in: 10_000...99_999))","from":"PROMOTED","to":"SPAM_REVIEW","operation":"capture-spam"}"#
        )
    }

    private mutating func exhaustedRetries(at start: Int64, recoverAfter: Int64) {
        serial += 1
        let key = #""incident":"openai-outage-\#(serial)""#
        for attempt in 1...3 {
            emit(
                start + Int64(attempt) * 1_000,
                "retry.attempt",
                "openai",
                extra: key,
                attrs: #"{"attempt":\#(attempt),"max_attempts":3,"error":"ECONNRESET"}"#
            )
        }
        emit(
            start + 7_000,
            "retry.exhausted",
            "openai",
            message: "Auto-retry failed after 3 attempts - manual intervention required",
            extra: key,
            attrs: #"{"attempts":3,"error":"ECONNRESET"}"#
        )
        emit(
            start + recoverAfter,
            "recovery.succeeded",
            "openai",
            message: "Provider back; resumed by on-call",
            extra: key
        )
    }

    // MARK: The scenario's day

    private mutating func scenarioDay(_ midnight: Int64) {
        func at(_ hour: Int, _ minute: Int, _ second: Int, _ millis: Int = 0) -> Int64 {
            midnight + Int64(((hour * 60 + minute) * 60 + second) * 1_000 + millis)
        }
        // 09:40:20 The dashboard's 160 queries exhaust the connection pool; the system degrades and recovers.
        emit(
            at(9, 40, 20, 200),
            "pool.warning",
            "db-pool",
            message: "Connection pool at 85% (85/100)",
            attrs: #"{"used":85,"max":100}"#
        )
        emit(
            at(9, 40, 20, 400),
            "degradation.activated",
            "db-pool",
            message: "Non-critical dashboard widgets deferred",
            attrs: #"{"feature":"dashboard-widgets"}"#
        )
        emit(
            at(9, 40, 20, 700),
            "pool.critical",
            "db-pool",
            message: "Connection pool at 92% (92/100)",
            attrs: #"{"used":92,"max":100}"#
        )
        emit(
            at(9, 40, 21, 0),
            "pool.recovered",
            "db-pool",
            message: "Connection pool recovered to 88%",
            attrs: #"{"used":88,"max":100}"#
        )
        // The assistance API answers HTML while the pool is exhausted: retry, breaker, cached data, recovery.
        let api = "/api/manager/assistance"
        emit(
            at(9, 40, 20, 300),
            "response.invalid",
            api,
            message: "Unexpected token '<', \"<HTML><HE\"... is not valid JSON",
            attrs: #"{"status":500,"content_type":"text/html"}"#
        )
        emit(at(9, 40, 20, 500), "retry.attempt", api, attrs: #"{"attempt":1,"max_attempts":3,"delay_ms":200}"#)
        emit(at(9, 40, 20, 900), "retry.attempt", api, attrs: #"{"attempt":2,"max_attempts":3,"delay_ms":400}"#)
        emit(at(9, 40, 21, 0), "breaker.opened", api, attrs: #"{"failures":5,"threshold":5,"reset_ms":5000}"#)
        emit(
            at(9, 40, 21, 100),
            "fallback.served",
            api,
            message: "Served cached assistance requests",
            attrs: #"{"cache_age_ms":30000}"#
        )
        emit(at(9, 40, 26, 0), "breaker.half_opened", api)
        emit(at(9, 40, 26, 300), "breaker.closed", api)
        // 14:05:07 Capture spam: 1,418 messages would exceed the 10 s function timeout; batched instead.
        emit(
            at(14, 5, 7, 300),
            "timeout.prevented",
            "spam-capture",
            message: "Prevented timeout by batching (100/1418)",
            attrs: #"{"items":1418,"batch_size":100,"estimated_ms":14180,"limit_ms":10000}"#
        )
        for batch in 1...15 {
            emit(
                at(14, 5, 7, 500) + Int64(batch - 1) * 600,
                "batch.completed",
                "spam-capture",
                attrs: #"{"batch":\#(batch),"batches":15,"items":\#(batch == 15 ? 18 : 100)}"#
            )
        }
        // Records that must never reach SPAM_REVIEW from PROMOTED: blocked.
        for (index, id) in ["msg-48213", "msg-48217", "msg-48230"].enumerated() {
            emit(
                at(14, 5, 8 + index),
                "transition.blocked",
                "messages",
                message: "PROMOTED -> SPAM_REVIEW is not allowed",
                attrs:
                    #"{"entity":"message","id":"\#(id)","from":"PROMOTED","to":"SPAM_REVIEW","operation":"capture-spam"}"#
            )
        }
        // 11:02 The mail relay refuses a notification; the sender logs it and nothing else, so the incident goes
        // quiet: after the quiet period (4 h) it shows as expired, outcome unknown.
        emit(
            at(11, 2, 31),
            "error.detected",
            "smtp-relay",
            message: "421 Service not available: notification not sent",
            attrs: #"{"status":421,"error":"connection refused by relay","transient":true}"#
        )
        // 15:00 The transcription provider stays down: retries exhausted, someone has to act.
        let key = #""incident":"openai-outage-1125""#
        for attempt in 1...3 {
            emit(
                at(15, 0, attempt * 2),
                "retry.attempt",
                "openai",
                extra: key,
                attrs: #"{"attempt":\#(attempt),"max_attempts":3,"error":"503 from provider"}"#
            )
        }
        emit(
            at(15, 0, 9),
            "retry.exhausted",
            "openai",
            message: "Auto-retry failed after 3 attempts - manual intervention required",
            extra: key,
            attrs: #"{"attempts":3,"error":"503 from provider"}"#
        )
        // 23:58 The search health check degrades and is still degraded at midnight.
        emit(
            at(23, 58, 0),
            "health.degraded",
            "search",
            message: "search responding in 2.3 s",
            attrs: #"{"check":"search","response_ms":2300}"#
        )
    }

    // MARK: Helpers

    private mutating func businessHour(_ midnight: Int64) -> Int64 {
        midnight + Int64(random.next(in: 8 * 3_600_000...18 * 3_600_000))
    }

    private mutating func anyHour(_ midnight: Int64) -> Int64 {
        midnight + Int64(random.next(in: 0...(23 * 3_600_000)))
    }

    private mutating func emit(
        _ ts: Int64,
        _ kind: String,
        _ component: String,
        message: String? = nil,
        extra: String? = nil,
        attrs: String? = nil
    ) {
        serial += 1
        var json = JSONText()
        json.string("service", Self.service)
        json.string("kind", kind)
        json.string("component", component)
        json.string("ts", Timestamp.formatRFC3339(ts))
        json.string("message", ifPresent: message)
        json.string("id", "demo-\(serial)")
        if let attrs { json.raw("attrs", attrs) }
        var line = json.finish()
        if let extra { line = String(line.dropLast()) + "," + extra + "}" }
        lines.append((ts, line))
    }
}

extension SplitMix64 {
    /// A number in the range (the demo's days are the same on every machine: a seeded generator, a plain
    /// modulo).
    mutating func next(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.upperBound - range.lowerBound + 1))
    }
}
