import Logging
import SelfHealEvents

/// A sink that writes each event as a `[SELF-HEAL] kind service/component: message` log line through swift-log,
/// for services without a daemon. The event's fields and attributes go into the metadata.
public struct LogEventSink: EventSink {
    /// The logger written to.
    public let logger: Logger

    /// Creates a sink.
    /// - Parameter logger: the logger to write to. Default a logger labelled `selfheal`.
    public init(logger: Logger = Logger(label: "selfheal")) {
        self.logger = logger
    }

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
