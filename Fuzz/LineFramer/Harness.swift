// libFuzzer harness: the line framer (Sources/SelfHealServer/LineFramer.swift), compiled into the harness by
// scripts/fuzz.sh and fed through an EmbeddedChannel in chunks of varying size (derived from the input), then
// the client closes. The items it passes on must be what a plain split of the whole stream at '\n' gives: one
// per line that is not blank, numbered from 1, decoded as WireDecoder decodes the line alone, however the
// stream was cut.
import NIOCore
import NIOEmbedded
import SelfHealEvents

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLineFramer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let channel = EmbeddedChannel(handler: LineFramer(now: { 0 }, shuttingDown: { false }))
    var offset = 0
    var state = UInt32(truncatingIfNeeded: size) &* 2_654_435_761 | 1
    while offset < size {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        let length = min(size - offset, Int(state % 97) + 1)
        let chunk = channel.allocator.buffer(bytes: bytes[offset..<(offset + length)])
        do { try channel.writeInbound(chunk) } catch { fatalError("writeInbound failed: \(error)") }
        offset += length
    }
    channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
    var items: [IngestItem] = []
    while let chunk = try? channel.readInbound(as: IngestChunk.self) { items.append(contentsOf: chunk.items) }
    _ = try? channel.finish()

    var expected: [(line: Int, item: Result<WireLine, LineError>)] = []
    let segments = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
    for (index, segment) in segments.enumerated() {
        if index == segments.count - 1 && segment.isEmpty { break }
        var line = Array(segment)
        if line.last == 0x0D { line.removeLast() }
        let blank = line.withUnsafeBytes { WireDecoder.isBlank($0) }
        if blank { continue }
        expected.append((index + 1, Result { () throws(LineError) in try WireDecoder.decode(line) }))
    }
    guard items.count == expected.count else {
        fatalError("the framer passed on \(items.count) items, a split gives \(expected.count)")
    }
    for (item, want) in zip(items, expected) {
        switch (item, want.item) {
        case (.event(let event), .success(.event(let other))) where event == other: continue
        case (.control(let request), .success(.control(let other))) where request == other: continue
        case (.reject(let line, let error, _), .failure(let other)) where line == want.line && error == other.message:
            continue
        default: fatalError("line \(want.line): the framer gave \(item), a split gives \(want.item)")
        }
    }
    return 0
}
