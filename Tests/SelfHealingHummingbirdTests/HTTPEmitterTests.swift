import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SelfHealing
import Synchronization
import Testing

/// A small real HTTP server answering `POST /api/v1/events` as SPEC section 9 says: NDJSON in, the sync reply
/// about this body out, `401` without the token, `503` with `Retry-After` while "busy". The daemon's own HTTP
/// side is built elsewhere; this stands in for it at the edge the emitter talks to.
final class IngestStandIn: Sendable {
    struct State {
        var stored: [Event] = []
        var ids: Set<String> = []
        var busy = false
        var unauthorized = 0
        var requests = 0
    }

    let state = Mutex(State())
    let token = "test-token-1"

    var stored: [Event] { state.withLock { $0.stored } }

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/api/v1/events") { request, context -> Response in
            var request = request
            guard request.headers[.authorization] == "Bearer \(self.token)" else {
                self.state.withLock { $0.unauthorized += 1 }
                return Self.json(.unauthorized, #"{"error":"a valid token is required"}"#)
            }
            if self.state.withLock({
                $0.requests += 1
                return $0.busy
            }) {
                return Self.json(.serviceUnavailable, #"{"error":"busy"}"#, retryAfter: "1")
            }
            let body = try await request.collectBody(upTo: 8 << 20)
            let text = String(buffer: body)
            var (accepted, duplicates, rejected) = (0, 0, 0)
            var errors: [String] = []
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.isEmpty {
                do {
                    guard case .event(let event) = try WireDecoder.decode(String(line)) else { continue }
                    let fresh = self.state.withLock { state -> Bool in
                        if let id = event.id, !state.ids.insert("\(event.service)/\(id)").inserted { return false }
                        state.stored.append(event)
                        return true
                    }
                    if fresh { accepted += 1 } else { duplicates += 1 }
                } catch {
                    rejected += 1
                    errors.append(#"{"line":\#(index + 1),"error":\#(JSONText.quoted(String(describing: error)))}"#)
                }
            }
            let reply =
                #"{"op":"sync","ok":true,"accepted":\#(accepted),"duplicates":\#(duplicates),"rejected":\#(rejected),"#
                + #""last_seq":0,"errors":[\#(errors.joined(separator: ","))]}"#
            return Self.json(.ok, reply)
        }
        return router
    }

    static func json(_ status: HTTPResponse.Status, _ body: String, retryAfter: String? = nil) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = retryAfter }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

@Suite(.serialized)
struct HTTPEmitterTests {
    static func emitter(port: Int, token: String, spill: String) -> EventEmitter {
        var configuration = EmitterConfiguration(
            httpURL: "http://127.0.0.1:\(port)/api/v1/events",
            token: token,
            spillPath: spill
        )
        configuration.idPrefix = "http"
        configuration.maxBatch = 50
        configuration.idleWait = .milliseconds(20)
        configuration.reconnectInitialDelay = .milliseconds(5)
        configuration.reconnectMaxDelay = .milliseconds(20)
        // No test here waits for a reply to time out: the default 10 s ran out under TSan with the whole suite
        // at once, which spilled and replayed the first batches and threw the counts off.
        configuration.replyTimeout = .seconds(60)
        return EventEmitter(configuration: configuration)
    }

    static func event(_ number: Int) -> Event {
        Event(service: "portal", kind: .batchCompleted, component: "spam-capture", message: "batch \(number)")
    }

    @Test func eventsArePostedAsNDJSONWithTheTokenSpilledWhileBusyAndReplayedOnce() async throws {
        let server = IngestStandIn()
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let spill = FileManager.default.temporaryDirectory.appendingPathComponent("spill-\(UUID().uuidString).ndjson")
            .path
        defer { try? FileManager.default.removeItem(atPath: spill) }
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let emitter = Self.emitter(port: port, token: server.token, spill: spill)
            emitter.start()
            for number in 1...120 { emitter.emit(Self.event(number)) }
            #expect(await Self.delivered(emitter))
            #expect(server.stored.count == 120)

            // Busy (503 + Retry-After): the emitter spills, then replays in order once the server takes events.
            server.state.withLock { $0.busy = true }
            for number in 121...150 { emitter.emit(Self.event(number)) }
            #expect(await Self.flushed(emitter))
            #expect(emitter.currentStatistics.spilled == 30)
            server.state.withLock { $0.busy = false }
            #expect(await Self.delivered(emitter))
            let statistics = emitter.currentStatistics
            #expect(statistics.accepted == 150 && statistics.replayed == 30 && statistics.dropped == 0)
            #expect(server.stored.map(\.message) == (1...150).map { "batch \($0)" })
            #expect(server.stored.map(\.id) == (1...150).map { "http-\($0)" })
            #expect(await emitter.drain())
        }
    }

    @Test func aWrongTokenIsNeverAcceptedAndTheEventsWaitInTheSpillFile() async throws {
        let server = IngestStandIn()
        let app = Application(router: server.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        let spill = FileManager.default.temporaryDirectory.appendingPathComponent("spill-\(UUID().uuidString).ndjson")
            .path
        defer { try? FileManager.default.removeItem(atPath: spill) }
        try await app.test(.live) { client in
            let emitter = Self.emitter(port: try #require(client.port), token: "wrong", spill: spill)
            emitter.start()
            for number in 1...10 { emitter.emit(Self.event(number)) }
            #expect(await Self.flushed(emitter))
            #expect(server.stored.isEmpty)
            #expect(server.state.withLock { $0.unauthorized } >= 1)
            #expect(emitter.currentStatistics.spilled == 10)
            #expect(emitter.currentStatistics.lastError?.contains("401") == true)
            #expect(await emitter.drain())
        }
    }

    /// The blocking waits run off the cooperative pool.
    // The waits return as soon as the events are through; their bounds only guard against a hang, loose enough
    // for the thread sanitizer on a loaded machine (10 s once ran out there, replaying after a 503).
    static func delivered(_ emitter: EventEmitter) async -> Bool {
        await offPool { emitter.waitUntilDelivered(timeout: .seconds(60)) }
    }

    static func flushed(_ emitter: EventEmitter) async -> Bool {
        await offPool { emitter.flush(timeout: .seconds(60)) }
    }

    static func offPool(_ body: @escaping @Sendable () -> Bool) async -> Bool {
        await withCheckedContinuation { continuation in Thread { continuation.resume(returning: body()) }.start() }
    }
}
