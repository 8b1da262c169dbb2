import Foundation

/// Hands messages to a sendmail-compatible program: `PROGRAM -t -oi` with the message on its standard input
/// (`-t`: recipients from the headers; `-oi`: a lone `.` does not end the message).
public struct Sendmail: Sendable {
    /// The program's path.
    public let path: String

    /// Where a bare program name is looked for besides `PATH`.
    static let fallbackDirectories = ["/usr/sbin", "/usr/lib", "/usr/bin", "/sbin"]

    /// A sendmail program: a path, or a name looked up in `PATH`, `/usr/sbin`, `/usr/lib`.
    public init(
        program: String = "sendmail",
        environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(ReportError)
    {
        if program.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: program) else {
                throw ReportError(.sendmail, "\(program) is not an executable program")
            }
            path = program
            return
        }
        let directories =
            (environment["PATH"] ?? "").split(separator: ":").map(String.init) + Self.fallbackDirectories
        for directory in directories where !directory.isEmpty {
            let candidate = (directory as NSString).appendingPathComponent(program)
            if FileManager.default.isExecutableFile(atPath: candidate) {
                path = candidate
                return
            }
        }
        throw ReportError(
            .sendmail,
            "cannot find \(program) in PATH or \(Self.fallbackDirectories.joined(separator: ", ")): "
                + "install a mail transfer agent or pass --sendmail PATH"
        )
    }

    /// Sends one message; an exit status other than 0 is an error naming the program, the status and its stderr.
    public func send(_ message: [UInt8]) throws(ReportError) {
        // A program that exits without reading its input must not kill us with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-t", "-oi"]
        let input = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardError = errors
        process.standardOutput = errors
        do {
            try process.run()
        } catch {
            throw ReportError(.sendmail, "cannot run \(path): \(error.localizedDescription)")
        }
        // Write on another thread while this one drains stderr, so neither side can block the other.
        let writer = Thread {
            try? input.fileHandleForWriting.write(contentsOf: Data(message))
            try? input.fileHandleForWriting.close()
        }
        writer.start()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let text = String(decoding: output, as: UTF8.self)
                .split(whereSeparator: \.isNewline).joined(separator: " / ")
                .trimmingCharacters(in: .whitespaces)
            let how =
                process.terminationReason == .exit
                ? "exited with status \(process.terminationStatus)"
                : "was killed by signal \(process.terminationStatus)"
            throw ReportError(.sendmail, "\(path) -t -oi \(how)" + (text.isEmpty ? "" : ": \(text)"))
        }
    }
}
