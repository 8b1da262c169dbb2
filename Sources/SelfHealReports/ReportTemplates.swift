import Foundation
import Mustache

/// The Mustache templates of reports and alerts: `report.txt`, `report.html`, `alert.txt`, `alert.html`.
///
/// Each is read from `reports/NAME.mustache` in a directory when the file exists there, so a team can change
/// wording and look without touching Swift; otherwise the default, embedded from the package's `reports/` at
/// build time, is used.
public struct ReportTemplates: Sendable {
    /// The template names.
    public static let names = ["report.txt", "report.html", "alert.txt", "alert.html"]

    private let templates: [String: MustacheTemplate]
    /// Where each template came from: a file path, or `built-in`.
    public let sources: [String: String]

    /// The built-in templates.
    public static func builtIn() throws(ReportError) -> ReportTemplates {
        try ReportTemplates(directory: nil)
    }

    /// Templates from `directory` where present there, the built-in ones otherwise.
    public init(directory: String?) throws(ReportError) {
        var templates: [String: MustacheTemplate] = [:]
        var sources: [String: String] = [:]
        for name in Self.names {
            var text = DefaultTemplates.files.first { $0.name == name }?.text
            var source = "built-in"
            if let directory {
                let path = (directory as NSString).appendingPathComponent("\(name).mustache")
                if FileManager.default.fileExists(atPath: path) {
                    do {
                        text = try String(contentsOfFile: path, encoding: .utf8)
                    } catch {
                        throw ReportError(.template, "cannot read template \(path): \(error.localizedDescription)")
                    }
                    source = path
                }
            }
            guard let text else { throw ReportError(.template, "no template \(name) and no built-in default") }
            do {
                templates[name] = try MustacheTemplate(string: text)
            } catch {
                throw ReportError(
                    .template,
                    "template \(source == "built-in" ? name : source) does not parse: \(error)"
                )
            }
            sources[name] = source
        }
        self.templates = templates
        self.sources = sources
    }

    /// Renders a template with a context.
    func render(_ name: String, _ context: [String: Any]) -> String {
        templates[name]?.render(context) ?? ""
    }
}

/// A failure of reporting with a code, a message a person can act on, and its cause.
public struct ReportError: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public enum Code: String, Sendable {
        case template, io, encoding, sendmail, arguments
    }

    /// What failed.
    public let code: Code
    /// The line for the person.
    public let message: String

    /// Creates an error.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
