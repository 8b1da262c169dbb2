import Dispatch
import Foundation
import SelfHealEvents
import Synchronization

/// Where an emitter sends its events.
public enum EmitterDestination: Sendable, Equatable {
    /// The daemon's UNIX socket, e.g. `.selfheal/ingest.sock`: lines, then `{"op":"sync"}`.
    case socket(path: String)
    /// The daemon's HTTP ingest (SPEC section 9), e.g. `http://127.0.0.1:8470/api/v1/events`, with a Bearer token.
    case http(url: String, token: String)
}

/// The emitter's settings (the socket emitter's and the HTTP emitter's: they differ only in ``destination``).
public typealias EmitterConfiguration = SocketEmitterConfiguration

/// The emitter: the same for the socket and for HTTP (see ``EmitterDestination``).
public typealias EventEmitter = SocketEventEmitter

/// The socket emitter's settings.
public struct SocketEmitterConfiguration: Sendable {
    /// Where events go.
    public var destination: EmitterDestination
    /// The daemon's socket, e.g. `.selfheal/ingest.sock` (empty for an HTTP destination).
    public var socketPath: String {
        get {
            if case .socket(let path) = destination { return path }
            return ""
        }
        set { destination = .socket(path: newValue) }
    }
    /// Events held in memory while the writer is busy; beyond it events go to the spill file. Default 10,000.
    public var queueCapacity: Int = 10_000
    /// The most events written before one `{"op":"sync"}`. Default 500.
    public var maxBatch: Int = 500
    /// How long the idle writer sleeps before looking again (events wake it sooner). Default 200 ms.
    public var idleWait: Duration = .milliseconds(200)
    /// The spill file for events the daemon could not take; `nil` drops them instead (counted).
    public var spillPath: String? = nil
    /// The most bytes the spill file may hold. Default 16 MiB.
    public var spillMaxBytes: Int = 16 << 20
    /// The first delay before reconnecting to an absent daemon. Default 100 ms.
    public var reconnectInitialDelay: Duration = .milliseconds(100)
    /// The longest delay between reconnection attempts. Default 5 s.
    public var reconnectMaxDelay: Duration = .seconds(5)
    /// How long a sync reply may take before the connection is given up. Default 10 s.
    public var replyTimeout: Duration = .seconds(10)
    /// How long a graceful shutdown of the service (``SocketEventEmitter/run()``) may take to drain. Default 10 s.
    public var shutdownTimeout: Duration = .seconds(10)
    /// The prefix of the ids given to events without one; default a random one per emitter.
    public var idPrefix: String? = nil

    /// Creates a configuration with the documented defaults.
    /// - Parameters:
    ///   - socketPath: the daemon's socket.
    ///   - spillPath: the spill file, or `nil` for none.
    public init(socketPath: String, spillPath: String? = nil) {
        destination = .socket(path: socketPath)
        self.spillPath = spillPath
    }

    /// Creates a configuration for the daemon's HTTP ingest, with the documented defaults.
    /// - Parameters:
    ///   - httpURL: e.g. `http://127.0.0.1:8470/api/v1/events` (the path defaults to `/api/v1/events`).
    ///   - token: the Bearer token (one of the daemon's `--http-token-file`).
    ///   - spillPath: the spill file, or `nil` for none.
    public init(httpURL: String, token: String, spillPath: String? = nil) {
        destination = .http(url: httpURL, token: token)
        self.spillPath = spillPath
    }
}

/// What the emitter has done since it started.
public struct EmitterStatistics: Sendable, Equatable {
    /// Events handed to ``SocketEventEmitter/emit(_:)``.
    public var emitted = 0
    /// Events the daemon confirmed as stored (sync replies' `accepted`).
    public var accepted = 0
    /// Events the daemon already had (replays).
    public var duplicates = 0
    /// Events the daemon refused as invalid (not retried).
    public var rejected = 0
    /// Events written to the spill file.
    public var spilled = 0
    /// Events sent again from the spill file.
    public var replayed = 0
    /// Events lost: no spill file, or the spill file full.
    public var dropped = 0
    /// Whether the writer is connected to the daemon.
    public var isConnected = false
    /// The daemon's latest error for a rejected line, if any.
    public var lastRejection: String? = nil
    /// Why the latest delivery or connection failed, if one did.
    public var lastError: String? = nil
}

