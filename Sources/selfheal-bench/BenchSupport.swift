import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Small helpers shared by the benchmarks.
enum Bench {
    /// `--name value` from an argument list, or a default.
    static func option(_ arguments: [String], _ name: String, default value: String) -> String {
        guard let index = arguments.firstIndex(of: "--" + name), index + 1 < arguments.count else { return value }
        return arguments[index + 1]
    }

    /// A fresh temporary directory.
    static func temporaryDirectory(_ label: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("selfheal-bench-\(label)-\(UUID())")
        try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
        return path.path
    }

    /// Seconds taken by a body.
    static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
        let clock = ContinuousClock()
        let start = clock.now
        try await body()
        let elapsed = clock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// The median of some values.
    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// `1234567` as `1,234,567`; "-" for a figure not measured (NaN, as a run left out gives).
    static func grouped(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let digits = String(Int(value.rounded()))
        var result = ""
        for (index, character) in digits.reversed().enumerated() {
            if index > 0 && index % 3 == 0 { result.append(",") }
            result.append(character)
        }
        return String(result.reversed())
    }
}

extension String {
    /// The text padded with spaces on the right to a width.
    func padded(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

/// Prints a line at once (stdout is block-buffered when piped, and benchmarks run long).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

extension Process {
    /// Starts the process with no signal blocked. A process started from a thread of the cooperative pool
    /// inherits that thread's mask, which blocks SIGTERM: the child would never see the benchmark's SIGTERM.
    func runWithSignalsUnblocked() throws {
        let failure = Mutex<(any Error)?>(nil)
        let started = DispatchSemaphore(value: 0)
        Thread {
            var none = sigset_t()
            sigemptyset(&none)
            pthread_sigmask(SIG_SETMASK, &none, nil)
            do { try self.run() } catch { failure.withLock { $0 = error } }
            started.signal()
        }.start()
        started.wait()
        if let error = failure.withLock({ $0 }) { throw error }
    }
}
