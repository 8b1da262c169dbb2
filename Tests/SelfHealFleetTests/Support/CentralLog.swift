import Foundation
import Logging
import PostgresNIO
import SelfHealEvents
import SelfHealFleet
import SelfHealStore
import Testing

/// What the central store holds, read back with postgres-nio, and the checks of the forwarding guarantees.
struct CentralLog {
    struct Row {
        var fleetSeq: Int64
        var host: String
        var event: StoredEvent
    }

    var rows: [Row] = []
    var links: [(host: String, lastSeq: Int64, hash: [UInt8])] = []
    var forwarded: [String: Int64] = [:]

    static func read(_ url: String) async throws -> CentralLog {
        let logger = Logger(label: "central-log-test")
        let connection = try await FleetDatabase.connect(try FleetStoreURL(url), logger: logger)
        var log = CentralLog()
        do {
            let events = try await connection.query(
                """
                SELECT fleet_seq, host_id, seq, ts, received_at, service, component, kind, level, message, incident,
                    event_id, attrs, peer_uid, peer_pid
                FROM fleet_events ORDER BY fleet_seq
                """,
                logger: logger
            )
            for try await row in events {
                let c = row.makeRandomAccess()
                let seq = try c[2].decode(Int64.self)
                let ts = try c[3].decode(Int64.self)
                let uid = try c[13].decode(Int64?.self)
                let pid = try c[14].decode(Int64?.self)
                let levelName = try c[8].decode(String.self)
                guard let level = EventLevel(name: levelName) else {
                    throw ForwardTestError("fleet event \(seq) has level \(levelName)")
                }
                let event = Event(
                    service: try c[5].decode(String.self),
                    kind: try #require(EventKind(name: try c[7].decode(String.self))),
                    component: try c[6].decode(String.self),
                    timestamp: ts,
                    level: level,
                    message: try c[9].decode(String?.self),
                    incident: try c[10].decode(String?.self),
                    id: try c[11].decode(String?.self),
                    attributesJSON: try c[12].decode(String?.self)
                )
                let peer = uid.flatMap { uid in pid.map { Peer(uid: UInt32(uid), pid: Int32($0)) } }
                log.rows.append(
                    Row(
                        fleetSeq: try c[0].decode(Int64.self),
                        host: try c[1].decode(String.self),
                        event: StoredEvent(
                            seq: seq,
                            timestamp: ts,
                            receivedAt: try c[4].decode(Int64.self),
                            event: event,
                            peer: peer
                        )
                    )
                )
            }
            let links = try await connection.query(
                "SELECT host_id, last_seq, hash FROM fleet_links ORDER BY host_id, last_seq",
                logger: logger
            )
            for try await (host, lastSeq, hash) in links.decode((String, Int64, ByteBuffer).self) {
                log.links.append((host, lastSeq, Array(hash.readableBytesView)))
            }
            let hosts = try await connection.query("SELECT host_id, forwarded_seq FROM fleet_hosts", logger: logger)
            for try await (host, seq) in hosts.decode((String, Int64).self) { log.forwarded[host] = seq }
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return log
    }

    /// fleet_seq is 1, 2, 3, ... in the order read (fleet_seq order).
    var fleetSeqIsGapless: Bool { rows.enumerated().allSatisfy { $0.element.fleetSeq == Int64($0.offset + 1) } }

    /// Checks that the host's events are exactly its local log, once each, in seq order along fleet_seq, and
    /// that its links chain over them as the forwarder computed them.
    func expectHolds(host: String, local: [StoredEvent], sourceLocation: SourceLocation = #_sourceLocation) {
        let central = rows.filter { $0.host == host }.map(\.event)
        #expect(central.count == local.count, "host \(host)", sourceLocation: sourceLocation)
        #expect(
            central == local,
            "host \(host): the central rows differ from the local log",
            sourceLocation: sourceLocation
        )
        #expect(forwarded[host] == local.last?.seq, "host \(host)'s cursor", sourceLocation: sourceLocation)
        var previous = EventRowsHasher.zero
        var start = 0
        let hostLinks = links.filter { $0.host == host }
        for link in hostLinks {
            let hasher = EventRowsHasher(previous: previous)
            var end = start
            while end < central.count, central[end].seq <= link.lastSeq {
                hasher.add(central[end])
                end += 1
            }
            previous = hasher.finish()
            #expect(previous == link.hash, "host \(host): link \(link.lastSeq)", sourceLocation: sourceLocation)
            start = end
        }
        #expect(start == central.count, "host \(host): events after the last link", sourceLocation: sourceLocation)
    }
}

/// The database name of a postgresql:// URL.
func databaseName(_ url: String) -> String { String(url.split(separator: "/").last ?? "postgres") }
