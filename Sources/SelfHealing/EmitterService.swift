import Foundation
import ServiceLifecycle

extension SocketEventEmitter: Service {
    /// Runs the emitter as a swift-service-lifecycle service: starts the writer, and on graceful shutdown (or
    /// cancellation) drains it: every queued event is sent, or spilled when the daemon is away, within
    /// ``SocketEmitterConfiguration/shutdownTimeout``. Put it after the services that emit in the group's list, so
    /// it stops last.
    public func run() async throws {
        start()
        try? await gracefulShutdown()
        await drain()
    }

    /// Sends or spills every queued event and stops the writer, without blocking a task's thread.
    /// - Returns: `false` when the timeout passed first.
    @discardableResult
    public func drain() async -> Bool {
        let timeout = configuration.shutdownTimeout
        return await withCheckedContinuation { continuation in
            let thread = Thread { [self] in continuation.resume(returning: shutdown(timeout: timeout)) }
            thread.name = "selfheal-emitter-drain"
            thread.start()
        }
    }
}
