// The pure part of HTTP ingest: a body's bytes, bounded as they arrive, then split into lines and decoded. It
// imports SelfHealEvents only, so that scripts/fuzz.sh compiles this very file into the `http-body` harness.
import SelfHealEvents

/// One line of an ingest body, decoded: what HTTP ingest keeps of it.
public enum BodyLine: Sendable, Equatable {
    /// A valid event.
    case event(Event)
    /// A rejected line: its 1-based number in the body, the error, its bytes (cut at 64 KiB).
    case reject(line: Int, error: String, raw: [UInt8])
}

/// Why an ingest body is refused whole: nothing of it is stored.
public enum IngestBodyError: Error, Sendable, Equatable {
    /// The body grew over the limit while it was read (`413`).
    case tooLarge(limit: Int)
    /// The transport ended before the whole body came (`400`).
    case cutShort

    /// The one-line error for the answer.
    public var message: String {
        switch self {
        case .tooLarge(let limit): "the body is larger than \(limit) bytes; send it in parts"
        case .cutShort: "the body was cut short: nothing of it is stored"
        }
    }
}

/// Collects an ingest body as its parts arrive, at most `limit` bytes, then gives its lines: all of them or,
/// once a part would pass the limit, none (SPEC section 9).
public struct IngestBodyReader: Sendable {
    /// The largest body accepted, in bytes.
    public let limit: Int
    private var bytes: [UInt8] = []

    /// A reader for a body of at most `limit` bytes.
    public init(limit: Int) { self.limit = limit }

    /// The bytes read so far.
    public var count: Int { bytes.count }

    /// Appends the next part of the body; throws `tooLarge` (keeping nothing of the part) if it passes the limit.
    public mutating func append(_ part: UnsafeRawBufferPointer) throws(IngestBodyError) {
        guard part.count <= limit - bytes.count else { throw .tooLarge(limit: limit) }
        bytes.append(contentsOf: part)
    }

    /// The body's lines, decoded (see `lines(of:)`).
    public func lines() -> [BodyLine] { bytes.withUnsafeBytes { Self.lines(of: $0) } }

    /// Splits an NDJSON body into lines and decodes them (SPEC section 3): `\n` ends a line, `\r\n` is tolerated,
    /// blank lines are skipped (but numbered), a final line without `\n` counts, a line over 64 KiB is rejected.
    /// Control lines (`{"op":...}`) are rejected: over HTTP the answer itself is the sync reply.
    public static func lines(of body: UnsafeRawBufferPointer) -> [BodyLine] {
        var lines: [BodyLine] = []
        var start = 0
        var number = 0
        while start < body.count {
            let end = body[start...].firstIndex(of: 0x0A) ?? body.count
            number += 1
            var line = UnsafeRawBufferPointer(rebasing: body[start..<end])
            start = end + 1
            if let last = line.last, last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line.dropLast()) }
            if WireDecoder.isBlank(line) { continue }
            do throws(LineError) {
                switch try WireDecoder.decode(line) {
                case .event(let event):
                    lines.append(.event(event))
                case .control(let request):
                    lines.append(reject(number, "\"op\":\"\(request.rawValue)\" \(controlOverHTTP)", line))
                }
            } catch {
                lines.append(reject(number, error.message, line))
            }
        }
        return lines
    }

    /// The end of the error for a control line in a body.
    public static let controlOverHTTP = "is for the socket; over HTTP the answer is the sync reply"

    private static func reject(_ number: Int, _ error: String, _ raw: UnsafeRawBufferPointer) -> BodyLine {
        .reject(line: number, error: error, raw: Array(raw.prefix(WireLimits.maximumLineBytes)))
    }
}
