import Foundation
import Logging
import SelfHealEvents

/// Prints log messages as `[HH:MM:SS.mmm] message`, like the console logs of the scenario analysis.
struct ConsoleLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let millis = Int64(Date().timeIntervalSince1970 * 1_000)
        let time = Timestamp.formatRFC3339(millis).dropFirst(11).prefix(12)
        print("[\(time)] \(event.message)")
    }
}
