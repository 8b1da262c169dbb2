import SelfHealEvents

/// The `attrs` object of an event, built key by key.
public struct EventAttributes: Sendable {
    private var json = JSONText()
    private var isEmpty = true

    /// Starts an empty object.
    public init() {}

    /// Adds a string attribute.
    public mutating func set(_ key: String, _ value: String) {
        json.string(key, value)
        isEmpty = false
    }

    /// Adds an integer attribute.
    public mutating func set(_ key: String, _ value: Int) {
        json.number(key, value)
        isEmpty = false
    }

    /// Adds an integer attribute.
    public mutating func set(_ key: String, _ value: Int64) {
        json.number(key, value)
        isEmpty = false
    }

    /// Adds a floating-point attribute.
    public mutating func set(_ key: String, _ value: Double) {
        json.number(key, value)
        isEmpty = false
    }

    /// Adds a boolean attribute.
    public mutating func set(_ key: String, _ value: Bool) {
        json.bool(key, value)
        isEmpty = false
    }

    /// The object as JSON text, or `nil` when no attribute was set.
    public consuming func finish() -> String? {
        isEmpty ? nil : json.finish()
    }
}

/// Emits the events of one primitive: a sink, the service and the component the events are about.
public struct EventReporter: Sendable {
    /// Where events go.
    public let sink: any EventSink
    /// The emitting service, e.g. `"portal"`.
    public let service: String
    /// The resource the events are about, e.g. `"/api/manager/assistance"` or `"db-pool"`.
    public let component: String

    /// Creates a reporter.
    /// - Parameters:
    ///   - sink: where events go.
    ///   - service: the emitting service (1-64 chars of `A-Z a-z 0-9 . _ - : /`).
    ///   - component: the resource the events are about.
    public init(sink: any EventSink, service: String, component: String = Event.defaultComponent) {
        self.sink = sink
        self.service = service
        self.component = component
    }

    /// A reporter for another component of the same service and sink.
    public func component(_ component: String) -> EventReporter {
        EventReporter(sink: sink, service: service, component: component)
    }

    /// Whether events are wanted at all; callers skip building attributes when not.
    @inline(__always)
    public var isEnabled: Bool { sink.isEnabled }

    /// Emits one event, stamped with the current wall-clock time.
    /// - Parameters:
    ///   - kind: the event kind.
    ///   - message: readable text, e.g. `Circuit breaker opened after 5 failures`.
    ///   - level: the level, when not the kind's default.
    ///   - incident: a correlation key, when the service has one.
    ///   - attributes: fills in the `attrs` object.
    public func emit(
        _ kind: EventKind,
        _ message: String,
        level: EventLevel? = nil,
        incident: String? = nil,
        attributes: (inout EventAttributes) -> Void = { _ in }
    ) {
        guard sink.isEnabled else { return }
        var attrs = EventAttributes()
        attributes(&attrs)
        sink.emit(
            Event(
                service: service,
                kind: kind,
                component: component,
                timestamp: wallClockMilliseconds(),
                level: level,
                message: String(message.prefix(WireLimits.maximumMessageLength)),
                incident: incident,
                attributesJSON: attrs.finish()
            )
        )
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded down, saturating instead of overflowing.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000)
        if overflow { return seconds < 0 ? .min : .max }
        return scaled + attoseconds / 1_000_000_000_000_000
    }

    /// The duration in seconds as a floating-point number.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }

    /// A duration from floating-point seconds: negative and NaN give zero, huge values saturate at 10^9 s.
    static func seconds(saturating value: Double) -> Duration {
        // 10^9 seconds (about 31 years) is "forever" for a delay, and keeps nanoseconds within Int64.
        guard !value.isNaN, value > 0 else { return .zero }
        if value >= 1e9 { return .seconds(1_000_000_000) }
        return .nanoseconds(Int64(value * 1e9))
    }
}

/// A short one-line description of an error for event attributes and messages.
func describe(_ error: any Error) -> String {
    let text = String(describing: error)
    let line = text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
    return line.count > 200 ? String(line.prefix(200)) + "..." : line
}
