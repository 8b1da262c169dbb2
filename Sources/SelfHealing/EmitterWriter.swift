import Foundation
import SelfHealEvents

/// What a destination said of one delivered batch: counts about that batch only.
struct DeliveryCounts {
    var accepted = 0
    var duplicates = 0
    var rejected = 0
    var lastRejection: String?
}

/// A connection to a destination, used by the writer's thread only.
protocol EmitterTransport {
    /// Sends the lines and waits until the daemon says they are committed.
    /// - Throws: when they may not be (the connection is then given up, the lines spilled).
    mutating func deliver(_ lines: [String]) throws -> DeliveryCounts
}

/// The daemon's UNIX socket: the lines, then `{"op":"sync"}`; the reply's counts are cumulative per connection.
struct SocketTransport: EmitterTransport {
    let client: IngestClient
    private var previous = (accepted: 0, duplicates: 0, rejected: 0)

    init(path: String, timeout: Duration) throws {
        client = try IngestClient(socketPath: path, timeout: max(0.001, timeout.seconds))
    }

    mutating func deliver(_ lines: [String]) throws -> DeliveryCounts {
        for line in lines { try client.send(line: line) }
        let reply = try client.sync()
        guard reply.ok else { throw IngestClientError(reply.error ?? "the daemon could not commit") }
        defer { previous = (reply.accepted, reply.duplicates, reply.rejected) }
        return DeliveryCounts(
            accepted: reply.accepted - previous.accepted,
            duplicates: reply.duplicates - previous.duplicates,
            rejected: reply.rejected - previous.rejected,
            lastRejection: reply.errors.last.map { "line \($0.line): \($0.error)" }
        )
    }
}

/// The daemon's HTTP ingest: one NDJSON body per batch (at most 8 MiB), the sync reply about that body.
struct HTTPTransport: EmitterTransport {
    /// A `503` or `429`: the daemon asked to wait (its `Retry-After`).
    struct Busy: Error {
        var retryAfter: Duration?
    }

    static let maxBody = 8 << 20
    let client: HTTPIngestClient

    init(url: String, token: String, timeout: Duration) throws {
        client = HTTPIngestClient(
            endpoint: try HTTPIngestClient.Endpoint(url: url),
            token: token,
            timeout: max(0.001, timeout.seconds)
        )
    }

    mutating func deliver(_ lines: [String]) throws -> DeliveryCounts {
        var total = DeliveryCounts()
        var body: [UInt8] = []
        var offset = 0  // line numbers in the daemon's errors count from each body's first line
        var count = 0
        func post() throws {
            guard !body.isEmpty else { return }
            let response = try client.post(body)
            switch response.status {
            case 200:
                guard let reply = try? JSONDecoder().decode(SyncReply.self, from: Data(response.body)), reply.ok else {
                    throw IngestClientError("unexpected answer from the daemon's HTTP ingest")
                }
                total.accepted += reply.accepted
                total.duplicates += reply.duplicates
                total.rejected += reply.rejected
                if let last = reply.errors.last { total.lastRejection = "line \(offset + last.line): \(last.error)" }
            case 429, 503:
                throw Busy(retryAfter: HTTPError.retryAfter(header: response.retryAfter))
            case 401, 403:
                let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                throw IngestClientError(
                    "the daemon's HTTP ingest refused the emitter's token (\(response.status)): \(text); events are "
                        + "kept in the spill file (or the queue) until a valid token is configured"
                )
            default:
                let text = String(decoding: response.body.prefix(200), as: UTF8.self)
                throw IngestClientError("the daemon's HTTP ingest answered \(response.status): \(text)")
            }
            offset += count
            body.removeAll(keepingCapacity: true)
            count = 0
        }
        for line in lines {
            if body.count + line.utf8.count + 1 > Self.maxBody { try post() }
            body.append(contentsOf: line.utf8)
            body.append(0x0A)
            count += 1
        }
        try post()
        return total
    }
}

