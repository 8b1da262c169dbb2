import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SelfHealing
import SelfHealingHummingbird
import Testing

/// The README's library example, compiled and run (the router in process; events to a spill file, no daemon).
@Suite struct ReadmeServiceTests {
    struct AssistanceAPI: Sendable {
        func assistanceRequests(for user: String) async throws -> String { #"{"user":"\#(user)","requests":3}"# }
    }

    struct Database: Sendable {
        func ping() async throws {}
    }

    @Test func theReadmeServiceAnswersItsRouteAndItsHealthRoute() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("readme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let api = AssistanceAPI()
        let db = Database()

        let emitter = EventEmitter(
            configuration: .init(
                socketPath: directory.appendingPathComponent("ingest.sock").path,
                spillPath: directory.appendingPathComponent("portal-spill.ndjson").path
            )
        )
        let healing = Healing(service: "portal", sink: emitter)
        let routes = RouteHealing(service: "portal", sink: emitter)

        let router = Router()
        router.add(middleware: SelfHealingMiddleware(routes))
        router.get("/api/manager/assistance") { request, _ in
            let user = request.uri.queryParameters["user"].map(String.init) ?? "anonymous"
            return try await healing.run("assistance-api", cacheKey: "user-\(user)") {
                try await api.assistanceRequests(for: user)
            }
        }
        let monitor = healing.healthMonitor()
        monitor.register("database") {
            try await db.ping()
            return .healthy
        }
        HealthRoute(monitor: monitor).register(on: router)

        let app = Application(router: router, services: [emitter])
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/manager/assistance?user=7", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains(#""user":"7""#))
            }
            try await client.execute(uri: "/api/health", method: .get) { #expect($0.status == .ok) }
        }
    }
}
