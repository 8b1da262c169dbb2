import Foundation

/// An image carried inside a message and shown by the HTML part through `cid:`.
public struct InlineImage: Sendable {
    /// The `Content-ID`, without angle brackets: `chart@selfheal`.
    public var contentID: String
    /// The file name offered to the reader.
    public var filename: String
    /// `image/png`.
    public var mediaType: String
    /// The bytes.
    public var data: [UInt8]

    /// Creates an inline image.
    public init(contentID: String, filename: String, mediaType: String = "image/png", data: [UInt8]) {
        self.contentID = contentID
        self.filename = filename
        self.mediaType = mediaType
        self.data = data
    }
}

/// A complete RFC 5322 message ready for `sendmail -t -oi`: `multipart/alternative` with the plain part first
/// and the HTML part last; with images, the HTML part is a `multipart/related` holding the HTML and the images.
/// Text is UTF-8 in quoted-printable, header text beyond ASCII in RFC 2047 encoded words, lines end with CRLF,
/// and no line is longer than 78 octets (998 is the limit).
public struct MailMessage: Sendable {
    /// `From`: an address, optionally with a display name: `selfheal <selfheal@example.com>`.
    public var from: String
    /// `To`: one or more addresses.
    public var to: [String]
    /// `Subject`, any Unicode.
    public var subject: String
    /// `Date`, epoch milliseconds, written in `zone`.
    public var date: Int64
    /// The zone the `Date` header is written in.
    public var zone: TimeZone
    /// `Message-ID`, without angle brackets.
    public var messageID: String
    /// `In-Reply-To`, without angle brackets.
    public var inReplyTo: String?
    /// `References`, without angle brackets, oldest first.
    public var references: [String]
    /// Further headers, e.g. `X-Selfheal-Incident`; values in ASCII.
    public var extraHeaders: [(name: String, value: String)]
    /// The plain text part.
    public var text: String
    /// The HTML part.
    public var html: String
    /// Images the HTML shows through `cid:`.
    public var images: [InlineImage]

    /// Creates a message.
    public init(
        from: String,
        to: [String],
        subject: String,
        date: Int64,
        zone: TimeZone,
        messageID: String,
        inReplyTo: String? = nil,
        references: [String] = [],
        extraHeaders: [(name: String, value: String)] = [],
        text: String,
        html: String,
        images: [InlineImage] = []
    ) {
        self.from = from
        self.to = to
        self.subject = subject
        self.date = date
        self.zone = zone
        self.messageID = messageID
        self.inReplyTo = inReplyTo
        self.references = references
        self.extraHeaders = extraHeaders
        self.text = text
        self.html = html
        self.images = images
    }

    /// The message's octets, CRLF line ends.
    public func render() -> [UInt8] {
        var lines: [String] = []
        func header(_ name: String, _ value: String) { lines.append(contentsOf: MIME.fold("\(name): \(value)")) }
        header("From", MIME.address(from))
        header("To", to.map(MIME.address).joined(separator: ", "))
        header("Subject", MIME.encodedWords(subject))
        header("Date", ReportFormat.rfc5322(date, zone: zone))
        header("Message-ID", "<\(messageID)>")
        if let inReplyTo { header("In-Reply-To", "<\(inReplyTo)>") }
        if !references.isEmpty { header("References", references.map { "<\($0)>" }.joined(separator: " ")) }
        header("MIME-Version", "1.0")
        header("Auto-Submitted", "auto-generated")
        header("X-Auto-Response-Suppress", "All")
        for (name, value) in extraHeaders { header(name, value) }

        let seed = String(CRC32.checksum(Array(messageID.utf8)), radix: 16)
        let alternative = "=_selfheal_alt_\(seed)"
        let related = "=_selfheal_rel_\(seed)"
        header("Content-Type", "multipart/alternative; boundary=\"\(alternative)\"")
        lines.append("")
        lines.append("This is a multi-part message in MIME format.")
        lines.append("")
        lines.append("--\(alternative)")
        lines.append(contentsOf: textPart("text/plain", text))
        lines.append("--\(alternative)")
        if images.isEmpty {
            lines.append(contentsOf: textPart("text/html", html))
        } else {
            lines.append("Content-Type: multipart/related; boundary=\"\(related)\"; type=\"text/html\"")
            lines.append("")
            lines.append("--\(related)")
            lines.append(contentsOf: textPart("text/html", html))
            for image in images {
                lines.append("--\(related)")
                lines.append("Content-Type: \(image.mediaType); name=\"\(image.filename)\"")
                lines.append("Content-Transfer-Encoding: base64")
                lines.append("Content-ID: <\(image.contentID)>")
                lines.append("Content-Disposition: inline; filename=\"\(image.filename)\"")
                lines.append("")
                lines.append(contentsOf: MIME.base64Lines(image.data))
            }
            lines.append("--\(related)--")
        }
        lines.append("--\(alternative)--")
        lines.append("")
        return Array(lines.joined(separator: "\r\n").utf8)
    }

