import NIOCore
import SelfHealEvents
import Synchronization

/// One line read from a connection, decoded.
enum IngestItem: Sendable {
    /// A valid event.
    case event(Event)
    /// A line that was rejected, with its 1-based number, error and raw bytes (cut at 64 KiB).
    case reject(line: Int, error: String, raw: [UInt8])
    /// A control request.
    case control(ControlRequest)
}

/// The lines of one socket read, decoded on the event loop; `receivedAt` stamps all of them.
struct IngestChunk: Sendable {
    var receivedAt: Int64
    var items: [IngestItem]
}

/// Splits the byte stream into lines and decodes each one (SPEC section 3): `\n` ends a line, `\r\n` is
/// tolerated, blank lines are skipped (but numbered), a line over 64 KiB is rejected and skipped up to the next
/// newline, and a final line without `\n` counts when the client closes, unless the daemon is shutting down.
/// Decoding happens here, on the socket threads, so the single writer only commits.
final class LineFramer: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = IngestChunk

    private var pending: ByteBuffer?
    private var lineNumber = 0
    private var discardingLongLine = false
    private var finished = false
    private let now: @Sendable () -> Int64
    private let shuttingDown: @Sendable () -> Bool

    init(now: @escaping @Sendable () -> Int64, shuttingDown: @escaping @Sendable () -> Bool) {
        self.now = now
        self.shuttingDown = shuttingDown
    }

    /// A connection that becomes active once the daemon is stopping is read no more (as those open then are):
    /// the registry cannot close its input before NIO has activated it.
    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        if shuttingDown() { context.close(mode: .input, promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        var items: [IngestItem] = []
        if var buffered = pending {
            pending = nil
            buffered.writeBuffer(&input)
            process(&buffered, into: &items)
            if buffered.readableBytes > 0 { pending = buffered }
        } else {
            process(&input, into: &items)
            if input.readableBytes > 0 { pending = input }
        }
        if !items.isEmpty {
            context.fireChannelRead(wrapInboundOut(IngestChunk(receivedAt: now(), items: items)))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { finish(context: context) }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(context: context)
        context.fireChannelInactive()
    }

    /// The client closed: its last line counts even without `\n` (not when the daemon stops reading).
    private func finish(context: ChannelHandlerContext) {
        guard !finished else { return }
        finished = true
        guard var rest = pending, !discardingLongLine, !shuttingDown() else {
            pending = nil
            return
        }
        pending = nil
        var items: [IngestItem] = []
        rest.withUnsafeReadableBytes { bytes in
            if bytes.count > WireLimits.maximumLineBytes + 1 {
                lineNumber += 1
                items.append(tooLong(bytes))
            } else {
                decodeLine(bytes, into: &items)
            }
        }
        rest.moveReaderIndex(to: rest.writerIndex)
        if !items.isEmpty {
            context.fireChannelRead(wrapInboundOut(IngestChunk(receivedAt: now(), items: items)))
        }
    }

    private func process(_ buffer: inout ByteBuffer, into items: inout [IngestItem]) {
        let consumed = buffer.withUnsafeReadableBytes { bytes -> Int in
            var start = 0
            while start < bytes.count {
                guard let newline = firstNewline(in: bytes, from: start) else {
                    let remaining = bytes.count - start
                    if discardingLongLine { return bytes.count }
                    // One byte of slack for a '\r' before the '\n'.
                    if remaining > WireLimits.maximumLineBytes + 1 {
                        lineNumber += 1
                        items.append(tooLong(UnsafeRawBufferPointer(rebasing: bytes[start...])))
                        discardingLongLine = true
                        return bytes.count
                    }
                    return start
                }
                if discardingLongLine {
                    discardingLongLine = false
                } else {
                    decodeLine(UnsafeRawBufferPointer(rebasing: bytes[start..<newline]), into: &items)
                }
                start = newline + 1
            }
            return start
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        if buffer.readableBytes == 0 { buffer.clear() }
    }

    private func firstNewline(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard let base = bytes.baseAddress, start < bytes.count else { return nil }
        guard let found = memchr(base + start, 0x0A, bytes.count - start) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    private func decodeLine(_ raw: UnsafeRawBufferPointer, into items: inout [IngestItem]) {
        lineNumber += 1
        var line = raw
        if let last = line.last, last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
        if WireDecoder.isBlank(line) { return }
        do {
            switch try WireDecoder.decode(line) {
            case .event(let event): items.append(.event(event))
            case .control(let request): items.append(.control(request))
            }
        } catch {
            items.append(
                .reject(line: lineNumber, error: error.message, raw: Array(line.prefix(WireLimits.maximumLineBytes)))
            )
        }
    }

    private func tooLong(_ bytes: UnsafeRawBufferPointer) -> IngestItem {
        .reject(
            line: lineNumber,
            error: "line is longer than \(WireLimits.maximumLineBytes) bytes",
            raw: Array(bytes.prefix(WireLimits.maximumLineBytes))
        )
    }
}

#if canImport(Glibc)
import Glibc
#endif
