import SelfHealEvents

/// The counters of one hour and service (see `counters` in `schema/005_quiet_incidents.sql`).
package struct CounterKey: Hashable, Sendable {
    /// The hour, epoch hours.
    package var hour: Int64
    /// The service.
    package var service: String

    /// A key.
    package init(hour: Int64, service: String) {
        self.hour = hour
        self.service = service
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(SplitMix64.mix(UInt64(bitPattern: hour) &* 0x9E37_79B9_7F4A_7C15 ^ keyHash(service)))
    }
}

/// Values of a counters row, or a change to one: events by their ts, and the prevent-role events by kind.
package struct CounterValues: Equatable, Sendable {
    package var events: Int64 = 0
    package var timeoutPrevented: Int64 = 0
    package var transitionBlocked: Int64 = 0
    package var ratelimitThrottled: Int64 = 0

    /// Values.
    package init(
        events: Int64 = 0,
        timeoutPrevented: Int64 = 0,
        transitionBlocked: Int64 = 0,
        ratelimitThrottled: Int64 = 0
    ) {
        self.events = events
        self.timeoutPrevented = timeoutPrevented
        self.transitionBlocked = transitionBlocked
        self.ratelimitThrottled = ratelimitThrottled
    }

    package var isZero: Bool { self == CounterValues() }

    /// The prevent kinds, in the order of their columns.
    static let preventKinds = ["timeout.prevented", "transition.blocked", "ratelimit.throttled"]

    /// Counts one event of a kind.
    mutating func count(_ kind: EventKind) {
        events += 1
        guard kind.role == .prevent else { return }
        // The vocabulary has these three prevent kinds; a new one needs a column (a new migration). Their lengths
        // differ, so one comparison of names decides instead of up to three.
        let name = kind.name
        switch name.utf8.count {
        case 17 where name == "timeout.prevented": timeoutPrevented += 1
        case 18 where name == "transition.blocked": transitionBlocked += 1
        case 19 where name == "ratelimit.throttled": ratelimitThrottled += 1
        default: break
        }
    }
}

/// The counters rows one batch touches, found by hour and service for every event the daemon commits; the row
/// used last is tried before the table, since events of one service often come together.
package struct CounterRows: Sendable {
    /// The rows, in order of first use.
    package private(set) var rows: [(key: CounterKey, values: CounterValues)] = []
    private var index: [CounterKey: Int] = [:]
    private var lastRow = -1

    /// Counts an event of this kind in the row of its hour and service.
    mutating func count(_ kind: EventKind, hour: Int64, service: String) {
        rows[row(hour: hour, service: service)].values.count(kind)
    }

    /// The index in ``rows`` of the row of this hour and service, added (empty) if new.
    private mutating func row(hour: Int64, service: String) -> Int {
        if lastRow >= 0, rows[lastRow].key.hour == hour, rows[lastRow].key.service == service { return lastRow }
        let key = CounterKey(hour: hour, service: service)
        if let found = index[key] {
            lastRow = found
            return found
        }
        lastRow = rows.count
        rows.append((key, CounterValues()))
        index[key] = lastRow
        return lastRow
    }

    mutating func removeAll() {
        rows.removeAll(keepingCapacity: true)
        index.removeAll(keepingCapacity: true)
        lastRow = -1
    }
}
