import Foundation
import Synchronization

/// The server-sent events of `GET /api/v1/stream` (SPEC section 9): every event gets an id `BOOT-N` (BOOT: when
/// this daemon started, N counting from 1), is kept in a ring of the last ``HTTPConfiguration/streamHistory``
/// events for clients that reconnect with `Last-Event-ID`, and is handed to each client through a buffer of
/// ``HTTPConfiguration/streamBuffer`` events. A client whose buffer is full is dropped (its stream ends; it
/// reconnects and catches up from the ring), so a slow client never slows the writer or the other clients.
/// With no client for a minute the publisher stops reading changes (ingest then pays nothing for the stream);
/// ids given before that gap get a snapshot.
final class EventHub: Sendable {
    private struct State {
        var next: Int64 = 1
        var history: [(number: Int64, text: String)] = []
        var historyStart = 0
        var clients: [Int: AsyncStream<String>.Continuation] = [:]
        var nextClient = 0
        /// The first event number after the last gap (changes not published): ids before it cannot replay.
        var replayableFrom: Int64 = 0
        /// When the last client left, while none is connected; nil while one is, and before the first.
        var emptySince: ContinuousClock.Instant?
        /// Whether a client ever connected to this daemon (before, no id of its run exists).
        var everWatched = false
    }

    private let state = Mutex(State())
    private let boot: Int64
    private let historyLimit: Int
    private let bufferLimit: Int
    private let dropped = Atomic<Int>(0)

    init(boot: Int64, history: Int, buffer: Int) {
        self.boot = boot
        historyLimit = history
        bufferLimit = buffer
    }

    /// How many clients were dropped for not keeping up.
    var droppedClients: Int { dropped.load(ordering: .relaxed) }

    /// How many clients are connected.
    var clientCount: Int { state.withLock { $0.clients.count } }

    /// Sends an event to every client and keeps it for reconnections.
    func publish(event: String, data: String) {
        let slow: [AsyncStream<String>.Continuation] = state.withLock { state in
            let number = state.next
            state.next += 1
            let text = "id: \(boot)-\(number)\nevent: \(event)\ndata: \(data)\n\n"
            if state.history.count < historyLimit {
                state.history.append((number, text))
            } else {
                state.history[state.historyStart] = (number, text)
                state.historyStart = (state.historyStart + 1) % historyLimit
            }
            var slow: [AsyncStream<String>.Continuation] = []
            for (key, client) in state.clients {
                if case .dropped = client.yield(text) {
                    slow.append(client)
                    state.clients[key] = nil
                }
            }
            return slow
        }
        for client in slow {
            dropped.add(1, ordering: .relaxed)
            client.finish()
        }
    }

    /// Sends a comment line to every client (keeps proxies from closing a quiet stream).
    func keepAlive() {
        let clients = state.withLock { Array($0.clients.values) }
        for client in clients { _ = client.yield(": keep-alive\n\n") }
    }

    /// A new client: the events after `lastEventID` (nil when the ring no longer holds them or the id is of
    /// another daemon run: the caller then sends a fresh snapshot), then the live events.
    func subscribe(lastEventID: String?) -> (replay: [String]?, stream: AsyncStream<String>) {
        let (stream, continuation) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingOldest(bufferLimit))
        let (replay, key): ([String]?, Int) = state.withLock { state in
            let key = state.nextClient
            state.nextClient += 1
            state.clients[key] = continuation
            state.emptySince = nil
            state.everWatched = true
            guard let lastEventID else { return (nil, key) }
            let ordered = state.history[state.historyStart...] + state.history[..<state.historyStart]
            guard let number = eventNumber(lastEventID), let oldest = ordered.first?.number,
                number >= oldest - 1, number >= state.replayableFrom, number < state.next
            else { return (nil, key) }
            return (ordered.filter { $0.number > number }.map(\.text), key)
        }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { state in
                state.clients.removeValue(forKey: key)
                if state.clients.isEmpty { state.emptySince = .now }
            }
        }
        return (replay, stream)
    }

    /// Whether anyone may still ask for the next events: a client is connected, or the last one left less than
    /// `grace` ago (it may reconnect with its `Last-Event-ID`). When not, the publisher skips its queries and
    /// calls ``markGap()``.
    func isWatched(grace: Duration) -> Bool {
        state.withLock { state in
            guard state.everWatched else { return false }
            guard let emptySince = state.emptySince else { return true }
            return ContinuousClock.now - emptySince < grace
        }
    }

    /// Changes went unpublished: a `Last-Event-ID` from before now gets a snapshot, not a replay.
    func markGap() {
        state.withLock { $0.replayableFrom = $0.next }
    }

    /// Ends every client's stream (graceful shutdown).
    func finishAll() {
        let clients = state.withLock { state in
            let clients = Array(state.clients.values)
            state.clients = [:]
            return clients
        }
        for client in clients { client.finish() }
    }

    private func eventNumber(_ id: String) -> Int64? {
        let parts = id.trimmingCharacters(in: .whitespaces).split(separator: "-")
        guard parts.count == 2, Int64(parts[0]) == boot else { return nil }
        return Int64(parts[1])
    }
}
