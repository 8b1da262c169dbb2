import Foundation
import SelfHealEvents

/// A report's period: one calendar day or one ISO week in a time zone, `[since, until)`.
public struct ReportPeriod: Sendable, Equatable {
    /// Daily or weekly.
    public enum Kind: String, Sendable {
        case daily, weekly
    }

    /// Daily or weekly.
    public var kind: Kind
    /// Start, inclusive, epoch milliseconds.
    public var since: Int64
    /// End, exclusive, epoch milliseconds.
    public var until: Int64
    /// The zone the period's days are counted in.
    public var zone: TimeZone
    /// `2025-11-25` or `2025-W48`: the file names' part.
    public var label: String
    /// `November 25, 2025` or `Week 48, 2025`: the subject's part.
    public var title: String
    /// The start of each day of the period, and `until` last (2 entries for a day, 8 for a week).
    public var dayStarts: [Int64]

    /// The number of days in the period.
    public var days: Int { dayStarts.count - 1 }

    /// The calendar day `date` (`YYYY-MM-DD`) in `zone`; nil when the date does not exist.
    public static func day(_ date: String, zone: TimeZone) -> ReportPeriod? {
        let parts = date.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1...12).contains(month), (1...Timestamp.daysInMonth(year: year, month: month)).contains(day)
        else { return nil }
        let calendar = Calendar.gregorian(zone)
        guard let start = calendar.date(from: DateComponents(year: year, month: month, day: day)),
            let end = calendar.date(byAdding: .day, value: 1, to: start)
        else { return nil }
        let title = "\(ReportFormat.monthNames[month - 1]) \(day), \(year)"
        return ReportPeriod(
            kind: .daily,
            since: start.millis,
            until: end.millis,
            zone: zone,
            label: date,
            title: title,
            dayStarts: [start.millis, end.millis]
        )
    }

    /// The ISO week `week` (`YYYY-Www`, Monday to Monday) in `zone`; nil when the week does not exist.
    public static func week(_ week: String, zone: TimeZone) -> ReportPeriod? {
        let parts = week.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 3, parts[1].first == "W",
            let year = Int(parts[0]), let number = Int(parts[1].dropFirst()), number >= 1
        else { return nil }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = zone
        var components = DateComponents(weekday: 2, weekOfYear: number, yearForWeekOfYear: year)
        components.hour = 0
        guard let start = calendar.date(from: components),
            calendar.component(.weekOfYear, from: start) == number,
            calendar.component(.yearForWeekOfYear, from: start) == year
        else { return nil }
        let starts = (0...7).compactMap { calendar.date(byAdding: .day, value: $0, to: start)?.millis }
        guard starts.count == 8 else { return nil }
        let label = String(format: "%04d-W%02d", year, number)
        return ReportPeriod(
            kind: .weekly,
            since: starts[0],
            until: starts[7],
            zone: zone,
            label: label,
            title: "Week \(number), \(year)",
            dayStarts: starts
        )
    }

    /// The day containing `instant` in `zone`.
    public static func day(containing instant: Int64, zone: TimeZone) -> ReportPeriod {
        let calendar = Calendar.gregorian(zone)
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(millis: instant))
        let label = String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
        return day(label, zone: zone)!
    }

    /// The ISO week containing `instant` in `zone`.
    public static func week(containing instant: Int64, zone: TimeZone) -> ReportPeriod {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = zone
        let date = Date(millis: instant)
        let year = calendar.component(.yearForWeekOfYear, from: date)
        let number = calendar.component(.weekOfYear, from: date)
        return week(String(format: "%04d-W%02d", year, number), zone: zone)!
    }

    /// The week before this one (weekly periods), or the day before (daily periods).
    public var previous: ReportPeriod {
        switch kind {
        case .daily: return Self.day(containing: since - 1, zone: zone)
        case .weekly: return Self.week(containing: since - 1, zone: zone)
        }
    }
}

extension ReportPeriod {
    /// The starts of the chart's buckets: every hour of a day, every day of a week.
    public var bucketStarts: [Int64] {
        switch kind {
        case .weekly:
            return Array(dayStarts.dropLast())
        case .daily:
            return Array(stride(from: since, to: until, by: 3_600_000))
        }
    }

    /// Which day of the period (0-based) an instant falls on.
    func dayIndex(of time: Int64) -> Int {
        var index = 0
        while index + 1 < dayStarts.count - 1, dayStarts[index + 1] <= time { index += 1 }
        return index
    }
}

extension Calendar {
    static func gregorian(_ zone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar
    }
}

extension Date {
    var millis: Int64 { Int64((timeIntervalSince1970 * 1_000).rounded()) }
    init(millis: Int64) { self.init(timeIntervalSince1970: Double(millis) / 1_000) }
}
