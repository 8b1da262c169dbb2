import Foundation
import Logging
import NIOCore
import NIOPosix
import SelfHealEvents
import SelfHealStore
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The connections the server has open, so that a graceful shutdown can stop reading from all of them.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var closing = false
    }

    private let state = Mutex(State())
    private let stopping = Atomic<Bool>(false)

    /// Whether the daemon is stopping (the framer then drops a final partial line).
    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    func add(_ channel: any Channel) {
        let closeNow = state.withLock { state in
            if state.closing { return true }
            state.channels[ObjectIdentifier(channel)] = channel
            return false
        }
        if closeNow { channel.close(mode: .input, promise: nil) }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Stops reading from every connection: what was read is still committed and its syncs answered.
    func stopReading() {
        stopping.store(true, ordering: .relaxed)
        let channels = state.withLock { state in
            state.closing = true
            return Array(state.channels.values)
        }
        for channel in channels { channel.close(mode: .input, promise: nil) }
    }
}

/// A connection accepted by the server, with the credentials of the process at the other end.
struct Connection: Sendable {
    var channel: NIOAsyncChannel<IngestChunk, ByteBuffer>
    var peer: Peer?
    /// The line sent before closing a connection that may not write (``PeerPolicy``); nil when it may.
    var refusal: ByteBuffer?
}

/// The socket side of the daemon: accepts connections on the UNIX socket, hands decoded lines to the writer and
/// writes replies in order. On graceful shutdown it stops accepting and reading, and returns once every line it
/// read has been handed over and every sync answered.
struct IngestServer: Service {
    let configuration: ServerConfiguration
    let group: MultiThreadedEventLoopGroup
    let queue: BoundedQueue<Submission>
    let logger: Logger
    let registry = ConnectionRegistry()
    /// Told when a connection opens (true) and closes (false), for the metrics; nil without `--http`.
    var connectionOpened: (@Sendable (Bool) -> Void)? = nil

