/// One self-healing event as a service sends it (SPEC section 3), validated.
public struct Event: Sendable, Equatable {
    /// The emitting service: 1-64 characters of `A-Z a-z 0-9 . _ - : /`.
    public var service: String
    /// The event kind, with its role and default level.
    public var kind: EventKind
    /// The resource the event is about; `"default"` when not given.
    public var component: String
    /// Event time in epoch milliseconds; `nil` means "when the daemon read the line".
    public var timestamp: Int64?
    /// The level given by the service; `nil` means the kind's default.
    public var level: EventLevel?
    /// Free text, at most 4,096 characters.
    public var message: String?
    /// The service's correlation key for an incident.
    public var incident: String?
    /// The service's event id; a later event with the same service and id is a duplicate.
    public var id: String?
    /// The `attrs` object as JSON text, exactly as given.
    public var attributesJSON: String?

    /// The component used when an event names none.
    public static let defaultComponent = "default"

    /// Creates an event; fields are not validated here (the decoder validates wire lines).
    public init(
        service: String,
        kind: EventKind,
        component: String = Event.defaultComponent,
        timestamp: Int64? = nil,
        level: EventLevel? = nil,
        message: String? = nil,
        incident: String? = nil,
        id: String? = nil,
        attributesJSON: String? = nil
    ) {
        self.service = service
        self.kind = kind
        self.component = component
        self.timestamp = timestamp
        self.level = level
        self.message = message
        self.incident = incident
        self.id = id
        self.attributesJSON = attributesJSON
    }

    /// The level that counts: the one given, else the kind's default.
    public var effectiveLevel: EventLevel { level ?? kind.defaultLevel }
}

/// The process that sent a line, from the socket's peer credentials.
public struct Peer: Sendable, Equatable, Hashable {
    /// The sender's user id.
    public var uid: UInt32
    /// The sender's process id.
    public var pid: Int32

    /// Creates a peer.
    public init(uid: UInt32, pid: Int32) {
        self.uid = uid
        self.pid = pid
    }
}

/// An event as the log holds it: with its sequence number, times and sender.
public struct StoredEvent: Sendable, Equatable {
    /// Gapless position in the log, from 1, in commit order.
    public var seq: Int64
    /// The event time, epoch milliseconds (the receive time when the event gave none).
    public var timestamp: Int64
    /// When the daemon read the line, epoch milliseconds.
    public var receivedAt: Int64
    /// The event as sent; `event.timestamp` is always set here.
    public var event: Event
    /// Who sent it, when known.
    public var peer: Peer?
    /// The host whose daemon stored it, for an event read from the fleet's central store (SPEC section 10); nil
    /// for a local store's.
    public var host: String?

    /// Creates a stored event.
    public init(seq: Int64, timestamp: Int64, receivedAt: Int64, event: Event, peer: Peer?, host: String? = nil) {
        self.seq = seq
        self.timestamp = timestamp
        self.receivedAt = receivedAt
        self.event = event
        self.peer = peer
        self.host = host
    }
}

/// A line the daemon could not accept, kept with its error.
public struct RejectedLine: Sendable, Equatable {
    /// When the daemon read the line, epoch milliseconds.
    public var receivedAt: Int64
    /// 1-based line number on its connection.
    public var line: Int
    /// The one-line error that names the problem.
    public var error: String
    /// The line's bytes as received, cut at 64 KiB.
    public var raw: [UInt8]
    /// Who sent it, when known.
    public var peer: Peer?

    /// Creates a rejected line.
    public init(receivedAt: Int64, line: Int, error: String, raw: [UInt8], peer: Peer?) {
        self.receivedAt = receivedAt
        self.line = line
        self.error = error
        self.raw = raw
        self.peer = peer
    }
}
