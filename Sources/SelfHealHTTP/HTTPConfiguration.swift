import Foundation

/// Settings of the daemon's HTTP side (SPEC section 9), with documented defaults.
public struct HTTPConfiguration: Sendable {
    /// Where to listen.
    public var address: ListenAddress
    /// The tokens that open every path but `/healthz`; empty: no token file (loopback only, no ingest).
    public var tokens: AccessTokens
    /// The largest ingest body accepted, in bytes; larger ones get `413`. Default: 8 MiB.
    public var maximumBodyBytes: Int
    /// How many ingest bodies the daemon holds at once, from the first byte read to the answer; further
    /// requests wait unread (TCP pushes back on their senders). Default: 8.
    public var maximumBodiesInFlight: Int
    /// How long a body waits for room in the writer's queue before it is refused with `503`. Default: 5 s.
    public var queueWait: Duration
    /// Seconds put in `Retry-After` when the writer's queue is full. Default: 5.
    public var retryAfterSeconds: Int
    /// How many server-sent events a slow stream client may have waiting before it is dropped. Default: 256.
    public var streamBuffer: Int
    /// How many past server-sent events are kept for clients that reconnect with `Last-Event-ID`.
    /// Default: 4,096.
    public var streamHistory: Int
    /// How many services get their own label value in the metrics; the others share `service="other"`.
    /// Default: 50.
    public var metricServiceLimit: Int
    /// A connection that sends nothing for this long is closed. Default: 60 s.
    public var idleTimeout: Duration
    /// When set, `POST /api/v1/events` is refused with `405` and this message: a server that stores no events
    /// (`central --http` over the fleet). Default: nil (ingest served).
    public var ingestRefusal: String? = nil

    /// Creates a configuration with the documented defaults.
    public init(
        address: ListenAddress,
        tokens: AccessTokens = AccessTokens(),
        maximumBodyBytes: Int = 8 * 1_024 * 1_024,
        maximumBodiesInFlight: Int = 8,
        queueWait: Duration = .seconds(5),
        retryAfterSeconds: Int = 5,
        streamBuffer: Int = 256,
        streamHistory: Int = 4_096,
        metricServiceLimit: Int = 50,
        idleTimeout: Duration = .seconds(60)
    ) {
        self.address = address
        self.tokens = tokens
        self.maximumBodyBytes = maximumBodyBytes
        self.maximumBodiesInFlight = max(1, maximumBodiesInFlight)
        self.queueWait = queueWait
        self.retryAfterSeconds = retryAfterSeconds
        self.streamBuffer = max(1, streamBuffer)
        self.streamHistory = max(1, streamHistory)
        self.metricServiceLimit = max(1, metricServiceLimit)
        self.idleTimeout = idleTimeout
    }

    /// Refuses what SPEC section 9 forbids: listening beyond loopback without tokens.
    public func validate() throws(HTTPSetupError) {
        if tokens.isEmpty && !address.isLoopback {
            throw HTTPSetupError(
                "refusing to listen on \(address) without --http-token-file: only loopback addresses "
                    + "(127.0.0.1, ::1, localhost) may be served without tokens"
            )
        }
    }
}

/// `ADDR:PORT` of `--http`: an IPv4 address, `[IPv6]`, or a host name, and a port (0: chosen by the system).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// The host part, without brackets.
    public var host: String
    /// The port; 0 lets the system choose one.
    public var port: Int

    /// Creates an address.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `127.0.0.1:8470`, `[::1]:8470`, `localhost:8470`, `0.0.0.0:8470`.
    public init(parsing text: String) throws(HTTPSetupError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw HTTPSetupError("--http must be ADDR:PORT, such as [::1]:8470, not \"\(text)\"")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw HTTPSetupError("--http must be ADDR:PORT, such as 127.0.0.1:8470, not \"\(text)\"")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65_535).contains(port) else {
            throw HTTPSetupError("--http must be ADDR:PORT with a port from 0 to 65535, not \"\(text)\"")
        }
        self.init(host: String(host), port: port)
    }

    /// Whether only this machine can reach the address: 127.0.0.0/8, ::1 or localhost.
    public var isLoopback: Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// A setting of the HTTP side that cannot work, with a message naming it.
public struct HTTPSetupError: Error, Sendable, CustomStringConvertible {
    /// What is wrong and what to do.
    public let message: String

    /// Creates an error.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
