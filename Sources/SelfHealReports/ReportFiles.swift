import Foundation

/// Writes a rendered report's files into a directory.
public enum ReportFiles {
    /// Writes `STEM.eml`, `STEM.html`, `STEM.txt`, `STEM.json` (and `STEM.png`, the chart the HTML file shows),
    /// replacing older ones; returns the `.eml` path.
    @discardableResult
    public static func write(_ report: RenderedReport, to directory: String) throws(ReportError) -> String {
        try makeDirectory(directory)
        func path(_ ext: String) -> String {
            (directory as NSString).appendingPathComponent("\(report.fileStem).\(ext)")
        }
        if let chart = report.chart { try write(chart, to: path("png")) }
        try write(Array(report.text.utf8), to: path("txt"))
        try write(Array(report.html.utf8), to: path("html"))
        try write(Array((report.json + "\n").utf8), to: path("json"))
        try write(report.eml, to: path("eml"))
        return path("eml")
    }

    /// Creates a directory and its parents when missing.
    static func makeDirectory(_ directory: String) throws(ReportError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ReportError(.io, "cannot create the directory \(directory): \(error.localizedDescription)")
        }
    }

    /// Writes a file atomically.
    static func write(_ bytes: [UInt8], to path: String) throws(ReportError) {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ReportError(.io, "cannot write \(path): \(error.localizedDescription)")
        }
    }
}
