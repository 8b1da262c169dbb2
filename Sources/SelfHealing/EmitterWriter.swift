import Foundation
import SelfHealEvents

/// The socket emitter's background writer: owns the connection, sends batches, spills, reconnects, replays.
/// Lives on the emitter's thread only.
struct EmitterWriter {
    private let emitter: SocketEventEmitter
    private let configuration: SocketEmitterConfiguration
    private var connection: IngestClient?
    private var delay: Duration
    private var nextAttempt = ContinuousClock.now
    /// The counts of the connection's latest sync reply (they are cumulative per connection).
    private var previous = (accepted: 0, duplicates: 0, rejected: 0)

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
            connection = try IngestClient(
                socketPath: configuration.socketPath,
                timeout: max(0.001, configuration.replyTimeout.seconds)
            )
            delay = configuration.reconnectInitialDelay
            previous = (0, 0, 0)
            emitter.update { $0.isConnected = true }
        } catch {
            scheduleReconnect()
        }
    }

    private mutating func scheduleReconnect() {
        connection = nil
        nextAttempt = ContinuousClock.now.advanced(by: delay)
        delay = min(configuration.reconnectMaxDelay, delay * 2)
        emitter.update { $0.isConnected = false }
    }

    /// Sends the lines and a sync; `true` once the daemon confirmed them (stored, duplicates or rejected).
    private mutating func send(_ lines: [String]) -> Bool {
        guard let connection else { return false }
        do {
            for line in lines { try connection.send(line: line) }
            let reply = try connection.sync()
            guard reply.ok else {
                scheduleReconnect()
                return false
            }
            let delta = (
                reply.accepted - previous.accepted, reply.duplicates - previous.duplicates,
                reply.rejected - previous.rejected
            )
            previous = (reply.accepted, reply.duplicates, reply.rejected)
            emitter.update {
                $0.accepted += delta.0
                $0.duplicates += delta.1
                $0.rejected += delta.2
                if let last = reply.errors.last { $0.lastRejection = "line \(last.line): \(last.error)" }
            }
            return true
        } catch {
            scheduleReconnect()
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
        }
    }
}
