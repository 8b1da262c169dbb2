/// What one wire line is: an event, or a control request (SPEC section 3).
public enum WireLine: Sendable, Equatable {
    /// An event to store.
    case event(Event)
    /// A control request that the daemon answers.
    case control(ControlRequest)
}

/// A control line's `op`.
public enum ControlRequest: String, Sendable, Equatable {
    /// Reply once every earlier line of the connection is committed.
    case sync
    /// Reply `pong` with the daemon's version.
    case ping
}

/// Why a line was rejected: one line of text that names the problem.
public struct LineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The message, e.g. `unknown field "servce"`.
    public let message: String

    /// Creates an error with a message.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// Limits of the wire format.
public enum WireLimits {
    /// The longest line accepted, in bytes, not counting its line end.
    public static let maximumLineBytes = 65_536
    /// The longest `service`, in characters.
    public static let maximumServiceLength = 64
    /// The longest `component`, `incident` or `id`, in characters.
    public static let maximumKeyLength = 128
    /// The longest `message`, in characters.
    public static let maximumMessageLength = 4_096
    /// How deeply `attrs` may nest arrays and objects.
    public static let maximumAttributesDepth = 64
}
