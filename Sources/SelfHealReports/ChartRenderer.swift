import Foundation

/// Draws a report's chart: actions per bucket as stacked bars (prevented, auto-recovered, failed, open,
/// expired), with a
/// y axis of round numbers and hour or day labels, at twice the displayed size for sharp phone screens.
public enum ChartRenderer {
    /// The width the HTML shows the chart at, in CSS pixels.
    public static let displayWidth = 560
    /// The image's pixel size.
    public static let width = displayWidth * 2
    public static let height = 440

    /// The chart of a report as a PNG, or nil when the period had no action.
    public static func png(_ report: Report) throws -> [UInt8]? {
        guard report.busiest != nil else { return nil }
        return try PNGEncoder.encode(raster(report))
    }

    /// The chart as a raster.
    public static func raster(_ report: Report) -> Raster {
        let buckets = report.input.buckets
        let zone = report.input.period.zone
        var raster = Raster(width: width, height: height, background: ReportPalette.paper)
        let scale = 6
        let left = 120
        let right = width - 16
        let top = 30
        let bottom = height - 64
        let top1 = niceCeiling(buckets.map(\.total).max() ?? 0)
        // Grid lines and y labels: 0, 1/4, 1/2, 3/4, top (only whole numbers).
        let steps = min(4, top1)
        for step in 0...steps {
            let value = top1 * step / steps
            let y = bottom - (bottom - top) * step / steps
            raster.fill(
                x: left,
                y: y,
                width: right - left,
                height: step == 0 ? 3 : 2,
                step == 0 ? ReportPalette.muted : ReportPalette.grid
            )
            let label = "\(value)"
            raster.text(
                label,
                x: left - 16 - Raster.textWidth(label, scale: scale),
                y: y - 15,
                scale: scale,
                ReportPalette.muted
            )
        }
        guard !buckets.isEmpty else { return raster }
        let slot = (right - left) / buckets.count
        let barWidth = max(2, slot * 7 / 10)
        for (index, bucket) in buckets.enumerated() {
            let x = left + index * slot + (slot - barWidth) / 2
            var y = bottom
            for (count, colour) in [
                (bucket.prevented, ReportPalette.prevented), (bucket.autoRecovered, ReportPalette.autoRecovered),
                (bucket.failed, ReportPalette.failed), (bucket.open, ReportPalette.open),
                (bucket.expired, ReportPalette.expired),
            ] where count > 0 {
                let height = max(2, Int((Double(count) / Double(top1) * Double(bottom - top)).rounded()))
                raster.fill(x: x, y: y - height, width: barWidth, height: height, colour)
                y -= height
            }
            let label: String?
            switch report.kind {
            case .daily:
                let hour = Timestamp24.hour(bucket.start, zone: zone)
                label = hour % 3 == 0 ? ReportFormat.pad2(hour) : nil
            case .weekly:
                label = "\(Calendar.gregorian(zone).component(.day, from: Date(millis: bucket.start)))"
            }
            if let label {
                let labelX = left + index * slot + slot / 2 - Raster.textWidth(label, scale: scale) / 2
                raster.text(label, x: labelX, y: bottom + 18, scale: scale, ReportPalette.muted)
            }
        }
        return raster
    }

    /// The y axis's top: up to 4 the value itself (one grid line per action), above it four equal steps of a
    /// round size (1, 2, 3, 4, 5, 6, 8, then 10, 12, 15, 20, 25, 30, 40, 50, 60, 80 × 10^k), so that every grid
    /// line is a whole, round number.
    static func niceCeiling(_ value: Int) -> Int {
        guard value > 4 else { return max(1, value) }
        let step = (value + 3) / 4
        for small in [1, 2, 3, 4, 5, 6, 8, 10] where small >= step { return small * 4 }
        var magnitude = 1
        while true {
            for factor in [10, 12, 15, 20, 25, 30, 40, 50, 60, 80] where factor * magnitude >= step {
                return factor * magnitude * 4
            }
            magnitude *= 10
        }
    }
}

enum Timestamp24 {
    static func hour(_ millis: Int64, zone: TimeZone) -> Int {
        Calendar.gregorian(zone).component(.hour, from: Date(millis: millis))
    }
}
