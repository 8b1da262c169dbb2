import Foundation
import SelfHealHTTP
import Testing

/// `schema/openapi.yaml` is the description of the HTTP contract: every route of the server is in it (and
/// nothing else), and the server's answers match its schemas.
@Suite(.serialized) struct OpenAPITests {
    @Test func everyRouteIsDocumentedAndNothingElse() throws {
        let document = try OpenAPIDocument()
        var documented: Set<String> = []
        for (path, operations) in document.paths {
            for method in operations.keys where ["get", "post", "put", "delete", "patch", "head"].contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let served = Set(APIRoute.all.map { "\($0.methodName) \($0.pattern)" })
        #expect(documented == served)
        #expect(document.root["openapi"] as? String == "3.1.0")
    }

    @Test func answersMatchTheirSchemas() throws {
        let document = try OpenAPIDocument()
        let daemon = try HTTPDaemon()
        let body = """
            {"service":"checkout","kind":"breaker.opened","component":"db","id":"o1","attrs":{"failures":5}}
            {"service":"checkout","kind":"breaker.closed","component":"db","message":"back"}
            {"service":"portal","kind":"retry.exhausted","incident":"INC-1"}
            {"service":"portal","kind":"timeout.prevented"}
            {"service":"portal"}

            """
        let checks: [(method: String, pattern: String, path: String, body: String?, headers: [String: String])] = [
            ("POST", "/api/v1/events", "/api/v1/events", body, HTTPDaemon.authorized),
            ("POST", "/api/v1/events", "/api/v1/events", body, [:]),
            ("GET", "/healthz", "/healthz", nil, [:]),
            ("GET", "/api/v1/events", "/api/v1/events", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/events", "/api/v1/events?since=x", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/incidents", "/api/v1/incidents", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/incidents", "/api/v1/incidents?state=failed", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/incidents/{id}", "/api/v1/incidents/1", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/incidents/{id}", "/api/v1/incidents/2", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/incidents/{id}", "/api/v1/incidents/77", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/incidents/{id}", "/api/v1/incidents/x", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/stats", "/api/v1/stats", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/stats", "/api/v1/stats?service=portal", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/stats", "/api/v1/stats", nil, [:]),
            ("GET", "/api/v1/rejects", "/api/v1/rejects", nil, HTTPDaemon.authorized),
            ("GET", "/api/v1/rejects", "/api/v1/rejects?until=never", nil, HTTPDaemon.authorized),
        ]
        var statuses: Set<Int> = []
        for check in checks {
            let reply = try request(
                check.method,
                check.path,
                port: daemon.port,
                headers: check.headers,
                body: check.body.map { Array($0.utf8) }
            )
            statuses.insert(reply.status)
            #expect(reply.header("Content-Type") == "application/json", "\(check.path)")
            let schema = try document.responseSchema(check.pattern, check.method, reply.status, "application/json")
            let problems = try document.problems(try OpenAPIDocument.json(reply.text), schema)
            #expect(problems.isEmpty, "\(check.method) \(check.path) \(reply.status): \(problems)")
        }
        #expect(statuses == [200, 400, 401, 404])
        let metrics = try daemon.get("/metrics")
        _ = try document.responseSchema("/metrics", "GET", metrics.status, "text/plain")
    }
}
