import SelfHealEvents
import Synchronization

/// The `attrs` object of an event, built key by key.
///
/// Written straight into UTF-8 bytes: events are built on the service's path, so this is kept cheap.
public struct EventAttributes: Sendable {
    private var bytes: [UInt8] = []

    /// Starts an empty object.
    public init() {}

    /// Adds a string attribute.
    public mutating func set(_ key: String, _ value: String) {
        appendKey(key)
        appendQuoted(value)
    }

    /// Adds an integer attribute.
    public mutating func set(_ key: String, _ value: Int) {
        set(key, Int64(value))
    }

    /// Adds an integer attribute.
    public mutating func set(_ key: String, _ value: Int64) {
        appendKey(key)
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of any Int64
        withUnsafeMutableBytes(of: &scratch) { digits in
            var index = digits.count
            repeat {
                index -= 1
                digits[index] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            bytes.append(contentsOf: digits[index...])
        }
    }

    /// Adds a floating-point attribute (`null` when not finite).
    public mutating func set(_ key: String, _ value: Double) {
        appendKey(key)
        bytes.append(contentsOf: (value.isFinite ? String(value) : "null").utf8)
    }

    /// Adds a boolean attribute.
    public mutating func set(_ key: String, _ value: Bool) {
        appendKey(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    /// The object as JSON text, or `nil` when no attribute was set.
    public consuming func finish() -> String? {
        guard !bytes.isEmpty else { return nil }
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    private mutating func appendKey(_ key: String) {
        if bytes.isEmpty {
            bytes.reserveCapacity(128)
            bytes.append(UInt8(ascii: "{"))
        } else {
            bytes.append(UInt8(ascii: ","))
        }
        appendQuoted(key)
        bytes.append(UInt8(ascii: ":"))
    }

    private mutating func appendQuoted(_ value: String) {
        let needsEscape = value.utf8.contains { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }
        if needsEscape {
            bytes.append(contentsOf: JSONText.quoted(value).utf8)
        } else {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: "\""))
        }
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
    /// The clock events are stamped by; `nil` for the wall clock.
    public let timeSource: (any EventTimeSource)?
    /// Whether this reporter's component is in a failing episode (shared by the primitives that report through
    /// copies of this reporter, e.g. the layers of one pipeline).
    let episode: Episode
    /// Whether the primitives leave the recovery to their pipeline (which reports it once, after every layer).
    let defersRecovery: Bool

    /// Creates a reporter.
    /// - Parameters:
    ///   - sink: where events go.
    ///   - service: the emitting service (1-64 chars of `A-Z a-z 0-9 . _ - : /`).
    ///   - component: the resource the events are about.
    ///   - timeSource: the clock events are stamped by; `nil` for the wall clock.
    public init(
        sink: any EventSink,
        service: String,
        component: String = Event.defaultComponent,
        timeSource: (any EventTimeSource)? = nil
    ) {
        self.sink = sink
        self.service = service
        self.component = component
        self.timeSource = timeSource
        episode = Episode()
        defersRecovery = false
    }

    private init(_ other: EventReporter, timeSource: (any EventTimeSource)?, defersRecovery: Bool) {
        sink = other.sink
        service = other.service
        component = other.component
        self.timeSource = timeSource
        episode = other.episode
        self.defersRecovery = defersRecovery
    }

    /// This reporter for the layers of a pipeline: they leave the recovery event to the pipeline.
    func deferringRecovery() -> EventReporter { EventReporter(self, timeSource: timeSource, defersRecovery: true) }

    /// A reporter for another component of the same service and sink.
    public func component(_ component: String) -> EventReporter {
        EventReporter(sink: sink, service: service, component: component, timeSource: timeSource)
    }

    /// This reporter stamping events by `clock` when the clock tells wall-clock time (``EventTimeSource``, as a
    /// manual clock does) and the reporter has no time source of its own.
    public func timed<C: Clock>(by clock: C) -> EventReporter {
        guard timeSource == nil, let source = clock as? any EventTimeSource else { return self }
        return EventReporter(self, timeSource: source, defersRecovery: defersRecovery)
    }

    /// The time events are stamped with now, epoch milliseconds.
    @inline(__always)
    public var nowMilliseconds: Int64 { timeSource?.epochMilliseconds ?? wallClockMilliseconds() }

    /// Whether events are wanted at all; callers skip building attributes when not.
    @inline(__always)
    public var isEnabled: Bool { sink.isEnabled }

    /// Emits one event, stamped with the reporter's time (see ``timeSource``).
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
                timestamp: nowMilliseconds,
                level: level,
                message: message.utf8.count <= WireLimits.maximumMessageLength
                    ? message : String(message.prefix(WireLimits.maximumMessageLength)),
                incident: incident,
                attributesJSON: attrs.finish()
            )
        )
        switch kind.role {
        case .detect, .mitigate, .fail: episode.fail()
        case .recover: episode.clear()
        case .prevent, .info: break
        }
    }

    /// After a failing episode (an event of this reporter opened or joined an incident, and no recover event
    /// followed), emits `recovery.succeeded` so that the incident ends; nothing otherwise. Called by the
    /// primitives on each success: one atomic load.
    @inline(__always)
    public func recoverIfFailing(_ what: @autoclosure () -> String) {
        guard !defersRecovery, episode.recover() else { return }
        reportRecovery(what())
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

/// Whether a component is in a failing episode: set when an event that opens or joins an incident is emitted,
/// cleared by a recover event, or by the first success after it, which emits the recovery that ends the incident.
/// One atomic load on the success path.
final class Episode: Sendable {
    private let failing = Atomic<Bool>(false)
    private let marks = Atomic<UInt64>(0)

    /// Marks the episode as failing.
    @inline(__always)
    func fail() {
        marks.wrappingAdd(1, ordering: .relaxed)
        failing.store(true, ordering: .relaxed)
    }

    /// Counts the failing events so far: a call that saw it change was not a clean success.
    @inline(__always)
    var mark: UInt64 { marks.load(ordering: .relaxed) }

    /// Ends the episode without a recovery of its own (a recover event was emitted).
    @inline(__always)
    func clear() { if failing.load(ordering: .relaxed) { failing.store(false, ordering: .relaxed) } }

    /// `true` once when a failing episode ends (the caller then emits its recovery).
    @inline(__always)
    func recover() -> Bool {
        guard failing.load(ordering: .relaxed) else { return false }
        return failing.exchange(false, ordering: .relaxed)
    }

    /// Whether the episode is failing.
    var isFailing: Bool { failing.load(ordering: .relaxed) }
}

extension EventReporter {
    /// Like ``recoverIfFailing(_:)``, for the pipeline, which reports once for all its layers.
    func pipelineRecoverIfFailing() {
        guard episode.recover() else { return }
        reportRecovery("a call")
    }

    /// Emits `recovery.succeeded`: the first success after a failing episode, so the incident it opened ends.
    func reportRecovery(_ what: String) {
        guard isEnabled else { return }
        emit(.recoverySucceeded, "\(component) recovered: \(what) succeeded again")
    }
}
