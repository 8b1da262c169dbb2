import Foundation
import SelfHealEvents
import SelfHealStore

/// How reports write numbers, durations, times and kinds for people.
public enum ReportFormat {
    static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December",
    ]
    static let shortMonths = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    static let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    /// `1,418`.
    public static func count(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (offset, character) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return value < 0 ? "-" + result : result
    }

    /// `98.5%`: one decimal, rounded half away from zero.
    public static func percent(_ rate: Double) -> String {
        let tenths = (rate * 1000).rounded()
        return "\(Int(tenths) / 10).\(Int(tenths) % 10)%"
    }

    /// A success rate with the counts behind it: `98.5% (67 of 68)`, or `n/a (nothing decided)`.
    public static func successRate(_ figures: ReportFigures) -> String {
        guard let rate = figures.successRate else { return "n/a (nothing decided)" }
        let (succeeded, total) = figures.decided
        return "\(percent(rate)) (\(count(succeeded)) of \(count(total)))"
    }

    /// `0.8 s`, `12 s`, `3 min 5 s`, `2 h 10 min`, `3 d 4 h`.
    public static func duration(_ ms: Int64) -> String {
        let ms = max(0, ms)
        if ms < 1_000 { return "\(ms) ms" }
        if ms < 10_000 {
            let tenths = (ms + 50) / 100
            return "\(tenths / 10).\(tenths % 10) s"
        }
        let seconds = (ms + 500) / 1_000
        if seconds < 60 { return "\(seconds) s" }
        if seconds < 3_600 {
            return seconds % 60 == 0 ? "\(seconds / 60) min" : "\(seconds / 60) min \(seconds % 60) s"
        }
        let minutes = seconds / 60
        if minutes < 1_440 { return minutes % 60 == 0 ? "\(minutes / 60) h" : "\(minutes / 60) h \(minutes % 60) min" }
        let hours = minutes / 60
        return hours % 24 == 0 ? "\(hours / 24) d" : "\(hours / 24) d \(hours % 24) h"
    }

    /// A duration or `n/a`.
    public static func duration(_ ms: Int64?) -> String { ms.map { duration($0) } ?? "n/a" }

    /// `1.3` per day.
    static func perDay(_ count: Int64, days: Int) -> String {
        let tenths = (Double(count) / Double(max(1, days)) * 10).rounded()
        let value = Int(tenths)
        return value % 10 == 0 ? "\(value / 10)" : "\(value / 10).\(value % 10)"
    }

    /// `09:40` in the zone.
    static func time(_ millis: Int64, zone: TimeZone) -> String {
        let parts = Timestamp.components(millis, offsetSeconds: zone.secondsFromGMT(for: Date(millis: millis)))
        return "\(pad2(parts.hour)):\(pad2(parts.minute))"
    }

    /// `Nov 24 09:40` in the zone.
    static func dayTime(_ millis: Int64, zone: TimeZone) -> String {
        let parts = Timestamp.components(millis, offsetSeconds: zone.secondsFromGMT(for: Date(millis: millis)))
        return "\(shortMonths[parts.month - 1]) \(parts.day) \(pad2(parts.hour)):\(pad2(parts.minute))"
    }

    /// `Mon 24` in the zone.
    static func weekday(_ millis: Int64, zone: TimeZone) -> String {
        let calendar = Calendar.gregorian(zone)
        let date = Date(millis: millis)
        let weekday = calendar.component(.weekday, from: date)
        return "\(weekdays[weekday - 1]) \(calendar.component(.day, from: date))"
    }

    /// `Mon, 25 Nov 2025 09:40:20 +0100`: an RFC 5322 date.
    public static func rfc5322(_ millis: Int64, zone: TimeZone) -> String {
        let offset = zone.secondsFromGMT(for: Date(millis: millis))
        let parts = Timestamp.components(millis, offsetSeconds: offset)
        let days = Timestamp.daysFromCivil(year: parts.year, month: parts.month, day: parts.day)
        let weekday = weekdays[((days % 7) + 11) % 7]  // 1970-01-01 was a Thursday.
        let sign = offset < 0 ? "-" : "+"
        let minutes = abs(offset) / 60
        return "\(weekday), \(parts.day) \(shortMonths[parts.month - 1]) \(parts.year) "
            + "\(pad2(parts.hour)):\(pad2(parts.minute)):\(pad2(parts.second)) \(sign)\(pad2(minutes / 60))\(pad2(minutes % 60))"
    }

    static func pad2(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

    /// Readable names of the kinds, plural: `pool.warning` → `Connection pool warnings`.
    public static func kindName(_ kind: String) -> String {
        switch kind {
        case "error.detected": "API errors"
        case "pool.warning": "Connection pool warnings"
        case "pool.critical": "Connection pool exhaustion"
        case "health.degraded": "Degraded health checks"
        case "health.unhealthy": "Failed health checks"
        case "response.invalid": "Invalid responses"
        case "timeout.fired": "Timeouts"
        case "retry.attempt": "Retried calls"
        case "breaker.opened": "Circuit breaker trips"
        case "breaker.half_opened": "Circuit breaker probes"
        case "breaker.rejected": "Calls rejected by an open breaker"
        case "bulkhead.rejected": "Calls shed at capacity"
        case "fallback.served": "Cached fallbacks served"
        case "degradation.activated": "Features degraded"
        case "retry.exhausted": "Retries exhausted"
        case "intervention.required": "Manual interventions requested"
        case "timeout.prevented": "Timeouts prevented by batching"
        case "transition.blocked": "Invalid transitions blocked"
        case "ratelimit.throttled": "Requests rate-limited"
        default: kind
        }
    }

    /// A kind as the subject of a sentence: `pool.warning` → `Connection pool warning`.
    public static func kindSingular(_ kind: String) -> String {
        switch kind {
        case "error.detected": "API error"
        case "pool.warning": "Connection pool warning"
        case "pool.critical": "Connection pool exhaustion"
        case "health.degraded": "Degraded health check"
        case "health.unhealthy": "Failed health check"
        case "response.invalid": "Invalid response"
        case "timeout.fired": "Timeout"
        case "retry.attempt": "Retried call"
        case "breaker.opened": "Circuit breaker trip"
        case "breaker.half_opened": "Circuit breaker probe"
        case "breaker.rejected": "Call rejected by an open breaker"
        case "bulkhead.rejected": "Call shed at capacity"
        case "fallback.served": "Cached fallback"
        case "degradation.activated": "Feature degraded"
        case "retry.exhausted": "Retries exhausted"
        case "intervention.required": "Manual intervention requested"
        default: kind
        }
    }

    /// A mitigate kind as an action taken: `breaker.opened` → `Circuit breaker opened`.
    public static func actionName(_ kind: String) -> String {
        switch kind {
        case "retry.attempt": "Retried with backoff"
        case "breaker.opened": "Circuit breaker opened"
        case "breaker.half_opened": "Circuit breaker probed the service"
        case "breaker.rejected": "Calls held off while the breaker was open"
        case "bulkhead.rejected": "Excess calls shed at capacity"
        case "fallback.served": "Cached data served"
        case "degradation.activated": "Non-critical features degraded"
        default: kind
        }
    }

    /// `2025-11-25 09:40:20` in the zone.
    static func dateTime(_ millis: Int64, zone: TimeZone) -> String {
        let parts = Timestamp.components(millis, offsetSeconds: zone.secondsFromGMT(for: Date(millis: millis)))
        return "\(parts.year)-\(pad2(parts.month))-\(pad2(parts.day)) "
            + "\(pad2(parts.hour)):\(pad2(parts.minute)):\(pad2(parts.second))"
    }

    /// How a kind's outcome reads: `all auto-recovered`, `all prevented`, `2 auto-recovered, 1 failed`,
    /// `1 still open`, `1 went quiet`.
    static func healedPhrase(_ count: KindCount) -> String {
        let prevent = EventKind(name: count.kind)?.role == .prevent
        let verb = prevent ? "prevented" : "auto-recovered"
        if count.selfHealed == count.count { return count.count == 1 ? verb : "all \(verb)" }
        let open = count.count - count.selfHealed - count.failed - count.expired
        var parts: [String] = []
        if count.selfHealed > 0 { parts.append("\(self.count(count.selfHealed)) \(verb)") }
        if count.failed > 0 { parts.append("\(self.count(count.failed)) failed") }
        if open > 0 { parts.append("\(self.count(open)) still open") }
        if count.expired > 0 { parts.append("\(self.count(count.expired)) went quiet") }
        return parts.joined(separator: ", ")
    }
}
