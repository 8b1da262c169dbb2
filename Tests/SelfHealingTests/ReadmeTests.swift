import Foundation
import SelfHealing
import Testing

/// The README's example, compiled and run (against a socket with no daemon: events go to the spill file).
@Suite struct ReadmeTests {
    struct AssistanceAPI {
        func assistanceRequests() async throws -> [String] { ["Maria needs help with task 4512"] }
    }

    struct Message {
        var id = "abc123"
        var status = RawStatus.promoted
    }

    @Test func readmeExampleRuns() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let socketPath = directory.appendingPathComponent("ingest.sock").path
        let spillPath = directory.appendingPathComponent("portal-spill.ndjson").path
        let api = AssistanceAPI()
        let message = Message()

        let emitter = SocketEventEmitter(configuration: .init(socketPath: socketPath, spillPath: spillPath))
        emitter.start()
        let healing = Healing(service: "portal", sink: emitter)
        let requests = try await healing.run("/api/manager/assistance") { try await api.assistanceRequests() }
        let messages = healing.transitions(
            "message",
            component: "spam-capture",
            allowed: [RawStatus.ready: [.spamReview, .promoted], .spamReview: [.ready, .spamArchived]]
        )
        #expect(throws: TransitionError<RawStatus>.self) {
            try messages.validate(id: message.id, from: message.status, to: .spamReview, operation: "spam-capture")
        }

        #expect(requests.count == 1)
        #expect(emitter.shutdown(timeout: .seconds(10)))
        #expect(emitter.spill?.peek(maxLines: 10).lines.count == 1)  // the transition.blocked event
    }
}
