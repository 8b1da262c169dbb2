import Logging
import SelfHealEvents

/// A sink that writes each event as a log line through swift-log, for services without a daemon (or beside one).
///
/// In the default ``Format/wire`` the line is `[SELF-HEAL] {json}`: the event exactly as on the wire, so
/// `selfheal ingest --log-lines` can take it back from any log (a service's stdout, `journalctl -o cat`).
/// ``Format/readable`` writes `[SELF-HEAL] kind service/component: message` with the fields as metadata.
public struct LogEventSink: EventSink {
    /// How events are written.
    public enum Format: Sendable {
        /// `[SELF-HEAL] {json}`, the wire line: what `selfheal ingest --log-lines` reads.
        case wire
        /// `[SELF-HEAL] kind service/component: message`, fields and attrs in the metadata.
        case readable
    }

    /// The marker before each event, with its trailing space.
    public static let marker = "[SELF-HEAL] "

    /// The logger written to.
    public let logger: Logger
    /// How events are written.
    public let format: Format

    /// Creates a sink.
    /// - Parameters:
    ///   - logger: the logger to write to. Default a logger labelled `selfheal`.
    ///   - format: how events are written. Default ``Format/wire``.
    public init(logger: Logger = Logger(label: "selfheal"), format: Format = .wire) {
        self.logger = logger
        self.format = format
    }

    /// The log line of an event in the wire format: `[SELF-HEAL] {json}`.
    public static func line(for event: Event) -> String { marker + event.wireLine }

    /// Writes the event as one log line at the level matching its own (`critical` as error, `failure` as critical).
    public func emit(_ event: consuming Event) {
        let event = event
        let level: Logger.Level =
            switch event.effectiveLevel {
            case .info: .info
            case .warning: .warning
            case .critical: .error
            case .failure: .critical
            }
        guard logger.logLevel <= level else { return }
        switch format {
        case .wire:
            logger.log(level: level, "\(Self.line(for: event))")
        case .readable:
            var metadata: Logger.Metadata = [
                "kind": "\(event.kind.name)",
                "service": "\(event.service)",
                "component": "\(event.component)",
                "level": "\(event.effectiveLevel.name)",
            ]
            if let incident = event.incident { metadata["incident"] = "\(incident)" }
            if let id = event.id { metadata["id"] = "\(id)" }
            if let attributes = event.attributesJSON { metadata["attrs"] = "\(attributes)" }
            let message = event.message ?? event.kind.name
            logger.log(
                level: level,
                "[SELF-HEAL] \(event.kind.name) \(event.service)/\(event.component): \(message)",
                metadata: metadata
            )
        }
    }
}
