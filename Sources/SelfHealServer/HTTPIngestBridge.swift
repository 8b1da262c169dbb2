import NIOCore
import NIOPosix
import SelfHealHTTP
import SelfHealStore

/// HTTP ingest into the daemon's single writer: a body becomes one submission with its own ledger (so the
/// reply's counts and line numbers are about this body) and a sync, queued whole or not at all.
struct HTTPIngestBridge: IngestWriter {
    let queue: BoundedQueue<Submission>
    let eventLoop: any EventLoop

    func commit(_ body: IngestBody, waitingAtMost wait: Duration) async -> IngestOutcome {
        let promise = eventLoop.makePromise(of: SyncAnswer.self)
        let submission = Submission(
            ledger: ConnectionLedger(),
            events: body.events,
            rejects: body.rejects,
            sync: SyncRequest(rejected: body.rejects.count, errors: body.errors, reply: promise),
            transport: .http
        )
        switch await queue.offer(submission, weight: submission.weight, waitingAtMost: wait) {
        case .queued:
            break
        case .full:
            promise.fail(ChannelError.ioOnClosedChannel)
            return .queueFull
        case .finished:
            promise.fail(ChannelError.ioOnClosedChannel)
            return .shuttingDown
        }
        guard let reply = try? await promise.futureResult.get() else { return .shuttingDown }
        let text = String(buffer: reply.line)
        return reply.ok ? .committed(reply: text) : .failed(reply: text)
    }
}
