import Foundation
import SelfHealStore

#if canImport(Glibc)
import Glibc
#endif

/// Settings of the fleet's forwarder (`selfheal serve --forward`).
public struct ForwarderConfiguration: Sendable {
    /// The central store.
    public var store: FleetStoreURL
    /// This host's id in the fleet log (validated by ``validateHostID(_:)``).
    public var hostID: String
    /// The local log the forwarder reads (read-only), `DATA_DIR/events.db`.
    public var databasePath: String
    /// Where the forwarder keeps its state for `selfheal status`, `DATA_DIR/forward.json`; nil: nowhere.
    public var stateFile: String?
    /// The most events one batch (one PostgreSQL transaction) holds. Default: 10,000.
    public var batchLimit: Int
    /// How often the local log's last seq is read while there is nothing to send. Default: 50 ms.
    public var pollInterval: Duration
    /// The waits between attempts while the central store is unreachable.
    public var backoff: ForwardBackoff

    /// Creates a configuration; the host id is validated.
    public init(
        store: FleetStoreURL,
        hostID: String,
        databasePath: String,
        stateFile: String? = nil,
        batchLimit: Int = 10_000,
        pollInterval: Duration = .milliseconds(50),
        backoff: ForwardBackoff = ForwardBackoff()
    ) throws(StoreError) {
        try Self.validateHostID(hostID)
        self.store = store
        self.hostID = hostID
        self.databasePath = databasePath
        self.stateFile = stateFile
        self.batchLimit = max(1, batchLimit)
        self.pollInterval = pollInterval
        self.backoff = backoff
    }

    /// A host id is 1 to 255 bytes of UTF-8 without control characters; the error names what is wrong.
    public static func validateHostID(_ hostID: String) throws(StoreError) {
        let bytes = hostID.utf8.count
        guard bytes >= 1 else { throw StoreError("the host id is empty: give --host-id ID (1 to 255 bytes)") }
        guard bytes <= 255 else {
            throw StoreError("the host id is \(bytes) bytes long: at most 255 (--host-id)")
        }
        if let control = hostID.unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
            let code = String(control.value, radix: 16, uppercase: true)
            throw StoreError("the host id holds a control character (U+\(code)): it must be printable (--host-id)")
        }
    }

    /// The machine's host name, the default host id.
    public static var defaultHostID: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }
}

/// Capped exponential backoff with full jitter: attempt `n` (from 0) waits a uniformly random time in
/// `[0, min(cap, initial × 2ⁿ)]`.
public struct ForwardBackoff: Sendable, Equatable {
    /// The bound of the first wait. Default: 100 ms.
    public var initial: Duration
    /// The largest bound. Default: 10 s.
    public var cap: Duration

    /// Creates a backoff.
    public init(initial: Duration = .milliseconds(100), cap: Duration = .seconds(10)) {
        self.initial = initial
        self.cap = cap
    }

    /// The bound of attempt `attempt`'s wait: `min(cap, initial × 2^attempt)`.
    public func bound(attempt: Int) -> Duration {
        let factor = 1 << min(max(attempt, 0), 30)
        let bound = initial * factor
        return bound > cap ? cap : bound
    }

    /// The wait before attempt `attempt + 1`; `unit` is a random number in `[0, 1]`.
    public func delay(attempt: Int, unit: Double) -> Duration {
        bound(attempt: attempt) * min(max(unit, 0), 1)
    }
}
