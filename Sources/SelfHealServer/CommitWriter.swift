import Logging
import NIOCore
import SelfHealEvents
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

/// A `{"op":"sync"}` waiting for the commit that holds every line before it.
struct SyncRequest: Sendable {
    /// Lines rejected on the connection so far.
    var rejected: Int
    /// The lines rejected since the previous sync (at most 100).
    var errors: [(line: Int, error: String)]
    /// Fulfilled with the reply line once committed.
    var reply: EventLoopPromise<ByteBuffer>
}

/// Work for the writer from one connection: events and rejects to commit, then maybe a sync to answer.
struct Submission: Sendable {
    var ledger: ConnectionLedger
    var events: [IncomingEvent]
    var rejects: [RejectedLine]
    var sync: SyncRequest?

    var weight: Int { max(1, events.count + rejects.count) }
}

/// The single writer: takes everything queued, commits it in one transaction (group commit: one fsync per
/// batch under `--durability full`), then updates the connections' counts and answers their syncs.
struct CommitWriter: Service {
    let store: EventStore
    let queue: BoundedQueue<Submission>
    let logger: Logger

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
                    sync.reply.succeed(Self.syncReply(counts, sync: sync, lastSeq: result.lastSeq))
                }
            }
        case .failure(let error):
            logger.error(
                "commit failed",
                metadata: ["error": "\(error.message)", "events": "\(events.count)", "rejects": "\(rejects.count)"]
            )
            for submission in batch {
                guard let sync = submission.sync else { continue }
                sync.reply.succeed(ByteBuffer(string: SyncReply(failure: error.message).json + "\n"))
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
}
