import Logging
import NIOCore
import SelfHealEvents
import SelfHealHTTP
import SelfHealStore
import ServiceLifecycle
import Synchronization

/// What one connection has had committed so far; updated by the writer only, after each commit.
final class ConnectionLedger: Sendable {
    struct Counts {
        var accepted = 0
        var duplicates = 0
    }

    let counts = Mutex(Counts())
}

/// The answer to a sync: whether the commit succeeded, and the reply line.
struct SyncAnswer: Sendable {
    var ok: Bool
    var line: ByteBuffer
}

/// A `{"op":"sync"}` waiting for the commit that holds every line before it.
struct SyncRequest: Sendable {
    /// Lines rejected on the connection so far.
    var rejected: Int
    /// The lines rejected since the previous sync (at most 100).
    var errors: [(line: Int, error: String)]
    /// Fulfilled with the reply once committed.
    var reply: EventLoopPromise<SyncAnswer>
}

/// Work for the writer from one connection: events and rejects to commit, then maybe a sync to answer.
struct Submission: Sendable {
    var ledger: ConnectionLedger
    var events: [IncomingEvent]
    var rejects: [RejectedLine]
    var sync: SyncRequest?
    /// Where the lines came from, for the metrics.
    var transport: Transport = .socket

    var weight: Int { max(1, events.count + rejects.count) }
}

/// The single writer: takes everything queued, commits it in one transaction (group commit: one fsync per
/// batch under `--durability full`), then updates the connections' counts and answers their syncs.
struct CommitWriter: Service {
    let store: EventStore
    let queue: BoundedQueue<Submission>
    let logger: Logger
    /// Hears every commit (the HTTP side: health, metrics, stream); nil without `--http`.
    var observer: (any CommitObserver)? = nil

    func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                while let batch = await queue.popAll() { await commit(batch) }
            } onGracefulShutdown: {
                // The server has drained its connections by now (it shuts down first): commit what is left.
                queue.finish()
            }
        } onCancel: {
            // Cancelled (the group failed or the owner cancelled it): still commit what is queued, then stop.
            queue.finish()
        }
    }

    private func commit(_ batch: [Submission]) async {
        var events: [IncomingEvent] = []
        var rejects: [RejectedLine] = []
        for submission in batch {
            events.append(contentsOf: submission.events)
            rejects.append(contentsOf: submission.rejects)
        }
        let started = ContinuousClock.now
        let outcome: Result<AppendResult, StoreError>
        if events.isEmpty && rejects.isEmpty {
            outcome = Result { () throws(StoreError) in AppendResult(seqs: [], lastSeq: try store.lastSeq()) }
        } else {
            do {
                outcome = .success(try await store.appendAsync(events, rejects: rejects))
            } catch {
                outcome = .failure(error)
            }
        }
        if let observer { report(outcome, batch, events: events, since: started, to: observer) }
        switch outcome {
        case .success(let result):
            var offset = 0
            for submission in batch {
                let seqs = result.seqs[offset..<(offset + submission.events.count)]
                offset += submission.events.count
                let stored = seqs.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
                let counts = submission.ledger.counts.withLock { counts in
                    counts.accepted += stored
                    counts.duplicates += seqs.count - stored
                    return counts
                }
                if let sync = submission.sync {
                    sync.reply.succeed(
                        SyncAnswer(ok: true, line: Self.syncReply(counts, sync: sync, lastSeq: result.lastSeq))
                    )
                }
            }
        case .failure(let error):
            logger.error(
                "commit failed",
                metadata: ["error": "\(error.message)", "events": "\(events.count)", "rejects": "\(rejects.count)"]
            )
            for submission in batch {
                submission.sync?.reply.succeed(SyncAnswer(ok: false, line: IngestServer.failedSync(error.message)))
            }
        }
    }

    static func syncReply(_ counts: ConnectionLedger.Counts, sync: SyncRequest, lastSeq: Int64) -> ByteBuffer {
        let reply = SyncReply(
            accepted: counts.accepted,
            duplicates: counts.duplicates,
            rejected: sync.rejected,
            lastSeq: lastSeq,
            errors: sync.errors.map { SyncReply.LineFailure(line: $0.line, error: $0.error) }
        )
        return ByteBuffer(string: reply.json + "\n")
    }

    /// Tells the observer what the commit did, per transport.
    private func report(
        _ outcome: Result<AppendResult, StoreError>,
        _ batch: [Submission],
        events: [IncomingEvent],
        since started: ContinuousClock.Instant,
        to observer: any CommitObserver
    ) {
        let duration = ContinuousClock.now - started
        guard case .success(let result) = outcome else {
            if case .failure(let error) = outcome { observer.commitFailed(error.message, duration: duration) }
            return
        }
        var counts: [Transport: (accepted: Int, duplicates: Int, rejected: Int)] = [:]
        var offset = 0
        for submission in batch {
            var count = counts[submission.transport] ?? (0, 0, 0)
            let stored = result.seqs[offset..<(offset + submission.events.count)].reduce(0) { $0 + ($1 == nil ? 0 : 1) }
            count.accepted += stored
            count.duplicates += submission.events.count - stored
            count.rejected += submission.rejects.count
            offset += submission.events.count
            counts[submission.transport] = count
        }
        observer.committed(
            CommitReport(
                duration: duration,
                events: events.count,
                counts: counts,
                lastSeq: result.lastSeq,
                changedIncidents: result.changedIncidents
            )
        )
    }
}
