/// Conversions between epoch milliseconds and RFC 3339 text, without Foundation's date formatters
/// (they are slow and locale-sensitive; this is on the ingest path).
public enum Timestamp {
    /// The earliest accepted time, 0001-01-01T00:00:00Z.
    public static let minimum: Int64 = -62_135_596_800_000
    /// The latest accepted time, 9999-12-31T23:59:59.999Z.
    public static let maximum: Int64 = 253_402_300_799_999

    /// Parses RFC 3339 (`2025-11-25T09:40:20.200Z`, any offset, any number of fraction digits, `T`, `t` or a
    /// space between date and time) into epoch milliseconds, truncating below the millisecond.
    public static func parseRFC3339(_ text: String) -> Int64? {
        var text = text
        return text.withUTF8 { parseRFC3339(UnsafeRawBufferPointer($0)) }
    }

    /// Parses RFC 3339 from UTF-8 bytes; see ``parseRFC3339(_:)-(String)``.
    public static func parseRFC3339(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var index = 0
        func digits(_ count: Int) -> Int? {
            guard index + count <= bytes.count else { return nil }
            var value = 0
            for _ in 0..<count {
                let byte = bytes[index]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
                index += 1
            }
            return value
        }
        func expect(_ characters: UInt8...) -> Bool {
            guard index < bytes.count, characters.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2),
            expect(0x54, 0x74, 0x20), let hour = digits(2), expect(0x3A), let minute = digits(2), expect(0x3A),
            let second = digits(2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month), hour <= 23,
            minute <= 59, second <= 60
        else { return nil }
        var millis = 0
        if index < bytes.count, bytes[index] == 0x2E {
            index += 1
            var fractionDigits = 0
            while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
                if fractionDigits < 3 { millis = millis * 10 + Int(bytes[index] - 0x30) }
                fractionDigits += 1
                index += 1
            }
            guard fractionDigits > 0 else { return nil }
            for _ in fractionDigits..<max(3, fractionDigits) { millis *= 10 }
        }
        var offsetMinutes = 0
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case 0x5A, 0x7A:  // Z z
            index += 1
        case 0x2B, 0x2D:  // + -
            let sign = bytes[index] == 0x2B ? 1 : -1
            index += 1
            guard let offsetHours = digits(2), expect(0x3A), let offsetMins = digits(2), offsetHours <= 23,
                offsetMins <= 59
            else { return nil }
            offsetMinutes = sign * (offsetHours * 60 + offsetMins)
        default:
            return nil
        }
        guard index == bytes.count else { return nil }
        // A leap second (:60) is kept as the last millisecond of its minute's :59.
        let leap = second == 60
        let days = daysFromCivil(year: year, month: month, day: day)
        var seconds = Int64(days) * 86_400 + Int64(hour * 3_600 + minute * 60 + (leap ? 59 : second))
        seconds -= Int64(offsetMinutes * 60)
        let result = seconds * 1_000 + Int64(leap ? 999 : millis)
        guard result >= minimum, result <= maximum else { return nil }
        return result
    }

    /// Formats epoch milliseconds as RFC 3339 UTC with milliseconds: `2025-11-25T09:40:20.200Z`.
    public static func formatRFC3339(_ millis: Int64) -> String {
        let parts = components(millis, offsetSeconds: 0)
        return formatted(parts) + "Z"
    }

    /// Formats epoch milliseconds in a fixed UTC offset: `2025-11-25T10:40:20.200+01:00`.
    public static func formatRFC3339(_ millis: Int64, offsetSeconds: Int) -> String {
        if offsetSeconds == 0 { return formatRFC3339(millis) }
        let parts = components(millis, offsetSeconds: offsetSeconds)
        let sign = offsetSeconds < 0 ? "-" : "+"
        let magnitude = abs(offsetSeconds) / 60
        return formatted(parts) + sign + pad(magnitude / 60, 2) + ":" + pad(magnitude % 60, 2)
    }

    /// The civil date and time of an instant in a fixed offset.
    public struct Components: Sendable, Equatable {
        public var year: Int
        public var month: Int
        public var day: Int
        public var hour: Int
        public var minute: Int
        public var second: Int
        public var millisecond: Int
    }

    /// Splits epoch milliseconds into civil components at a UTC offset.
    public static func components(_ millis: Int64, offsetSeconds: Int) -> Components {
        let local = millis + Int64(offsetSeconds) * 1_000
        let (days, dayMillis) = floorDivide(local, 86_400_000)
        let (year, month, day) = civilFromDays(Int(days))
        let ms = Int(dayMillis)
        return Components(
            year: year,
            month: month,
            day: day,
            hour: ms / 3_600_000,
            minute: ms / 60_000 % 60,
            second: ms / 1_000 % 60,
            millisecond: ms % 1_000
        )
    }

    /// Days since 1970-01-01 of a civil date (proleptic Gregorian; Howard Hinnant's algorithm).
    public static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    public static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Number of days in a month of a year.
    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (Int64, Int64) {
        let quotient = value >= 0 ? value / divisor : (value - divisor + 1) / divisor
        return (quotient, value - quotient * divisor)
    }

    private static func formatted(_ parts: Components) -> String {
        pad(parts.year, 4) + "-" + pad(parts.month, 2) + "-" + pad(parts.day, 2) + "T" + pad(parts.hour, 2) + ":"
            + pad(parts.minute, 2) + ":" + pad(parts.second, 2) + "." + pad(parts.millisecond, 3)
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}
