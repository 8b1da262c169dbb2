import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The real `selfheal` executable built beside the tests (or `SELFHEAL_BIN`), run to completion with its output
/// in files, not pipes: a PostgreSQL server a test starts meanwhile would inherit a pipe and keep it open.
enum SelfhealBinary {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static let url: URL = {
        if let path = ProcessInfo.processInfo.environment["SELFHEAL_BIN"] { return URL(fileURLWithPath: path) }
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [
            argv0.deletingLastPathComponent().appendingPathComponent("selfheal"),
            Bundle.main.bundleURL.appendingPathComponent("selfheal"),
            Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("selfheal"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }()

    /// Runs `selfheal ARGS` (without the tests' own `SELFHEAL_STORE`, plus `environment`) to completion.
    static func run(
        _ arguments: [String],
        in directory: String = NSTemporaryDirectory(),
        environment: [String: String] = [:]
    ) throws -> Result {
        let out = (directory as NSString).appendingPathComponent("command-\(UUID().uuidString).out")
        let err = out + ".err"
        defer {
            unlink(out)
            unlink(err)
        }
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        var variables = ProcessInfo.processInfo.environment
        variables["SELFHEAL_STORE"] = nil
        variables.merge(environment) { $1 }
        process.environment = variables
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle(forWritingAtPath: out)
        process.standardError = FileHandle(forWritingAtPath: err)
        try process.run()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        )
    }
}
