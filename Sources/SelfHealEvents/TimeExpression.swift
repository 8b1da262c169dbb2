import Foundation

/// Parses the times the command line and the HTTP API take (SPEC section 7): RFC 3339, a date `YYYY-MM-DD`
/// (midnight in the time zone), `now`, or a relative `-30s`, `-30m`, `-2h`, `-7d`, `-2w`.
public struct TimeExpression: Sendable {
    /// The zone that dates are read in.
    public var zone: TimeZone
    /// The instant `now` means, epoch milliseconds.
    public var now: Int64

    /// Creates a parser for a zone and a current time.
    public init(zone: TimeZone, now: Int64) {
        self.zone = zone
        self.now = now
    }

    /// The epoch milliseconds a text means, or an error saying which forms are accepted.
    public func millis(_ text: String) throws(TimeExpressionError) -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed == "now" { return now }
        if let relative = Self.relativeMillis(trimmed) { return now - relative }
        if let date = Self.dateParts(trimmed) {
            guard let millis = midnight(year: date.year, month: date.month, day: date.day) else {
                throw TimeExpressionError("invalid date \"\(text)\"")
            }
            return millis
        }
        if let millis = Timestamp.parseRFC3339(trimmed) { return millis }
        throw TimeExpressionError(
            "invalid time \"\(text)\": use RFC 3339 (2025-11-25T09:40:20Z), a date (2025-11-25), now, or -30m/-2h/-7d"
        )
    }

    /// Midnight of a civil date in the zone, epoch milliseconds.
    public func midnight(year: Int, month: Int, day: Int) -> Int64? {
        guard (1...12).contains(month), day >= 1, day <= Timestamp.daysInMonth(year: year, month: month) else {
            return nil
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day)) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1_000).rounded())
    }

    static func relativeMillis(_ text: String) -> Int64? {
        guard text.hasPrefix("-"), text.count >= 3, let unit = text.last else { return nil }
        guard let amount = Int64(text.dropFirst().dropLast()), amount >= 0 else { return nil }
        let scale: Int64
        switch unit {
        case "s": scale = 1_000
        case "m": scale = 60_000
        case "h": scale = 3_600_000
        case "d": scale = 86_400_000
        case "w": scale = 604_800_000
        default: return nil
        }
        let (result, overflow) = amount.multipliedReportingOverflow(by: scale)
        return overflow ? nil : result
    }

    static func dateParts(_ text: String) -> (year: Int, month: Int, day: Int)? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2])
        else { return nil }
        return (year, month, day)
    }
}

/// A time text that is none of the accepted forms; the message says which forms are.
public struct TimeExpressionError: Error, Sendable, CustomStringConvertible {
    /// The message, naming the text.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