/// The emitter's background writer: owns the connection, sends batches, spills, reconnects, replays.
/// Lives on the emitter's thread only.
struct EmitterWriter {
    private let emitter: SocketEventEmitter
    private let configuration: SocketEmitterConfiguration
    private var connection: (any EmitterTransport)?
    private var delay: Duration
    private var nextAttempt = ContinuousClock.now

    init(emitter: SocketEventEmitter) {
        self.emitter = emitter
        configuration = emitter.configuration
        delay = configuration.reconnectInitialDelay
    }

    mutating func run() {
        while true {
            connectIfDue()
            if connection != nil, let spill = emitter.spill, !spill.isEmpty { replay(spill) }
            if connection == nil, emitter.spill == nil, !emitter.isStopping {
                // Without a spill file, events wait in the queue (bounded) for the daemon to come back.
                emitter.waitForWork(min(configuration.idleWait, ContinuousClock.now.duration(to: nextAttempt)))
                continue
            }
            let (events, stopping) = emitter.takeBatch()
            if events.isEmpty {
                if stopping { break }
                var wait = configuration.idleWait
                if connection == nil { wait = min(wait, ContinuousClock.now.duration(to: nextAttempt)) }
                emitter.waitForWork(wait)
                continue
            }
            let lines = events.map(emitter.line(for:))
            // While older events wait in the spill file, newer ones join them there, so order is kept.
            let spillPending = !(emitter.spill?.isEmpty ?? true)
            if spillPending || !send(lines) { emitter.spillOrDrop(lines) }
            emitter.markHandled(events.count)
        }
        connection = nil
        emitter.update { $0.isConnected = false }
    }

    private mutating func connectIfDue() {
        guard connection == nil, ContinuousClock.now >= nextAttempt else { return }
        do {
            switch configuration.destination {
            case .socket(let path):
                connection = try SocketTransport(path: path, timeout: configuration.replyTimeout)
            case .http(let url, let token):
                connection = try HTTPTransport(url: url, token: token, timeout: configuration.replyTimeout)
            }
            delay = configuration.reconnectInitialDelay
            emitter.update { $0.isConnected = true }
        } catch {
            scheduleReconnect(after: nil, error: error)
        }
    }

    private mutating func scheduleReconnect(after asked: Duration?, error: any Error) {
        connection = nil
        nextAttempt = ContinuousClock.now.advanced(by: max(delay, asked ?? .zero))
        delay = min(configuration.reconnectMaxDelay, delay * 2)
        emitter.update {
            $0.isConnected = false
            $0.lastError = describe(error)
        }
    }

    /// Sends the lines; `true` once the daemon confirmed them (stored, duplicates or rejected).
    private mutating func send(_ lines: [String]) -> Bool {
        guard var transport = connection else { return false }
        do {
            let counts = try transport.deliver(lines)
            connection = transport
            emitter.update {
                $0.accepted += counts.accepted
                $0.duplicates += counts.duplicates
                $0.rejected += counts.rejected
                if let last = counts.lastRejection { $0.lastRejection = last }
            }
            return true
        } catch let busy as HTTPTransport.Busy {
            scheduleReconnect(after: busy.retryAfter, error: IngestClientError("the daemon is busy"))
            return false
        } catch {
            scheduleReconnect(after: nil, error: error)
            return false
        }
    }

    /// Sends the spill file's lines in order, removing each batch once confirmed.
    private mutating func replay(_ spill: SpillFile) {
        while connection != nil {
            let (lines, bytes) = spill.peek(maxLines: max(1, configuration.maxBatch))
            if lines.isEmpty { return }
            guard send(lines) else { return }
            // Counted before the lines leave the file: an empty spill file tells `waitUntilDelivered` the replay
            // is over, so the statistics must already say so.
            emitter.update { $0.replayed += lines.count }
            spill.removeFirst(bytes: bytes)
            emitter.progress.signal()
        }
    }
}
