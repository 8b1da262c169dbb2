import ArgumentParser
import Dispatch
import Foundation
import SelfHealHTTP

#if canImport(Glibc)
import Glibc
#endif

extension DemoCommand {
    func validate() throws {
        do { _ = try ListenAddress(parsing: http) } catch { throw ValidationError(error.message) }
    }

    /// `--dashboard`: the tour is over and the daemon keeps serving the demo's store over HTTP; prints the
    /// dashboard's URL (on the demo's last day) and waits for SIGINT or SIGTERM, then stops the daemon.
    func serveDashboard(_ daemon: Process, directory: String) throws(CLIError) {
        // Before the URL is printed: a signal from then on stops the demo cleanly.
        let stop = StopSignals(daemon)
        let addressFile = directory + "/http.address"
        var address: String?
        // The daemon writes the bound address once it listens; it answered on the socket already.
        for _ in 0..<500 {
            if let text = try? String(contentsOfFile: addressFile, encoding: .utf8), text.hasSuffix("\n") {
                address = text.trimmingCharacters(in: .whitespacesAndNewlines)
                break
            }
            guard daemon.isRunning else { break }
            usleep(20_000)
        }
        guard let address else {
            Self.stop(daemon)
            let log = (try? String(contentsOfFile: directory + "/daemon.log", encoding: .utf8)) ?? ""
            throw CLIError(
                "the daemon does not serve HTTP on \(http): \(log.split(separator: "\n").last ?? "no output")"
            )
        }
        say("\n4. The dashboard of 2025-11-25 (live, the last 24 hours, is one click away):\n")
        say("   http://\(address)/#day=2025-11-25")
        say("\n   The daemon serves \(directory) until Ctrl-C.")
        stop.wait()
        Self.stop(daemon)
        say("\nThe daemon stopped; its data stays in \(directory).")
    }
}

/// SIGINT and SIGTERM, taken from their default action (ending the process) once made: ``wait()`` returns on
/// either, or when the daemon exits (Ctrl-C in a terminal signals it too).
private struct StopSignals {
    private let woken = DispatchSemaphore(value: 0)
    private let sources: [any DispatchSourceSignal]
    private let daemon: Process

    init(_ daemon: Process) {
        self.daemon = daemon
        let woken = woken
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { woken.signal() }
            source.resume()
            return source
        }
        daemon.terminationHandler = { _ in woken.signal() }
    }

    func wait() {
        if daemon.isRunning { woken.wait() }
        sources.forEach { $0.cancel() }
    }
}
