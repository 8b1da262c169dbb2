import SelfHealEvents

/// The wire lines of a fleet: 8 services with 8 components each, every role of the vocabulary mixed. 60% of
/// the events carry an incident key drawn from 10,000 per kind family (the kind's first word, so that
/// `pool.recovered` can end what `pool.warning` opened); the others are keyed by their component. Detect and
/// mitigate events are 55% of the events, recover 10%, fail 5%, prevent 15%, info 15%: about a third open an
/// incident, and most incidents never resolve. Times run evenly over `hours` from 2025-11-25T00:00Z, each up to
/// 2 s late; ids grow with time.
struct FleetWorkload {
    static let services = [
        "portal-web", "checkout", "billing", "search", "catalog", "accounts", "notifier", "gateway",
    ]
    static let components = [
        "db-pool", "/api/orders", "/api/manager/assistance", "openai", "stripe", "search-index", "health",
        "spam-capture",
    ]
    /// Kinds by role, with each role's share of the events in percent.
    static let roles: [(share: Int, kinds: [String])] = [
        (
            30,
            [
                "error.detected", "pool.warning", "pool.critical", "health.degraded", "health.unhealthy",
                "response.invalid", "timeout.fired",
            ]
        ),
        (
            25,
            [
                "retry.attempt", "breaker.opened", "breaker.half_opened", "breaker.rejected", "bulkhead.rejected",
                "fallback.served", "degradation.activated",
            ]
        ),
        (
            10,
            [
                "retry.succeeded", "breaker.closed", "pool.recovered", "health.recovered", "degradation.lifted",
                "recovery.succeeded",
            ]
        ),
        (5, ["retry.exhausted", "intervention.required"]),
        (15, ["timeout.prevented", "transition.blocked", "ratelimit.throttled"]),
        (15, ["batch.completed", "x.cache.miss"]),
    ]
    static let messages = [
        "503 from upstream: connection reset by peer", "Connection pool at 85% (17/20), queueing new requests",
        "Response missing field 'choices'", "Deadline of 2000 ms exceeded",
    ]

    /// The lines, with the index of the service of each.
    private(set) var lines: [(service: Int, line: [UInt8])] = []
    let exampleKey: String

    init(events: Int, hours: Double, keyShape: String) {
        var random = SplitMix64(seed: 2_025)
        let start: Int64 = 1_764_028_800_000
        let step = hours * 3_600_000 / Double(max(1, events))
        func key(_ family: Substring, _ number: Int, _ service: String) -> String {
            let digits = KeysBenchmark.digits(number, width: 6)
            return keyShape == "end" ? "\(service)-\(family)-\(digits)" : "\(family)-\(digits)-\(service)"
        }
        exampleKey = key("pool", 4_711, "checkout")
        lines.reserveCapacity(events)
        for index in 0..<events {
            let service = Int.random(in: 0..<Self.services.count, using: &random)
            let component = Self.components[Int.random(in: 0..<Self.components.count, using: &random)]
            var roll = Int.random(in: 0..<100, using: &random)
            var kinds = Self.roles[0].kinds
            var detectOrFail = false
            for (position, role) in Self.roles.enumerated() {
                if roll < role.share {
                    kinds = role.kinds
                    detectOrFail = position == 0 || position == 3
                    break
                }
                roll -= role.share
            }
            let kind = kinds[Int.random(in: 0..<kinds.count, using: &random)]
            let ts = start + Int64((Double(index) * step).rounded()) - Int64.random(in: 0..<2_000, using: &random)
            var text =
                #"{"service":"\#(Self.services[service])","kind":"\#(kind)","component":"\#(component)","#
                + #""ts":"\#(Timestamp.formatRFC3339(ts))","id":"evt-\#(index)""#
            if Int.random(in: 0..<100, using: &random) < 60 {
                let family = kind.split(separator: ".")[kind.hasPrefix("x.") ? 1 : 0]
                let number = Int.random(in: 0..<10_000, using: &random)
                text += #","incident":"\#(key(family, number, Self.services[service]))""#
            }
            if detectOrFail {
                text += #","message":"\#(Self.messages[Int.random(in: 0..<Self.messages.count, using: &random)])""#
            }
            if Int.random(in: 0..<2, using: &random) == 0 {
                let latency = Int.random(in: 1..<5_000, using: &random)
                text += #","attrs":{"latency_ms":\#(latency),"endpoint":"/api/orders","attempt":1}"#
            }
            lines.append((service, Array((text + "}\n").utf8)))
        }
    }

    /// The lines' average length in bytes.
    var averageBytes: Int { lines.reduce(0) { $0 + $1.line.count } / max(1, lines.count) }

    /// The lines of each client: each service's lines go over one connection, as a service sends them.
    func shares(clients: Int) -> [[[UInt8]]] {
        var shares = [[[UInt8]]](repeating: [], count: clients)
        for (service, line) in lines { shares[service % clients].append(line) }
        return shares
    }
}
