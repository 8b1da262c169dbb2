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
///
/// A graceful shutdown must not drop a connection NIO is still setting up: the accept loop would never see it,
/// and its `NIOAsyncChannel`, never run, fails NIO's assertion. So the registry counts the connections being set
/// up, from the child channel's initializer until the accept loop takes them; once stopping, new ones are
/// refused before they are wrapped, and the server channel is closed only when the last one in setup arrived.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var closing = false
        /// Connections between their initializer and the accept loop.
        var settingUp = 0
        /// What to do once stopping and nothing is being set up (close the server channel).
        var whenSettled: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())
    private let stopping = Atomic<Bool>(false)

    /// Whether the daemon is stopping (the framer then drops a final partial line).
    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// A connection starts being set up; false once the daemon is stopping, when it is to be refused (its
    /// initializer fails before wrapping it, and NIO closes it). Each true is followed by one ``endSetup()``.
    func beginSetup(_ channel: any Channel) -> Bool {
        state.withLock { state in
            if state.closing { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            state.settingUp += 1
            return true
        }
    }

    /// A connection set up reached the accept loop, or its setup failed.
    func endSetup() {
        let settled = state.withLock { state -> (@Sendable () -> Void)? in
            state.settingUp -= 1
            guard state.closing, state.settingUp == 0 else { return nil }
            defer { state.whenSettled = nil }
            return state.whenSettled
        }
        settled?()
    }

    func remove(_ channel: any Channel) {
        _ = state.withLock { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Stops reading from every connection (what was read is still committed and its syncs answered), and calls
    /// `closeServer` once no connection is being set up any more.
    func stopReading(thenCloseServer closeServer: @escaping @Sendable () -> Void) {
        stopping.store(true, ordering: .relaxed)
        let (channels, closeNow) = state.withLock { state in
            state.closing = true
            if state.settingUp > 0 { state.whenSettled = closeServer }
            return (Array(state.channels.values), state.settingUp == 0)
        }
        if closeNow { closeServer() }
        // On each channel's event loop, and only once it is active: closing the input of a connection NIO is
        // still registering breaks its precondition (a connection accepted as the daemon stopped crashed it).
        // One not active yet closes its own input when it becomes active (``LineFramer``), as `stopping` is set.
        for channel in channels {
            channel.eventLoop.execute {
                if channel.isActive { channel.close(mode: .input, promise: nil) }
            }
        }
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
                    guard registry.beginSetup(channel) else {
                        return channel.eventLoop.makeFailedFuture(ServerError("the daemon is stopping"))
                    }
                    return Self.peerCredentials(of: channel).flatMapThrowing { credentials in
                        try channel.pipeline.syncOperations.addHandler(
                            LineFramer(now: now, shuttingDown: { registry.isStopping })
                        )
                        let asyncChannel = try NIOAsyncChannel<IngestChunk, ByteBuffer>(
                            wrappingChannelSynchronously: channel
                        )
                        return Connection(
                            channel: asyncChannel,
                            peer: credentials.map { Peer(uid: $0.uid, pid: $0.pid) },
                            refusal: policy.refusal(credentials, logger: logger)
                        )
                    }
                    .flatMapErrorThrowing { error in
                        registry.remove(channel)
                        registry.endSetup()
                        throw error
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
                            registry.endSetup()
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
            let server = serverChannel.channel
            registry.stopReading(thenCloseServer: { server.close(promise: nil) })
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