    private func textPart(_ mediaType: String, _ body: String) -> [String] {
        ["Content-Type: \(mediaType); charset=UTF-8", "Content-Transfer-Encoding: quoted-printable", ""]
            + MIME.quotedPrintable(body)
    }
}

/// The encodings of MIME messages.
public enum MIME {
    /// Quoted-printable lines (RFC 2045 6.7) of a UTF-8 text: at most 76 characters, soft breaks with `=`,
    /// line breaks of the text as hard line breaks. A leading `.` and `From ` are encoded too, so no transport
    /// can mangle them.
    public static func quotedPrintable(_ text: String) -> [String] {
        var output: [String] = []
        let normalized = text.replacingOccurrences(of: "\r\n", with: "\n")
        for line in normalized.split(separator: "\n", omittingEmptySubsequences: false) {
            let bytes = Array(line.utf8)
            var current = ""
            for (index, byte) in bytes.enumerated() {
                let last = index == bytes.count - 1
                let literal: Bool
                switch byte {
                case 0x3D: literal = false
                case 0x20, 0x09: literal = !last
                case 0x2E: literal = index != 0
                case 0x46: literal = !(index == 0 && line.hasPrefix("From "))
                case 33...126: literal = true
                default: literal = false
                }
                let piece = literal ? String(UnicodeScalar(byte)) : "=" + hex(byte)
                // Keep room for the soft break's "=": 75 characters of content at most.
                if current.utf8.count + piece.utf8.count > 75 {
                    output.append(current + "=")
                    current = ""
                }
                current += piece
            }
            output.append(current)
        }
        return output
    }

    /// Base64 in lines of 76 characters.
    public static func base64Lines(_ data: [UInt8]) -> [String] {
        let encoded = Data(data).base64EncodedString()
        var lines: [String] = []
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let end = encoded.index(index, offsetBy: 76, limitedBy: encoded.endIndex) ?? encoded.endIndex
            lines.append(String(encoded[index..<end]))
            index = end
        }
        return lines
    }

    /// Header text: as is when ASCII, else RFC 2047 `=?UTF-8?Q?...?=` words of at most 75 characters, split
    /// between characters (never inside one), separated by spaces so that folding can break between them.
    public static func encodedWords(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 >= 0x80 || $0 < 0x20 }) else { return text }
        var words: [String] = []
        var current = ""
        let budget = 75 - "=?UTF-8?Q??=".count
        for character in text {
            var piece = ""
            for byte in String(character).utf8 {
                switch byte {
                case 0x20: piece += "_"
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "!"), UInt8(ascii: "*"), UInt8(ascii: "+"),
                    UInt8(ascii: "-"), UInt8(ascii: "/"):
                    piece += String(UnicodeScalar(byte))
                default: piece += "=" + hex(byte)
                }
            }
            if current.count + piece.count > budget {
                words.append("=?UTF-8?Q?\(current)?=")
                current = ""
            }
            current += piece
        }
        if !current.isEmpty { words.append("=?UTF-8?Q?\(current)?=") }
        return words.joined(separator: " ")
    }

    /// An address header value: `Name <a@b>` with the name quoted or encoded as needed; a bare address as is.
    public static func address(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let open = trimmed.lastIndex(of: "<"), trimmed.hasSuffix(">") else { return trimmed }
        var name = trimmed[..<open].trimmingCharacters(in: .whitespaces)
        let address = trimmed[open...]
        if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 { name = String(name.dropFirst().dropLast()) }
        guard !name.isEmpty else { return String(address) }
        if name.utf8.contains(where: { $0 >= 0x80 }) { return "\(encodedWords(name)) \(address)" }
        let atext = name.allSatisfy { $0.isLetter || $0.isNumber || $0 == " " || "!#$%&'*+-/=?^_`{|}~".contains($0) }
        if atext { return "\(name) \(address)" }
        let escaped = name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\"\(escaped)\" \(address)"
    }

    /// Folds a header line at spaces so that lines stay within 78 octets where a space allows it.
    public static func fold(_ line: String) -> [String] {
        guard line.utf8.count > 78 else { return [line] }
        var lines: [String] = []
        var current = ""
        for word in line.split(separator: " ", omittingEmptySubsequences: false) {
            if !current.isEmpty && current.utf8.count + 1 + word.utf8.count > 78 {
                lines.append(current)
                current = " " + word
            } else {
                current += current.isEmpty && lines.isEmpty ? String(word) : " " + word
            }
        }
        lines.append(current)
        return lines
    }

    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
    }
}
