import HTTPTypes
import Hummingbird
import NIOCore
import SelfHealEvents
import ServiceLifecycle

extension APIResponder {
    /// `GET /api/v1/stream`: with a `Last-Event-ID` the ring still holds, the events after it, else a snapshot
    /// (the active incidents and the last 24 hours' figures, without ids); then the live events.
    func stream(_ request: Request, _ query: QueryParameters) async throws -> Response {
        try query.allow([])
        let lastEventID = request.headers[HTTPField.Name("Last-Event-ID")!]
        let (replay, live) = hub.subscribe(lastEventID: lastEventID)
        var first = ["retry: 2000\n\n"]
        if let replay {
            first += replay
        } else {
            let now = WallClock.nowMillis()
            let snapshot = try await offLoop { [queries] in
                (try queries.activeIncidents(now: now), try queries.lastDayStats(now: now))
            }
            first += snapshot.0.map { "event: incident\ndata: \($0.json)\n\n" }
            first.append("event: stats\ndata: \(snapshot.1)\n\n")
        }
        let opening = first
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { [hub] writer in
                try await writer.write(ByteBuffer(string: opening.joined()))
                // The server stops before the publisher does, and waits for this response to end: end it on
                // graceful shutdown, or a connected browser would keep the daemon from stopping.
                try await withGracefulShutdownHandler {
                    for await text in live { try await writer.write(ByteBuffer(string: text)) }
                } onGracefulShutdown: {
                    hub.finishAll()
                }
                try await writer.finish(nil)
            }
        )
    }
}
