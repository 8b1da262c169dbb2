import HTTPTypes
import Hummingbird
import NIOCore

/// The dashboard's files (SPEC section 9.1), embedded from dashboard/ at build time: the page is a client of
/// the API only, so serving it is serving four constant files.
enum Dashboard {
    /// Each file's bytes and content type, by its name without the extension.
    static let files: [String: (contentType: String, bytes: ByteBuffer)] = {
        var files: [String: (contentType: String, bytes: ByteBuffer)] = [:]
        for (name, text) in DashboardFiles.files {
            files[name] = (contentType(of: name), ByteBuffer(string: text))
        }
        return files
    }()

    /// The content type of the embedded file `name`: the page, its style sheet, its script.
    static func contentType(of name: String) -> String {
        switch name {
        case "style": "text/css; charset=utf-8"
        case "app", "chart": "text/javascript; charset=utf-8"
        default: "text/html; charset=utf-8"
        }
    }

    /// Only the page's own files and the API: no inline script, no other origin, no framing.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

extension APIResponder {
    /// `GET /`, `/style.css`, `/app.js`, `/chart.js`: an embedded file of the dashboard; they take no parameters (the page
    /// keeps its range in the URL's fragment).
    func dashboardFile(_ name: String, _ query: QueryParameters) throws(APIError) -> Response {
        try query.allow([])
        guard let file = Dashboard.files[name] else { throw APIError(.notFound, "no dashboard file \(name)") }
        var headers: HTTPFields = [
            .contentType: file.contentType,
            .cacheControl: "no-cache",
            .contentSecurityPolicy: Dashboard.contentSecurityPolicy,
        ]
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: file.bytes))
    }
}
