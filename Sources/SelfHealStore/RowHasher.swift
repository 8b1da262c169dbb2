import SelfHealEvents

/// The hash of a run of event rows as the local hash chain encodes them (``ChainHasher``: every column of the
/// local log in table order), chained to a previous hash: what the fleet's links (`fleet_links`) hold per host
/// and batch, computed by the forwarder from the rows it sends and again by `verify --store` from the rows the
/// central log holds.
public final class EventRowsHasher {
    private let hasher: ChainHasher

    /// The previous hash of a chain's first link: 32 zero bytes.
    public static let zero: [UInt8] = HashChain.zero

    /// Starts a link after the link whose hash is `previous`.
    public init(previous: [UInt8]) {
        hasher = ChainHasher(previous: previous)
    }

    /// Adds one event row.
    public func add(_ stored: StoredEvent) {
        let event = stored.event
        hasher.event(
            seq: stored.seq,
            timestamp: stored.timestamp,
            receivedAt: stored.receivedAt,
            texts: (
                event.service, event.component, event.kind.name, event.effectiveLevel.name, event.message,
                event.incident, event.id, event.attributesJSON
            ),
            uid: stored.peer.map { Int64($0.uid) },
            pid: stored.peer.map { Int64($0.pid) }
        )
    }

    /// The link's hash, 32 bytes.
    public func finish() -> [UInt8] { hasher.finish() }
}
