import Foundation
import SelfHealEvents

/// A plain-text table with aligned columns, for the default `--format table`.
struct Table {
    let headers: [String]
    private(set) var rows: [[String]] = []

    init(_ headers: String...) { self.headers = headers }

    mutating func add(_ cells: [String]) { rows.append(cells) }

    /// The table's lines; the last column is not padded.
    func render() -> [String] {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        func line(_ cells: [String]) -> String {
            var text = ""
            for (index, cell) in cells.enumerated() {
                if index == cells.count - 1 {
                    text += cell
                } else {
                    text += cell + String(repeating: " ", count: widths[index] - cell.count + 2)
                }
            }
            return text
        }
        return [line(headers)] + rows.map(line)
    }
}

/// Formats instants for people: local time in a zone, `2025-11-25 09:40:20.200`.
struct LocalTime {
    let zone: TimeZone

    func format(_ millis: Int64) -> String {
        let offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(millis) / 1_000))
        let parts = Timestamp.components(millis, offsetSeconds: offset)
        func pad(_ value: Int, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.year, 4))-\(pad(parts.month, 2))-\(pad(parts.day, 2)) "
            + "\(pad(parts.hour, 2)):\(pad(parts.minute, 2)):\(pad(parts.second, 2)).\(pad(parts.millisecond, 3))"
    }
}

extension String {
    /// The text cut to a number of characters with an ellipsis, on one line.
    func clipped(_ limit: Int) -> String {
        let oneLine = replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
        return oneLine.count <= limit ? oneLine : String(oneLine.prefix(limit - 1)) + "…"
    }
}
