extension Timestamp {
    private static let durationUnits: [(suffix: String, milliseconds: Int64)] = [
        ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000),
    ]

    /// A duration as `4h`, `1h30m`, `2d`, `45s` (whole seconds; a remainder below a second is dropped).
    public static func formatDuration(_ milliseconds: Int64) -> String {
        guard milliseconds >= 1_000 else { return "\(milliseconds)ms" }
        var rest = milliseconds
        var text = ""
        for unit in durationUnits where rest >= unit.milliseconds {
            text += "\(rest / unit.milliseconds)\(unit.suffix)"
            rest %= unit.milliseconds
        }
        return text
    }

    /// Parses `4h`, `90m`, `1h30m`, `2d`, `45s`, `1w` into milliseconds; nil when it is not such a duration
    /// (or would overflow).
    public static func parseDuration(_ text: String) -> Int64? {
        let units: [Character: Int64] = ["w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000]
        var total: Int64 = 0
        var number: Int64?
        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                let (times, overflow) = (number ?? 0).multipliedReportingOverflow(by: 10)
                guard !overflow, times <= Int64.max - Int64(digit) else { return nil }
                number = times + Int64(digit)
            } else if let unit = units[character], let value = number {
                let (product, overflow) = value.multipliedReportingOverflow(by: unit)
                guard !overflow, total <= Int64.max - product else { return nil }
                total += product
                number = nil
            } else {
                return nil
            }
        }
        guard number == nil, !text.isEmpty else { return nil }
        return total
    }
}
