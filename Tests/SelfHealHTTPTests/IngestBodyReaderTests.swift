import SelfHealEvents
import SelfHealHTTP
import Testing

/// The pure part of HTTP ingest (the file the `http-body` fuzz harness runs): limit, framing, decoding.
struct IngestBodyReaderTests {
    private func read(_ parts: [String], limit: Int = 1_024) throws -> [BodyLine] {
        var reader = IngestBodyReader(limit: limit)
        for part in parts {
            let bytes = Array(part.utf8)
            try bytes.withUnsafeBytes { raw in try reader.append(raw) }
        }
        return reader.lines()
    }

    @Test func linesAreNumberedAcrossPartsAndTheLastCountsWithoutNewline() throws {
        let lines = try read([
            "{\"service\":\"a\",\"kind\":\"retry.att", "empt\"}\r\n\n  \r\n{\"op\":\"sync\"}\n",
            "{\"service\":\"a\",\"kind\":\"nope\"}\n{\"service\":\"b\",\"kind\":\"retry.attempt\"}",
        ])
        #expect(lines.count == 4)
        guard case .event(let first) = lines[0], case .event(let last) = lines[3] else {
            Issue.record("lines 1 and 6 are events: \(lines)")
            return
        }
        #expect(first.service == "a")
        #expect(last.service == "b")
        guard case .reject(4, let control, let raw) = lines[1], case .reject(5, let unknown, _) = lines[2] else {
            Issue.record("lines 4 and 5 are rejected: \(lines)")
            return
        }
        #expect(control.contains("\"op\":\"sync\" is for the socket"))
        #expect(raw == Array("{\"op\":\"sync\"}".utf8))
        #expect(unknown.contains("unknown kind \"nope\""))
    }

    @Test func aBodyOverTheLimitIsRefusedWithoutKeepingThePart() {
        var reader = IngestBodyReader(limit: 10)
        let part = Array("0123456".utf8)
        #expect(throws: Never.self) {
            try part.withUnsafeBytes { raw in try reader.append(raw) }
        }
        #expect(throws: IngestBodyError.tooLarge(limit: 10)) {
            try part.withUnsafeBytes { raw in try reader.append(raw) }
        }
        #expect(reader.count == 7)
        #expect(IngestBodyError.tooLarge(limit: 10).message == "the body is larger than 10 bytes; send it in parts")
        #expect(throws: Never.self) { try read(["0123456789"], limit: 10) }
    }

    @Test func aLongLineIsRejectedCutAt64KiB() throws {
        let long =
            "{\"service\":\"a\",\"kind\":\"retry.attempt\",\"message\":\"" + String(repeating: "x", count: 70_000)
        let lines = try read([long + "\"}\n", "\n"], limit: 100_000)
        guard lines.count == 1, case .reject(1, let error, let raw) = lines[0] else {
            Issue.record("one rejected line: \(lines)")
            return
        }
        #expect(error == "line is longer than 65536 bytes")
        #expect(raw.count == 65_536)
    }
}