/// The sink that sends events to the daemon, over its socket or its HTTP ingest, without ever making the service
/// wait.
///
/// `emit` stamps the event with the time and puts it in a bounded in-memory queue (an event without an id gets one
/// when it is encoded: a per-emitter random prefix and a counter); a background thread writes the queue to the
/// daemon in batches, each followed by `{"op":"sync"}` to learn it is committed. When the daemon is away the thread
/// reconnects with capped exponential backoff and meanwhile writes events to the spill file (so does `emit` when
/// the queue is full); on reconnecting it replays the spill file first, in order. The ids make replays safe: the
/// daemon counts a repeat as a duplicate.
///
/// Run it as a swift-service-lifecycle `Service` (``run()``: it drains on graceful shutdown), or call
/// ``start()`` once and ``shutdown(timeout:)`` before exiting so queued events are sent or spilled.
public final class SocketEventEmitter: EventSink {
    private struct Queue {
        var events: [Event] = []
        var writerIdle = false
        var stopping = false
        var enqueued = 0
        var handled = 0
    }

    /// The emitter's settings.
    public let configuration: SocketEmitterConfiguration
    /// The spill file, when configured and openable.
    public let spill: SpillFile?
    private let queue = Mutex(Queue())
    private let statistics = Mutex(EmitterStatistics())
    private let wake = DispatchSemaphore(value: 0)
    /// Signalled by the writer whenever events are handled or the spill file shrinks.
    let progress = Progress()
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    private let counter = Atomic<UInt64>(0)
    private let idPrefix: String

    /// Creates an emitter; nothing is sent until ``start()``.
    /// - Parameter configuration: the socket, queue, spill file and backoff settings.
    public init(configuration: SocketEmitterConfiguration) {
        self.configuration = configuration
        spill = configuration.spillPath.flatMap { try? SpillFile(path: $0, maxBytes: configuration.spillMaxBytes) }
        var random = SystemRandomNumberGenerator()
        idPrefix = configuration.idPrefix ?? String(random.next() & 0xFFFF_FFFF_FFFF, radix: 36)
    }

    /// Starts the background writer (once; later calls do nothing).
    public func start() {
        guard started.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        let thread = Thread { [self] in
            var writer = EmitterWriter(emitter: self)
            writer.run()
            finished.signal()
        }
        thread.name = "selfheal-emitter"
        thread.start()
    }

    /// Queues the event; never blocks on the daemon. When the queue is full the event goes to the spill file.
    public func emit(_ event: consuming Event) {
        if event.timestamp == nil { event.timestamp = wallClockMilliseconds() }
        var pending: Event? = consume event
        let wakeWriter = queue.withLock { queue -> Bool in
            queue.enqueued += 1
            guard queue.events.count < configuration.queueCapacity, !queue.stopping else {
                queue.handled += 1
                return false
            }
            queue.events.append(pending.take()!)
            let idle = queue.writerIdle
            queue.writerIdle = false
            return idle
        }
        if wakeWriter { wake.signal() }
        if let overflow = pending { spillOrDrop([line(for: overflow)], waiting: false) }
    }

    /// What the emitter has done so far.
    public var currentStatistics: EmitterStatistics {
        var current = statistics.withLock { $0 }
        current.emitted = queue.withLock { $0.enqueued }
        return current
    }

    /// Waits until every event emitted before the call is confirmed by the daemon, spilled or dropped.
    /// Blocks the calling thread: for tests, examples and the end of a process, not for request paths.
    /// - Returns: `false` when `timeout` passed first.
    @discardableResult
    public func flush(timeout: Duration = .seconds(10)) -> Bool {
        let target = queue.withLock { $0.enqueued }
        let deadline = Date().addingTimeInterval(max(0, timeout.seconds))
        wake.signal()
        return progress.wait(until: deadline) { queue.withLock { $0.handled } >= target }
    }

