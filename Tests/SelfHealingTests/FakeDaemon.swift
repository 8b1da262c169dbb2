import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A stand-in for `selfheal serve` in unit tests: a UNIX socket that takes NDJSON lines, stores events once per
/// id (the store outlives restarts of the fake), and answers `{"op":"sync"}` with the SPEC's counts.
final class FakeDaemon: Sendable {
    /// What the "database" holds across restarts.
    final class Store: Sendable {
        private let state = Mutex<(ids: Set<String>, lines: [String])>(([], []))

        /// Stores a line; `false` when its id was seen before.
        func insert(_ line: String) -> Bool {
            let id = (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
            return state.withLock { state in
                if let id, !state.ids.insert(id).inserted { return false }
                state.lines.append(line)
                return true
            }
        }

        var lines: [String] { state.withLock { $0.lines } }
    }

    let path: String
    let store: Store
    /// Whether the fake never answers a sync, like a daemon that stopped reading under load.
    let stalls: Bool
    private let syncs = Atomic<Int>(0)
    private let listener: Int32
    private let connections = Mutex<[Int32]>([])
    private let stopped = Atomic<Bool>(false)

    init(path: String, store: Store, stalls: Bool = false) throws {
        self.path = path
        self.store = store
        self.stalls = stalls
        unlink(path)
        listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, listen(listener, 8) == 0 else { throw POSIXError(.EADDRINUSE) }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Sync requests received so far.
    var syncRequests: Int { syncs.load(ordering: .sequentiallyConsistent) }

    /// Waits (on this thread, polling) until `condition` holds or 10 s pass.
    static func wait(until condition: () -> Bool) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: .seconds(10))
        while !condition() {
            if ContinuousClock.now > deadline { return false }
            usleep(1_000)
        }
        return true
    }

    /// Closes the socket and every connection, like a daemon that went away.
    func stop() {
        stopped.store(true, ordering: .sequentiallyConsistent)
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        unlink(path)
        for descriptor in connections.withLock({ $0 }) { shutdown(descriptor, Int32(SHUT_RDWR)) }
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .sequentiallyConsistent) {
            let descriptor = accept(listener, nil, nil)
            guard descriptor >= 0 else { return }
            connections.withLock { $0.append(descriptor) }
            let thread = Thread { [self] in serve(descriptor) }
            thread.start()
        }
    }

    private func serve(_ descriptor: Int32) {
        defer { close(descriptor) }
        var buffer: [UInt8] = []
        var counts = (accepted: 0, duplicates: 0)
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            buffer.append(contentsOf: chunk[..<count])
            while let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<newline], as: UTF8.self)
                buffer.removeSubrange(...newline)
                if line == #"{"op":"sync"}"# {
                    syncs.add(1, ordering: .sequentiallyConsistent)
                    if stalls { continue }
                    let reply =
                        #"{"op":"sync","ok":true,"accepted":\#(counts.accepted),"#
                        + #""duplicates":\#(counts.duplicates),"rejected":0,"last_seq":0,"errors":[]}"# + "\n"
                    _ = Array(reply.utf8).withUnsafeBytes {
                        send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                    }
                } else if store.insert(line) {
                    counts.accepted += 1
                } else {
                    counts.duplicates += 1
                }
            }
        }
    }
}
