import Foundation
import SelfHealEvents
import Testing

@testable import SelfHealReports

@Suite("Mail messages")
struct MailTests {
    @Test func reportMessageParsesBackWithoutDefects() throws {
        let output = try ReportRenderer.render(
            Report.daily(Fixtures.dayInput),
            templates: try ReportTemplates.builtIn(),
            mail: Fixtures.mail
        )
        var parser = StrictMIMEParser()
        let message = parser.parse(output.eml)
        #expect(parser.defects.isEmpty, "\(parser.defects.prefix(5))")
        // Every header of SPEC section 8.
        #expect(message.header("From") == "selfheal <selfheal@example.com>")
        #expect(message.header("To") == "ops@example.com")
        #expect(message.header("Subject") == "Self-Healing System Report - November 25, 2025")
        #expect(message.header("Date") == "Wed, 26 Nov 2025 07:00:00 +0100")
        #expect(message.header("Message-ID") == "<selfheal-daily-2025-11-25.\(Fixtures.generatedAt)@example.com>")
        #expect(message.header("MIME-Version") == "1.0")
        #expect(message.header("Auto-Submitted") == "auto-generated")
        // multipart/alternative: plain first, then the HTML with its chart in a multipart/related.
        #expect(message.mediaType == "multipart/alternative")
        #expect(message.children.map(\.mediaType) == ["text/plain", "multipart/related"])
        let related = message.children[1]
        #expect(related.children.map(\.mediaType) == ["text/html", "image/png"])
        let plain = message.children[0]
        #expect(plain.header("Content-Type") == "text/plain; charset=UTF-8")
        #expect(plain.header("Content-Transfer-Encoding") == "quoted-printable")
        // The parts decode to exactly what was rendered (CRLF line ends inside the message).
        #expect(plain.text == output.text.replacingOccurrences(of: "\n", with: "\r\n"))
        let html = related.children[0]
        let image = related.children[1]
        #expect(image.header("Content-ID") == "<chart.selfheal-daily-2025-11-25@example.com>")
        #expect(html.text.contains("src=\"cid:chart.selfheal-daily-2025-11-25@example.com\""))
        #expect(html.text.contains("alt=\"Self-healing actions per hour: 15 prevented, 3 auto-recovered"))
        #expect(image.body == output.chart)
        #expect(Array(image.body.prefix(8)) == PNGEncoder.signature)
    }

    @Test func htmlIsMailClientSafe() throws {
        let output = try ReportRenderer.render(
            Report.weekly(Fixtures.weekInput),
            templates: try ReportTemplates.builtIn(),
            mail: Fixtures.mail
        )
        var parser = StrictMIMEParser()
        let html = parser.parse(output.eml).leaves.first { $0.mediaType == "text/html" }!.text
        for forbidden in ["<style", "<link", "<script", "<svg", "data:", "http://", "https://", "class=", "<div class"]
        {
            #expect(!html.lowercased().contains(forbidden), "HTML contains \(forbidden)")
        }
        // Every cell sets its background and its text colour.
        let cells = html.components(separatedBy: "<td").dropFirst()
        #expect(cells.count > 20)
        for cell in cells {
            let tag = cell.prefix { $0 != ">" }
            #expect(tag.contains("bgcolor=") && tag.contains("background-color:") && tag.contains("color:"), "\(tag)")
        }
    }

    @Test func quotedPrintableKeepsLinesShortAndEncodesWhatItMust() {
        let long = String(repeating: "é", count: 60) + " = end "
        let lines = MIME.quotedPrintable(long + "\n.dot\nFrom here\ntrailing \t")
        #expect(lines.allSatisfy { $0.utf8.count <= 76 })
        #expect(lines.contains("=2Edot"))
        #expect(lines.contains("=46rom here"))
        #expect(lines.last == "trailing =09")
        var parser = StrictMIMEParser()
        let message = MailMessage(
            from: "a@b",
            to: ["c@d"],
            subject: "x",
            date: 0,
            zone: .gmt,
            messageID: "m@b",
            text: long + "\n.dot\nFrom here\ntrailing \t",
            html: "<p>\(long)</p>"
        )
        let parsed = parser.parse(message.render())
        #expect(parser.defects.isEmpty, "\(parser.defects)")
        #expect(parsed.children[0].text == long + "\r\n.dot\r\nFrom here\r\ntrailing \t")
        // A soft break never splits an escape.
        for line in lines { #expect(!line.dropLast().hasSuffix("=") || line.hasSuffix("==")) }
    }

    @Test func nonASCIIHeaderTextIsEncodedInWords() {
        let subject = "[FAILURE] Réponse invalide sur l’API « openai » – intervention requise, vite, très vite, ✅ ok"
        let encoded = MIME.encodedWords(subject)
        #expect(encoded.allSatisfy { $0.isASCII })
        var parser = StrictMIMEParser()
        #expect(parser.decodeHeader(encoded) == subject)
        let message = MailMessage(
            from: "Équipe Ops <ops@example.com>",
            to: ["\"Doe, Jane\" <jane@example.com>"],
            subject: subject,
            date: 0,
            zone: .gmt,
            messageID: "m@b",
            text: "x",
            html: "y"
        )
        let parsed = parser.parse(message.render())
        #expect(parser.defects.isEmpty, "\(parser.defects)")
        #expect(parser.decodeHeader(parsed.header("Subject")!) == subject)
        #expect(parsed.header("From") == "=?UTF-8?Q?=C3=89quipe_Ops?= <ops@example.com>")
        #expect(parsed.header("To") == "\"Doe, Jane\" <jane@example.com>")
        // Folded: no header line over 78 octets.
        let head = String(decoding: message.render(), as: UTF8.self).components(separatedBy: "\r\n\r\n")[0]
        #expect(head.components(separatedBy: "\r\n").allSatisfy { $0.utf8.count <= 78 })
    }

    @Test func rfc5322Dates() {
        #expect(ReportFormat.rfc5322(0, zone: .gmt) == "Thu, 1 Jan 1970 00:00:00 +0000")
        let newYork = TimeZone(identifier: "America/New_York")!
        #expect(
            ReportFormat.rfc5322(Timestamp.parseRFC3339("2025-11-25T14:05:07Z")!, zone: newYork)
                == "Tue, 25 Nov 2025 09:05:07 -0500"
        )
        let kolkata = TimeZone(identifier: "Asia/Kolkata")!
        #expect(ReportFormat.rfc5322(0, zone: kolkata) == "Thu, 1 Jan 1970 05:30:00 +0530")
    }
}
