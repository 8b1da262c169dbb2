// libFuzzer harness: the HTTP ingest body reader (Sources/SelfHealHTTP/IngestBodyReader.swift, the file the daemon's
// POST /api/v1/events runs), compiled into the harness by scripts/fuzz.sh. The input's first byte picks the limit
// (a multiple of 8 below 1 KiB, or the daemon's 8 MiB), the rest is the body, handed over in parts of 1 to 97
// bytes as a client's chunks arrive. Beyond "no crash" it checks:
// - all or nothing: a body over the limit is refused at the first part that passes it, keeping nothing of that
//   part; one within the limit is kept whole, byte for byte;
// - the lines are those of a plain split of the body at '\n' ('\r' before it dropped, blank lines skipped but
//   numbered, a final line without '\n' counted), each decoded alone by WireDecoder: every line that is not
//   blank gives exactly one item, an event or a reject with its number, its error and its bytes (so nothing
//   accepted is dropped, nothing rejected is lost), a control line a reject.
import SelfHealEvents

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPBody(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    guard size > 0 else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let limit = input[0] & 0x80 == 0 ? Int(input[0]) * 8 : 8 * 1_024 * 1_024
    let body = UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(input)[1...])

    var reader = IngestBodyReader(limit: limit)
    var offset = 0
    var state = UInt32(truncatingIfNeeded: size) &* 2_654_435_761 | 1
    while offset < body.count {
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        let length = min(body.count - offset, Int(state % 97) + 1)
        let before = reader.count
        do throws(IngestBodyError) {
            try reader.append(UnsafeRawBufferPointer(rebasing: body[offset..<(offset + length)]))
        } catch {
            guard error == .tooLarge(limit: limit), offset + length > limit, offset <= limit else {
                fatalError("refused \(error) at \(offset)+\(length) of \(body.count) bytes, limit \(limit)")
            }
            guard reader.count == before else { fatalError("a refused part left \(reader.count - before) bytes") }
            return 0
        }
        offset += length
    }
    guard body.count <= limit else { fatalError("a body of \(body.count) bytes passed a limit of \(limit)") }
    guard reader.count == body.count else { fatalError("kept \(reader.count) of \(body.count) bytes") }

    let lines = reader.lines()
    var expected: [BodyLine] = []
    let segments = body.split(separator: 0x0A, omittingEmptySubsequences: false)
    for (index, segment) in segments.enumerated() {
        if index == segments.count - 1 && segment.isEmpty { break }
        var line = Array(segment)
        if line.last == 0x0D { line.removeLast() }
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
        let number = index + 1
        do throws(LineError) {
            switch try WireDecoder.decode(line) {
            case .event(let event):
                expected.append(.event(event))
            case .control(let request):
                let error = "\"op\":\"\(request.rawValue)\" \(IngestBodyReader.controlOverHTTP)"
                expected.append(.reject(line: number, error: error, raw: line))
            }
        } catch {
            expected.append(.reject(line: number, error: error.message, raw: Array(line.prefix(65_536))))
        }
    }
    guard lines.count == expected.count else {
        fatalError("the reader gave \(lines.count) lines, a split gives \(expected.count)")
    }
    for (index, (line, want)) in zip(lines, expected).enumerated() where line != want {
        fatalError("item \(index): the reader gave \(line), a split gives \(want)")
    }
    return 0
}
