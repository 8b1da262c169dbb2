import Foundation

/// A small, strict parser of the messages the reports write: it records every defect instead of guessing.
struct StrictMIMEParser {
    struct Part {
        var headers: [(name: String, value: String)]
        var body: [UInt8]  // decoded
        var children: [Part]

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }

        var mediaType: String { (header("Content-Type") ?? "text/plain").split(separator: ";")[0].lowercased() }

        func parameter(_ name: String) -> String? {
            guard let value = header("Content-Type") else { return nil }
            for piece in value.split(separator: ";").dropFirst() {
                let pair = piece.split(separator: "=", maxSplits: 1)
                guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == name else {
                    continue
                }
                return pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(
                    in: CharacterSet(charactersIn: "\"")
                )
            }
            return nil
        }

        /// Every leaf, depth first.
        var leaves: [Part] { children.isEmpty ? [self] : children.flatMap(\.leaves) }

        var text: String { String(decoding: body, as: UTF8.self) }
    }

    private(set) var defects: [String] = []

    /// Parses a whole message.
    mutating func parse(_ bytes: [UInt8]) -> Part {
        // Line ends: CRLF only, lines of at most 998 octets.
        var index = 0
        var lineStart = 0
        while index < bytes.count {
            if bytes[index] == 0x0A && (index == 0 || bytes[index - 1] != 0x0D) {
                defects.append("bare LF at \(index)")
            }
            if bytes[index] == 0x0D && (index + 1 >= bytes.count || bytes[index + 1] != 0x0A) {
                defects.append("bare CR at \(index)")
            }
            if bytes[index] == 0x0A {
                if index - 1 - lineStart > 998 { defects.append("line over 998 octets at \(lineStart)") }
                lineStart = index + 1
            }
            if bytes[index] >= 0x80 { defects.append("8-bit octet at \(index)") }
            index += 1
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        return parsePart(lines[...], top: true)
    }

    private mutating func parsePart(_ lines: ArraySlice<String>, top: Bool) -> Part {
        var headers: [(name: String, value: String)] = []
        var index = lines.startIndex
        while index < lines.endIndex, !lines[index].isEmpty {
            let line = lines[index]
            if line.first == " " || line.first == "\t" {
                if headers.isEmpty {
                    defects.append("continuation before any header")
                } else {
                    headers[headers.count - 1].value += line
                }
            } else if let colon = line.firstIndex(of: ":") {
                let name = String(line[..<colon])
                if name.isEmpty || name.contains(" ") { defects.append("bad header name \(name)") }
                headers.append((name, String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)))
            } else {
                defects.append("header line without colon: \(line)")
            }
            index += 1
        }
        if index == lines.endIndex { defects.append("no blank line after headers") }
        let bodyLines = lines[(index < lines.endIndex ? index + 1 : index)...]
        var part = Part(headers: headers, body: [], children: [])
        if part.mediaType.hasPrefix("multipart/") {
            guard let boundary = part.parameter("boundary") else {
                defects.append("multipart without boundary")
                return part
            }
            var current: [String]? = nil
            var closed = false
            for line in bodyLines {
                if line == "--\(boundary)--" {
                    if let current { part.children.append(parsePart(current[...], top: false)) }
                    current = nil
                    closed = true
                    break
                } else if line == "--\(boundary)" {
                    if let current { part.children.append(parsePart(current[...], top: false)) }
                    current = []
                } else {
                    current?.append(line)
                }
            }
            if !closed { defects.append("boundary \(boundary) never closed") }
            if part.children.isEmpty { defects.append("multipart without parts") }
        } else {
            let encoding = (part.header("Content-Transfer-Encoding") ?? "7bit").lowercased()
            switch encoding {
            case "quoted-printable": part.body = decodeQuotedPrintable(Array(bodyLines))
            case "base64":
                for line in bodyLines where line.count > 76 { defects.append("base64 line over 76: \(line.count)") }
                if let data = Data(base64Encoded: bodyLines.joined()) {
                    part.body = Array(data)
                } else {
                    defects.append("base64 does not decode")
                }
            default:
                part.body = Array(bodyLines.joined(separator: "\r\n").utf8)
            }
        }
        return part
    }

    private mutating func decodeQuotedPrintable(_ lines: [String]) -> [UInt8] {
        var output: [UInt8] = []
        for (number, line) in lines.enumerated() {
            if line.utf8.count > 76 { defects.append("quoted-printable line over 76: \(line)") }
            let bytes = Array(line.utf8)
            var soft = false
            var i = 0
            while i < bytes.count {
                let byte = bytes[i]
                if byte == UInt8(ascii: "=") {
                    if i == bytes.count - 1 {
                        soft = true
                        i += 1
                        continue
                    }
                    let hex = i + 2 < bytes.count ? String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self) : ""
                    guard hex.count == 2, hex.allSatisfy({ "0123456789ABCDEF".contains($0) }),
                        let value = UInt8(hex, radix: 16)
                    else {
                        defects.append("bad escape in \(line)")
                        i += 1
                        continue
                    }
                    output.append(value)
                    i += 3
                } else {
                    if byte == 0x20 || byte == 0x09, i == bytes.count - 1 {
                        defects.append("trailing space in \(line)")
                    }
                    if byte > 126 || (byte < 32 && byte != 0x09) { defects.append("unencoded octet \(byte)") }
                    output.append(byte)
                    i += 1
                }
            }
            if !soft && number < lines.count - 1 { output += [0x0D, 0x0A] }
        }
        return output
    }

    /// Decodes RFC 2047 encoded words (Q and B) in a header value; records malformed ones.
    mutating func decodeHeader(_ value: String) -> String {
        var result = ""
        var previousWasWord = false
        for token in value.split(separator: " ", omittingEmptySubsequences: false) {
            if token.hasPrefix("=?") && token.hasSuffix("?=") {
                if token.count > 75 { defects.append("encoded word over 75 characters") }
                let pieces = token.dropFirst(2).dropLast(2).split(separator: "?", omittingEmptySubsequences: false)
                guard pieces.count == 3, pieces[0].uppercased() == "UTF-8" else {
                    defects.append("bad encoded word \(token)")
                    continue
                }
                var bytes: [UInt8] = []
                if pieces[1].uppercased() == "Q" {
                    var chars = Array(pieces[2].utf8)[...]
                    while let c = chars.popFirst() {
                        if c == UInt8(ascii: "_") {
                            bytes.append(0x20)
                        } else if c == UInt8(ascii: "="), chars.count >= 2,
                            let v = UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16)
                        {
                            bytes.append(v)
                            chars = chars.dropFirst(2)
                        } else {
                            bytes.append(c)
                        }
                    }
                } else if let data = Data(base64Encoded: String(pieces[2])) {
                    bytes = Array(data)
                }
                guard let decoded = String(validating: bytes, as: UTF8.self) else {
                    defects.append("encoded word splits a character: \(token)")
                    continue
                }
                if !result.isEmpty && !previousWasWord { result += " " }
                result += decoded
                previousWasWord = true
            } else {
                if !result.isEmpty { result += " " }
                result += token
                previousWasWord = false
            }
        }
        return result
    }
}