    /// Waits until every event emitted before the call is confirmed by the daemon and the spill file is empty
    /// (replayed). Blocks the calling thread: for tests and the end of a process.
    /// - Returns: `false` when `timeout` passed first (the daemon is away, say).
    @discardableResult
    public func waitUntilDelivered(timeout: Duration = .seconds(10)) -> Bool {
        let deadline = Date().addingTimeInterval(max(0, timeout.seconds))
        guard flush(timeout: timeout) else { return false }
        wake.signal()
        return progress.wait(until: deadline) { spill?.isEmpty ?? true }
    }

    /// Stops the writer after it has sent or spilled every queued event.
    /// - Returns: `false` when `timeout` passed first.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(10)) -> Bool {
        queue.withLock { $0.stopping = true }
        guard started.load(ordering: .acquiring) else {
            let pending = queue.withLock { queue -> [Event] in
                defer { queue.events.removeAll() }
                return queue.events
            }
            spillOrDrop(pending.map(line(for:)))
            return true
        }
        wake.signal()
        let milliseconds = Int(max(0, timeout.milliseconds))
        return finished.wait(timeout: .now() + .milliseconds(milliseconds)) == .success
    }

    // MARK: For the writer

    /// Takes up to `maxBatch` queued events, and says whether the emitter is stopping.
    func takeBatch() -> (events: [Event], stopping: Bool) {
        queue.withLock { queue in
            let count = min(queue.events.count, max(1, configuration.maxBatch))
            let batch = Array(queue.events.prefix(count))
            queue.events.removeFirst(count)
            if queue.events.isEmpty, batch.isEmpty { queue.writerIdle = true }
            return (batch, queue.stopping)
        }
    }

    /// The event's wire line, with an id given here when it has none (once per event: the line is what is kept
    /// in the spill file and replayed). Done off the caller's path, by the writer, to keep `emit` cheap.
    func line(for event: Event) -> String {
        guard event.id == nil else { return event.wireLine }
        var event = event
        event.id = idPrefix + "-" + String(counter.wrappingAdd(1, ordering: .relaxed).newValue)
        return event.wireLine
    }

    /// Whether ``shutdown(timeout:)`` was called.
    var isStopping: Bool { queue.withLock { $0.stopping } }

    func markHandled(_ count: Int) {
        queue.withLock { $0.handled += count }
        progress.signal()
    }

    func waitForWork(_ duration: Duration) {
        let milliseconds = Int(max(1, duration.milliseconds))
        _ = wake.wait(timeout: .now() + .milliseconds(milliseconds))
        queue.withLock { $0.writerIdle = false }
    }

    func update(_ body: (inout EmitterStatistics) -> Void) {
        statistics.withLock { statistics in body(&statistics) }
    }

    /// Writes lines to the spill file, or counts them as dropped when there is none, it is full, or (when not
    /// `waiting`, on the caller's path) another thread is using it.
    func spillOrDrop(_ lines: [String], waiting: Bool = true) {
        guard !lines.isEmpty else { return }
        let written = spill?.append(lines, waiting: waiting) ?? 0
        statistics.withLock {
            $0.spilled += written
            $0.dropped += lines.count - written
        }
    }
}

/// A condition the writer signals and blocking waiters (flush, tests, shutdown) wait on, instead of polling.
final class Progress: @unchecked Sendable {
    // NSCondition is thread-safe; it is only reached through these two methods.
    private let condition = NSCondition()

    func signal() {
        condition.lock()
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until `done` holds or `deadline` passes; `true` when it holds.
    func wait(until deadline: Date, _ done: () -> Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        // The writer changes the state before it signals under this lock, so no wake-up is lost.
        while !done() {
            if !condition.wait(until: deadline) { return done() }
        }
        return true
    }
}
