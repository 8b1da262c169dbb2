import CoreMetrics
import Foundation
import Logging
import PostgresNIO
import SelfHealEvents
import SelfHealStore
import ServiceLifecycle
import Synchronization

/// The fleet's forwarder (SPEC section 10): reads committed events from the local log (read-only, never in the
/// writer's way) and ships them in seq order to the central store, each batch and the host's cursor in one
/// PostgreSQL transaction. While the central store is unreachable it retries with capped exponential backoff and
/// full jitter, and logs one line when the store goes away and one when it is back.
public final class Forwarder: Service, Sendable {
    /// What it forwards, where to, and how.
    public let configuration: ForwarderConfiguration
    private let logger: Logger
    private let metrics: ForwarderMetrics?
    private let sleep: @Sendable (Duration) async throws -> Void
    private let now: @Sendable () -> Int64
    private let random: @Sendable () -> Double

    /// Creates a forwarder.
    /// - Parameters:
    ///   - metricsFactory: where its metrics go (the daemon's `/metrics`); nil: none.
    ///   - sleep: waits (tests inject one); `now`: the wall clock in epoch milliseconds; `random`: a number in
    ///     `[0, 1]` for the jitter.
    public init(
        configuration: ForwarderConfiguration,
        logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
        now: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1_000) },
        random: @escaping @Sendable () -> Double = { Double.random(in: 0...1) }
    ) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metricsFactory.map { ForwarderMetrics(factory: $0) }
        self.sleep = sleep
        self.now = now
        self.random = random
    }

    /// Forwards until graceful shutdown or cancellation (a batch cut short rolls back and is sent again later).
    public func run() async throws {
        let store = try EventStore(StoreConfiguration(path: configuration.databasePath, readOnly: true))
        await cancelWhenGracefulShutdown { [self] in await forward(store) }
    }

    private struct Outage {
        var since: ContinuousClock.Instant
        var reason: String
    }

    private func forward(_ store: EventStore) async {
        var connection: PostgresConnection?
        var session: ForwardSession?
        var cursor: ForwardCursor?
        var outage: Outage?
        var attempt = 0
        // The last state of this host and store, so that the lag shown before the store first answers is right.
        var written = configuration.stateFile.flatMap { try? ForwarderState.read(path: $0) }
            .flatMap { $0.hostID == configuration.hostID && $0.store == "\(configuration.store)" ? $0 : nil }
        while !Task.isCancelled {
            var shipped = 0
            do {
                if session == nil {
                    let opened = try await FleetDatabase.connect(configuration.store, logger: logger)
                    connection = opened
                    let prepared = ForwardSession(connection: opened, hostID: configuration.hostID, logger: logger)
                    cursor = try await Self.withDeadline(connection: opened) { [logger] in
                        try await FleetDatabase.migrate(opened, logger: logger)
                        return try await prepared.prepare()
                    }
                    session = prepared
                }
                guard let session, let known = cursor else { continue }
                let lastSeq = try store.lastSeq()
                if lastSeq > known.seq {
                    let limit = configuration.batchLimit
                    let events = try store.events(after: known.seq, limit: limit)
                    let next = try await Self.withDeadline(connection: session.connection) {
                        try await session.ship(events, expected: known) { after throws in
                            try store.events(after: after, limit: limit)
                        }
                    }
                    shipped = Int(next.seq - known.seq)
                    cursor = next
                    metrics?.forwarded.increment(by: shipped)
                }
                if let outage = outage {
                    let away = ContinuousClock.now - outage.since
                    let seconds = String(
                        format: "%.1f",
                        Double(away.components.seconds) + Double(away.components.attoseconds) / 1e18
                    )
                    logger.notice(
                        "the central store is back; forwarding resumed",
                        metadata: [
                            "store": "\(configuration.store)", "away": "\(seconds)s",
                            "waiting": "\(max(0, lastSeq - known.seq))",
                        ]
                    )
                }
                outage = nil
                attempt = 0
            } catch {
                if Task.isCancelled { break }
                let reason = (error as? StoreError)?.message ?? FleetDatabase.describe(error)
                if outage == nil {
                    outage = Outage(since: .now, reason: reason)
                    logger.warning(
                        "the central store is unreachable; ingest goes on locally, forwarding retries",
                        metadata: ["store": "\(configuration.store)", "reason": "\(reason)"]
                    )
                }
                try? await connection?.close()
                connection = nil
                session = nil
            }
            let state = ForwarderState(
                store: "\(configuration.store)",
                hostID: configuration.hostID,
                up: outage == nil,
                forwardedSeq: cursor?.seq ?? written?.forwardedSeq ?? 0,
                error: outage?.reason,
                pid: getpid(),
                updatedAt: 0
            )
            observe(store, state: state, written: &written)
            do {
                if outage != nil {
                    try await sleep(configuration.backoff.delay(attempt: attempt, unit: random()))
                    attempt += 1
                } else if shipped == 0 {
                    try await sleep(configuration.pollInterval)
                }
            } catch {
                break
            }
        }
        // Closed from a task of its own: this one may be cancelled, and a cancelled close does not close.
        if let connection { Task { try? await connection.close() } }
    }

    /// How long the central store may take to answer one step (a batch, or connecting and migrating).
    static let answerLimit: Duration = .seconds(30)

    /// Runs `body`; when the store has not answered within ``answerLimit`` (a connection whose peer vanished
    /// without closing it, or a query written to a connection that had just closed, which postgres-nio never
    /// answers), closes the connection and throws without waiting for `body`. A cancelled task waits for `body`.
    static func withDeadline<T: Sendable>(
        connection: PostgresConnection,
        _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let race = DeadlineRace<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                race.start(continuation)
                let work = Task {
                    do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
                }
                Task {
                    try? await Task.sleep(for: answerLimit)
                    if race.finish(.failure(StoreError("the central store did not answer within \(answerLimit)"))) {
                        work.cancel()
                        try? await connection.close()
                    }
                }
            }
        } onCancel: {
            // Not closed here: closing a connection in the middle of a COPY trips a precondition in postgres-nio
            // (the process dies). The step runs to its end (at most answerLimit), the caller then stops; a batch
            // that commits meanwhile has moved the cursor with it, one that does not is sent again later.
        }
    }

    /// Updates the lag metrics and, when it changed, the state file.
    private func observe(_ store: EventStore, state: ForwarderState, written: inout ForwarderState?) {
        if let metrics {
            metrics.up.record(state.up ? 1 : 0)
            if let lag = try? ForwardLag(store: store, forwardedSeq: state.forwardedSeq, now: now()) {
                metrics.lagEvents.record(lag.events)
                metrics.lagSeconds.record(lag.seconds)
            }
        }
        guard let path = configuration.stateFile else { return }
        var unchanged = written
        unchanged?.updatedAt = 0
        guard unchanged != state else { return }
        var stamped = state
        stamped.updatedAt = now()
        do {
            try stamped.write(path: path)
            written = stamped
        } catch {
            logger.warning("cannot write the forwarder's state", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }
}

/// How far forwarding is behind the local log.
public struct ForwardLag: Sendable, Equatable {
    /// Local events not yet stored centrally.
    public var events: Int64
    /// The age of the oldest of them (now minus its receive time), seconds; 0 when there is none.
    public var seconds: Double

    /// The lag of a log whose events up to `forwardedSeq` are stored centrally.
    public init(store: EventStore, forwardedSeq: Int64, now: Int64) throws(StoreError) {
        let lastSeq = try store.lastSeq()
        events = max(0, lastSeq - forwardedSeq)
        if events > 0, let received = try store.receivedAt(seq: forwardedSeq + 1) {
            seconds = Double(max(0, now - received)) / 1_000
        } else {
            seconds = 0
        }
    }
}

/// The forwarder's metrics in the daemon's registry.
struct ForwarderMetrics: Sendable {
    let lagEvents: CoreMetrics.Recorder
    let lagSeconds: CoreMetrics.Recorder
    let up: CoreMetrics.Recorder
    let forwarded: CoreMetrics.Counter

    init(factory: any MetricsFactory) {
        lagEvents = CoreMetrics.Recorder(label: "selfheal_forward_lag_events", aggregate: false, factory: factory)
        lagSeconds = CoreMetrics.Recorder(label: "selfheal_forward_lag_seconds", aggregate: false, factory: factory)
        up = CoreMetrics.Recorder(label: "selfheal_forward_up", aggregate: false, factory: factory)
        forwarded = CoreMetrics.Counter(label: "selfheal_forward_events_total", factory: factory)
        lagEvents.record(0)
        lagSeconds.record(0)
        up.record(0)
    }
}

/// The first of a body, a timer and a cancellation to finish resumes the continuation; the others are ignored.
final class DeadlineRace<T: Sendable>: Sendable {
    private let state = Mutex<(continuation: CheckedContinuation<T, any Error>?, early: Result<T, any Error>?)>(
        (nil, nil)
    )

    func start(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Result<T, any Error>? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Whether this call was the first to finish.
    @discardableResult
    func finish(_ result: Result<T, any Error>) -> Bool {
        let (continuation, first) = state.withLock { state -> (CheckedContinuation<T, any Error>?, Bool) in
            if let continuation = state.continuation {
                state.continuation = nil
                state.early = result
                return (continuation, true)
            }
            if state.early != nil { return (nil, false) }
            state.early = result
            return (nil, true)
        }
        continuation?.resume(with: result)
        return first
    }
}