    func run() async throws {
        let registry = registry
        let now: @Sendable () -> Int64 = { WallClock.nowMillis() }
        let (policy, logger) = (configuration.peerPolicy, logger)
        let serverChannel: NIOAsyncChannel<Connection, Never>
        do {
            serverChannel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelOption(
                    .recvAllocator,
                    value: AdaptiveRecvByteBufferAllocator(minimum: 4_096, initial: 65_536, maximum: 262_144)
                )
                .bind(unixDomainSocketPath: configuration.socketPath, cleanupExistingSocketFile: true) { channel in
                    Self.peerCredentials(of: channel).flatMapThrowing { credentials in
                        try channel.pipeline.syncOperations.addHandler(
                            LineFramer(now: now, shuttingDown: { registry.isStopping })
                        )
                        let asyncChannel = try NIOAsyncChannel<IngestChunk, ByteBuffer>(
                            wrappingChannelSynchronously: channel
                        )
                        registry.add(channel)
                        return Connection(
                            channel: asyncChannel,
                            peer: credentials.map { Peer(uid: $0.uid, pid: $0.pid) },
                            refusal: policy.refusal(credentials, logger: logger)
                        )
                    }
                }
        } catch {
            throw ServerError("cannot listen on \(configuration.socketPath): \(error)")
        }
        guard chmod(configuration.socketPath, mode_t(configuration.socketMode)) == 0 else {
            serverChannel.channel.close(promise: nil)
            throw ServerError(
                "cannot set mode \(String(configuration.socketMode, radix: 8)) on \(configuration.socketPath): "
                    + String(cString: strerror(errno))
            )
        }
        logger.info(
            "selfheal daemon started",
            metadata: [
                "socket": "\(configuration.socketPath)", "data_dir": "\(configuration.dataDirectory)",
                "durability": "\(configuration.durability.rawValue)", "version": "\(SelfHealVersion.current)",
            ]
        )
        defer { unlink(configuration.socketPath) }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { tasks in
                do {
                    try await serverChannel.executeThenClose { inbound in
                        for try await connection in inbound {
                            tasks.addTask {
                                await serve(connection)
                                registry.remove(connection.channel.channel)
                            }
                        }
                    }
                } catch ChannelError.alreadyClosed {
                    // Closed by the graceful shutdown below.
                }
            }
        } onGracefulShutdown: {
            logger.info("selfheal daemon stopping: no new connections, committing what was read")
            serverChannel.channel.close(promise: nil)
            registry.stopReading()
        }
    }

    /// `SO_PEERCRED` of a UNIX socket: the uid, gid and pid of the process that connected.
    private static func peerCredentials(of channel: any Channel) -> EventLoopFuture<PeerCredentials?> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(nil)
        }
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET),
            name: SocketOptionName(SO_PEERCRED)
        )
        return credentials.map { Optional($0) }.recover { _ in PeerCredentials?.none }
    }

    /// Serves one connection until the client closes it (or the daemon stops reading), never throwing:
    /// one connection's error never touches another.
    private func serve(_ connection: Connection) async {
        if let refusal = connection.refusal {
            // One line, then close: nothing it sent is read.
            try? await connection.channel.executeThenClose { _, outbound in try await outbound.write(refusal) }
            return
        }
        connectionOpened?(true)
        defer { connectionOpened?(false) }
        let eventLoop = connection.channel.channel.eventLoop
        let replies = BoundedQueue<EventLoopFuture<ByteBuffer>>(capacity: configuration.pendingRepliesPerConnection)
        do {
            try await connection.channel.executeThenClose { inbound, outbound in
                await withDiscardingTaskGroup { tasks in
                    tasks.addTask {
                        // Replies go out in the order their requests came in.
                        var writable = true
                        while let pending = await replies.popAll() {
                            for future in pending {
                                guard let reply = try? await future.get(), writable else { continue }
                                do { try await outbound.write(reply) } catch { writable = false }
                            }
                        }
                    }
                    do {
                        try await read(inbound, peer: connection.peer, eventLoop: eventLoop, replies: replies)
                    } catch {
                        logger.warning("client connection failed", metadata: ["error": "\(error)"])
                    }
                    replies.finish()
                }
            }
        } catch {
            logger.debug("closing a client connection failed", metadata: ["error": "\(error)"])
        }
    }

    private func read(
        _ inbound: NIOAsyncChannelInboundStream<IngestChunk>,
        peer: Peer?,
        eventLoop: any EventLoop,
        replies: BoundedQueue<EventLoopFuture<ByteBuffer>>
    ) async throws {
        let ledger = ConnectionLedger()
        var events: [IncomingEvent] = []
        var rejects: [RejectedLine] = []
        var rejected = 0
        var errorsSinceSync: [(line: Int, error: String)] = []

        func submit(sync: SyncRequest?) async {
            let submission = Submission(ledger: ledger, events: events, rejects: rejects, sync: sync)
            events = []
            rejects = []
            if !(await queue.push(submission, weight: submission.weight)) {
                sync?.reply.succeed(SyncAnswer(ok: false, line: Self.failedSync("the daemon is shutting down")))
            }
        }

        for try await chunk in inbound {
            for item in chunk.items {
                switch item {
                case .event(let event):
                    events.append(IncomingEvent(event: event, receivedAt: chunk.receivedAt, peer: peer))
                case .reject(let line, let error, let raw):
                    rejects.append(
                        RejectedLine(receivedAt: chunk.receivedAt, line: line, error: error, raw: raw, peer: peer)
                    )
                    rejected += 1
                    if errorsSinceSync.count < 100 { errorsSinceSync.append((line, error)) }
                case .control(.sync):
                    let promise = eventLoop.makePromise(of: SyncAnswer.self)
                    await submit(sync: SyncRequest(rejected: rejected, errors: errorsSinceSync, reply: promise))
                    errorsSinceSync = []
                    _ = await replies.push(promise.futureResult.map(\.line))
                case .control(.ping):
                    let pong = PongReply(version: SelfHealVersion.current).json + "\n"
                    _ = await replies.push(eventLoop.makeSucceededFuture(ByteBuffer(string: pong)))
                }
            }
            if !events.isEmpty || !rejects.isEmpty { await submit(sync: nil) }
        }
        if !events.isEmpty || !rejects.isEmpty { await submit(sync: nil) }
    }

    static func failedSync(_ message: String) -> ByteBuffer {
        ByteBuffer(string: SyncReply(failure: message).json + "\n")
    }
}

/// Linux's `struct ucred` (Swift's Glibc module hides it behind `_GNU_SOURCE`): pid, uid, gid.
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}
