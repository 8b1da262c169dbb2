import SelfHealEvents
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where the primitives send the events that say what they did.
///
/// `emit` is called on the service's own path: it must return quickly, never block on I/O that can stall
/// (a socket, a daemon) and never throw. A sink that cannot deliver keeps, spills or drops the event itself.
public protocol EventSink: Sendable {
    /// Takes one event; returns at once. The event is handed over (`consuming`), so queueing it costs no copy.
    func emit(_ event: consuming Event)

    /// Whether emitting does anything; when `false` the primitives do not even build their events.
    var isEnabled: Bool { get }
}

extension EventSink {
    /// A sink is enabled unless it says otherwise.
    public var isEnabled: Bool { true }
}

/// A sink that drops every event and costs nothing: the primitives skip building events for it.
public struct NoopEventSink: EventSink {
    /// Creates the sink.
    public init() {}

    /// Drops the event.
    public func emit(_ event: consuming Event) {}

    /// Always `false`.
    public var isEnabled: Bool { false }
}

/// A sink that keeps every event in memory, in emission order: for tests and examples.
public final class RecordingEventSink: EventSink {
    private let storage = Mutex<[Event]>([])

    /// Creates an empty recording.
    public init() {}

    /// Appends the event to the recording.
    public func emit(_ event: consuming Event) {
        let event = event
        storage.withLock { $0.append(event) }
    }

    /// Every event recorded so far.
    public var events: [Event] { storage.withLock { $0 } }

    /// The kinds recorded so far, as wire names, in order.
    public var kinds: [String] { storage.withLock { $0.map(\.kind.name) } }

    /// The recorded events of one kind.
    public func events(of kind: EventKind) -> [Event] {
        storage.withLock { $0.filter { $0.kind == kind } }
    }

    /// Forgets everything recorded.
    public func removeAll() {
        storage.withLock { $0.removeAll() }
    }
}

/// A sink that passes each event to several sinks, e.g. the socket emitter and the log.
public struct FanOutEventSink: EventSink {
    private let sinks: [any EventSink]

    /// Creates a sink over the given ones; disabled ones are left out.
    public init(_ sinks: [any EventSink]) {
        self.sinks = sinks.filter(\.isEnabled)
    }

    /// Emits to every enabled sink.
    public func emit(_ event: consuming Event) {
        let event = event
        for sink in sinks { sink.emit(event) }
    }

    /// Whether any of the sinks is enabled.
    public var isEnabled: Bool { !sinks.isEmpty }
}

/// The wall-clock time in epoch milliseconds, for event timestamps.
///
/// Events carry the time they happened, so that a spilled and later replayed event keeps it.
@inline(__always)
func wallClockMilliseconds() -> Int64 { WallClock.nowMillis() }
