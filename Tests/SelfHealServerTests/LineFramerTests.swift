import NIOCore
import NIOEmbedded
import SelfHealEvents
import Testing

@testable import SelfHealServer

/// Framing on an `EmbeddedChannel`: lines split across reads, limits, line ends, the last line.
@Suite struct LineFramerTests {
    final class Flag: Sendable {
        let value: Bool
        init(_ value: Bool) { self.value = value }
    }

    static func channel(stopping: Bool = false) throws -> EmbeddedChannel {
        let flag = Flag(stopping)
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            LineFramer(now: { 42 }, shuttingDown: { flag.value })
        )
        return channel
    }

    /// Everything the framer has passed on, as (line, description) pairs.
    static func items(_ channel: EmbeddedChannel) throws -> [String] {
        var items: [String] = []
        while let chunk = try channel.readInbound(as: IngestChunk.self) {
            #expect(chunk.receivedAt == 42)
            for item in chunk.items {
                switch item {
                case .event(let event): items.append("event \(event.service) \(event.kind.name)")
                case .reject(let line, let error, let raw): items.append("reject \(line) \(error) \(raw.count)")
                case .control(let request): items.append("control \(request.rawValue)")
                }
            }
        }
        return items
    }

    @Test func linesSplitAcrossReadsAreJoined() throws {
        let channel = try Self.channel()
        let text =
            #"{"service":"a","kind":"x.t"}"# + "\n" + #"{"op":"sync"}"# + "\r\n\n   \n"
            + #"{"service":"b","kind":"x.u"}"# + "\n"
        let bytes = Array(text.utf8)
        for start in stride(from: 0, to: bytes.count, by: 7) {
            try channel.writeInbound(ByteBuffer(bytes: bytes[start..<min(start + 7, bytes.count)]))
        }
        #expect(try Self.items(channel) == ["event a x.t", "control sync", "event b x.u"])
    }

    @Test func rejectsCarryTheirLineNumberCountingBlankLines() throws {
        let channel = try Self.channel()
        try channel.writeInbound(ByteBuffer(string: "\n" + #"{"service":"a"}"# + "\n\n" + #"{"op":"x"}"# + "\n"))
        #expect(
            try Self.items(channel) == [
                #"reject 2 missing required field "kind" 15"#, #"reject 4 unknown op "x" 10"#,
            ]
        )
    }

    @Test func anOverlongLineIsRejectedOnceAndSkippedToItsNewline() throws {
        let channel = try Self.channel()
        let long = Array(repeating: UInt8(ascii: "a"), count: 40_000)
        try channel.writeInbound(ByteBuffer(bytes: long))
        try channel.writeInbound(ByteBuffer(bytes: long))
        #expect(try Self.items(channel) == ["reject 1 line is longer than 65536 bytes 65536"])
        try channel.writeInbound(
            ByteBuffer(bytes: long + [0x0A] + Array(#"{"service":"a","kind":"x.t"}"#.utf8) + [0x0A])
        )
        #expect(try Self.items(channel) == ["event a x.t"])
        // One read holding a whole over-long line with its newline.
        try channel.writeInbound(ByteBuffer(bytes: long + long + [0x0A]))
        #expect(try Self.items(channel) == ["reject 3 line is longer than 65536 bytes 65536"])
    }

    @Test func aLineOfExactly64KiBPlusCRLFIsAccepted() throws {
        let channel = try Self.channel()
        let prefix = #"{"service":"a","kind":"x.t","attrs":{"p":""#
        let line = prefix + String(repeating: "p", count: 65_536 - prefix.utf8.count - 3) + #""}}"#
        #expect(line.utf8.count == 65_536)
        try channel.writeInbound(ByteBuffer(string: line + "\r"))
        try channel.writeInbound(ByteBuffer(string: "\n"))
        #expect(try Self.items(channel) == ["event a x.t"])
    }

    @Test func theLastLineWithoutNewlineCountsWhenTheClientCloses() throws {
        let channel = try Self.channel()
        try channel.writeInbound(ByteBuffer(string: #"{"service":"a","kind":"x.t"}"#))
        #expect(try Self.items(channel).isEmpty)
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try Self.items(channel) == ["event a x.t"])
    }

    @Test func butNotWhenTheDaemonStops() throws {
        let channel = try Self.channel(stopping: true)
        try channel.writeInbound(ByteBuffer(string: #"{"service":"a","kind":"x.t"}"#))
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(try Self.items(channel).isEmpty)
    }
}
