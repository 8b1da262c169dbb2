import Foundation

/// An error that carries an HTTP status, so retry and breaker predicates can classify it.
public protocol HTTPStatusError: Error {
    /// The HTTP status code, e.g. 503.
    var statusCode: Int { get }
    /// The delay the server asked for (a `Retry-After` header), if any.
    var retryAfter: Duration? { get }
}

extension HTTPStatusError {
    /// No `Retry-After` unless the error says so.
    public var retryAfter: Duration? { nil }
}

/// An HTTP call that answered with an error status.
public struct HTTPError: HTTPStatusError, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status code.
    public var statusCode: Int
    /// The delay the server asked for in `Retry-After`, if any.
    public var retryAfter: Duration?
    /// What the call was, e.g. `GET /api/manager/assistance`.
    public var endpoint: String?

    /// Creates an error for a status.
    public init(statusCode: Int, retryAfter: Duration? = nil, endpoint: String? = nil) {
        self.statusCode = statusCode
        self.retryAfter = retryAfter
        self.endpoint = endpoint
    }

    /// Parses a `Retry-After` header, in seconds (`"120"`) or as an HTTP date relative to the wall clock now.
    public static func retryAfter(header: String?) -> Duration? {
        retryAfter(header: header, now: Date())
    }

    /// A one-line description a person can act on.
    public var description: String {
        "HTTP \(statusCode)" + (endpoint.map { " from \($0)" } ?? "")
    }
}

extension String {
    func trimmingWhitespace() -> Substring {
        var text = self[...]
        while let first = text.first, first.isWhitespace { text.removeFirst() }
        while let last = text.last, last.isWhitespace { text.removeLast() }
        return text
    }
}

/// A call the circuit breaker refused because the circuit is open (or its half-open probes are all taken).
public struct CircuitOpenError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The component whose circuit is open.
    public var component: String
    /// How long until the breaker lets a probe through; zero when half-open probes are busy.
    public var retryAfter: Duration

    /// Creates the error.
    public init(component: String, retryAfter: Duration) {
        self.component = component
        self.retryAfter = retryAfter
    }

    /// A one-line description a person can act on.
    public var description: String {
        "circuit open for \(component): calls are refused for \(retryAfter.milliseconds) ms more"
    }
}

/// A call the bulkhead refused: no free slot and no room in its queue, or shed under critical load.
public struct BulkheadFullError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why the call was refused.
    public enum Reason: String, Sendable {
        /// Every slot is busy and the queue is full.
        case queueFull = "queue_full"
        /// Utilisation is critical and the call was marked non-critical.
        case shed
    }

    /// The bulkhead's component.
    public var component: String
    /// Why the call was refused.
    public var reason: Reason
    /// Calls running when it was refused.
    public var inFlight: Int
    /// The concurrency limit.
    public var maxConcurrent: Int

    /// Creates the error.
    public init(component: String, reason: Reason, inFlight: Int, maxConcurrent: Int) {
        self.component = component
        self.reason = reason
        self.inFlight = inFlight
        self.maxConcurrent = maxConcurrent
    }

    /// A one-line description a person can act on.
    public var description: String {
        switch reason {
        case .queueFull: "bulkhead \(component) is full (\(inFlight)/\(maxConcurrent) running, queue full)"
        case .shed: "bulkhead \(component) shed a non-critical call at critical load (\(inFlight)/\(maxConcurrent))"
        }
    }
}
