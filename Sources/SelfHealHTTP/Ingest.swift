import Foundation
import NIOCore
import SelfHealEvents
import SelfHealStore
import Synchronization

/// The lines of one ingest body decoded as SPEC section 3 says, with what its sync reply reports.
public struct IngestBody: Sendable {
    /// The valid events, in line order.
    public var events: [IncomingEvent] = []
    /// The rejected lines, kept as the socket keeps them.
    public var rejects: [RejectedLine] = []
    /// The first 100 rejected lines: their 1-based number in the body and the error.
    public var errors: [(line: Int, error: String)] = []

    /// The lines of a body read whole (`IngestBodyReader.lines()`), all stamped `receivedAt`; rejected lines
    /// keep their number in the body and their error.
    public init(_ lines: [BodyLine], receivedAt: Int64) {
        for line in lines {
            switch line {
            case .event(let event):
                events.append(IncomingEvent(event: event, receivedAt: receivedAt, peer: nil))
            case .reject(let number, let error, let raw):
                rejects.append(RejectedLine(receivedAt: receivedAt, line: number, error: error, raw: raw, peer: nil))
                if errors.count < 100 { errors.append((number, error)) }
            }
        }
    }
}

/// What became of an ingest body handed to the writer.
public enum IngestOutcome: Sendable {
    /// Committed: the sync reply object of SPEC section 3 about this body.
    case committed(reply: String)
    /// The commit failed; nothing of the body may be assumed stored. The `ok:false` sync reply.
    case failed(reply: String)
    /// The writer's queue stayed full for the whole wait: nothing of the body was queued.
    case queueFull
    /// The daemon is stopping and takes no more bodies: nothing was queued.
    case shuttingDown
}

/// The daemon's single writer as the HTTP side sees it.
public protocol IngestWriter: Sendable {
    /// Queues a whole body for the writer, waiting at most `wait` for room (all or nothing), and returns
    /// once it is committed.
    func commit(_ body: IngestBody, waitingAtMost wait: Duration) async -> IngestOutcome
}

/// What the writer tells the HTTP side after each commit: for `/healthz`, `/metrics` and the stream.
public struct CommitReport: Sendable {
    /// Wall time of the commit.
    public var duration: Duration
    /// Events handed to the store (stored or duplicate).
    public var events: Int
    /// Per transport: events stored, duplicates, lines rejected.
    public var counts: [Transport: (accepted: Int, duplicates: Int, rejected: Int)]
    /// The log's last seq after the commit.
    public var lastSeq: Int64
    /// The ids of the incidents the commit opened, changed or ended.
    public var changedIncidents: [Int64]

    /// Creates a report.
    public init(
        duration: Duration,
        events: Int,
        counts: [Transport: (accepted: Int, duplicates: Int, rejected: Int)],
        lastSeq: Int64,
        changedIncidents: [Int64]
    ) {
        self.duration = duration
        self.events = events
        self.counts = counts
        self.lastSeq = lastSeq
        self.changedIncidents = changedIncidents
    }
}

/// Hears the writer's commits.
public protocol CommitObserver: Sendable {
    /// A commit succeeded.
    func committed(_ report: CommitReport)
    /// A commit failed with this message after `duration`.
    func commitFailed(_ message: String, duration: Duration)
}

/// A bound on the bodies held at once: a request waits (its body unread) until one of the permits is free.
/// `changed` hears how many are held and how many wait, for the metrics.
final class BodyPermits: Sendable {
    private struct State {
        var available: Int
        var held = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>
    private let changed: @Sendable (_ held: Int, _ waiting: Int) -> Void

    init(_ count: Int, changed: @escaping @Sendable (_ held: Int, _ waiting: Int) -> Void) {
        state = Mutex(State(available: count))
        self.changed = changed
    }

    func acquire() async {
        let granted = state.withLock { state in
            guard state.available > 0 else { return false }
            state.available -= 1
            state.held += 1
            changed(state.held, state.waiters.count)
            return true
        }
        if granted { return }
        await withCheckedContinuation { continuation in
            let now = state.withLock { state in
                if state.available > 0 {
                    state.available -= 1
                    state.held += 1
                    changed(state.held, state.waiters.count)
                    return true
                }
                state.waiters.append(continuation)
                changed(state.held, state.waiters.count)
                return false
            }
            if now { continuation.resume() }
        }
    }

    func release() {
        // The gauges are set under the lock (two atomic stores), so they never show an older count.
        let next: CheckedContinuation<Void, Never>? = state.withLock { state in
            guard !state.waiters.isEmpty else {
                state.available += 1
                state.held -= 1
                changed(state.held, 0)
                return nil
            }
            // The permit passes to the next waiter: as many held as before.
            let next = state.waiters.removeFirst()
            changed(state.held, state.waiters.count)
            return next
        }
        next?.resume()
    }
}
