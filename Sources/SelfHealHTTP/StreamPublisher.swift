import Foundation
import Logging
import NIOPosix
import SelfHealEvents
import ServiceLifecycle
import Synchronization

/// What commits changed since the stream last looked: the incidents they opened, changed or ended, and the
/// log's last seq.
final class PendingChanges: Sendable {
    private struct State {
        var incidents: [Int64] = []
        var pending: Set<Int64> = []
        var lastSeq: Int64 = 0
    }

    private let state = Mutex(State())
    private let wake: AsyncStream<Void>.Continuation
    /// Signalled after each commit that changed an incident (at most one wake-up waits).
    let wakes: AsyncStream<Void>

    init() {
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    func note(_ report: CommitReport) {
        let changed = state.withLock { state in
            state.lastSeq = max(state.lastSeq, report.lastSeq)
            for id in report.changedIncidents where state.pending.insert(id).inserted { state.incidents.append(id) }
            return !report.changedIncidents.isEmpty
        }
        if changed { wake.yield() }
    }

    /// Takes the ids of the incidents changed since the last call, in the order they first changed.
    func take() -> [Int64] {
        state.withLock { state in
            let ids = state.incidents
            state.incidents = []
            state.pending = []
            return ids
        }
    }

    /// The log's end when the daemon starts.
    func start(at seq: Int64) {
        state.withLock { $0.lastSeq = max($0.lastSeq, seq) }
    }

    /// The last seq committed.
    var lastSeq: Int64 { state.withLock { $0.lastSeq } }

    func finish() { wake.finish() }
}

/// Turns commits into the stream's events: an `incident` event for each incident a commit opened, changed or
/// ended, and a `stats` event with the last 24 hours' figures at most every 2 s while anything changes. Runs the
/// queries on a read-only store off the event loops; never in the writer's way.
struct StreamPublisher: Service {
    let hub: EventHub
    let queries: Queries
    let changes: PendingChanges
    let logger: Logger
    /// How long after the last client left the changes are still published (for reconnections).
    static let grace: Duration = .seconds(60)

    func run() async throws {
        let start = try? await NIOThreadPool.singleton.runIfActive { [queries] in try queries.lastSeq() }
        changes.start(at: start ?? 0)
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { tasks in
                tasks.addTask { await publishIncidents() }
                tasks.addTask { await publishStats() }
            }
        } onGracefulShutdown: {
            changes.finish()
            hub.finishAll()
        }
    }

    private func publishIncidents() async {
        for await _ in changes.wakes {
            let ids = changes.take()
            guard !ids.isEmpty else { continue }
            guard hub.isWatched(grace: Self.grace) else {
                hub.markGap()
                continue
            }
            do {
                let changed = try await NIOThreadPool.singleton.runIfActive { [queries] in
                    try queries.incidents(ids: ids, now: WallClock.nowMillis())
                }
                for incident in changed { hub.publish(event: "incident", data: incident) }
            } catch {
                logger.warning("stream: cannot read changed incidents", metadata: ["error": "\(error)"])
            }
            // Coalesce bursts of commits: at most ten incident queries a second.
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    private func publishStats() async {
        var published = changes.lastSeq
        var ticks = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .seconds(2))
            ticks += 1
            if ticks % 8 == 0 { hub.keepAlive() }
            let last = changes.lastSeq
            guard last != published, hub.isWatched(grace: Self.grace) else { continue }
            published = last
            do {
                let stats = try await NIOThreadPool.singleton.runIfActive { [queries] in
                    try queries.lastDayStats(now: WallClock.nowMillis())
                }
                hub.publish(event: "stats", data: stats)
            } catch {
                logger.warning("stream: cannot read the figures", metadata: ["error": "\(error)"])
            }
        }
    }
}
