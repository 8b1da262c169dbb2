/// The JSON grammar of a line: strings with their escapes and UTF-8, numbers, literals, any value (for `attrs`),
/// and precise errors that say where.
extension LineParser {
    // MARK: JSON

    /// A string field's value, `nil` for JSON null; any other type is an error naming the field.
    mutating func parseOptionalString(_ field: Field) throws(LineError) -> String? {
        switch peek() ?? 0 {
        case UInt8(ascii: "\""): return try parseString(field: field)
        case UInt8(ascii: "n"):
            try parseLiteral("null")
            return nil
        default:
            let type = valueType(at: index) ?? "invalid JSON"
            throw LineError("\(quoted(field.name)) must be a string, not \(type)")
        }
    }

    /// Parses a JSON string at `index` (which is on the opening quote).
    mutating func parseString(field: Field?) throws(LineError) -> String {
        index += 1
        let start = index
        var sawEscape = false
        var sawHighByte = false
        while true {
            guard index < bytes.count else { throw syntaxError("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                sawEscape = true
                index += 2
                continue
            }
            if byte < 0x20 { throw syntaxError("control character in a string") }
            if byte >= 0x80 { sawHighByte = true }
            index += 1
        }
        let end = index
        index += 1
        let slice = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
        if sawHighByte {
            guard let validated = String(validating: slice, as: UTF8.self) else { throw invalidUTF8(field) }
            if !sawEscape { return validated }
        }
        if !sawEscape { return String(decoding: slice, as: UTF8.self) }
        return try unescape(slice, field: field, offset: start)
    }

    func unescape(_ slice: UnsafeRawBufferPointer, field: Field?, offset: Int) throws(LineError) -> String {
        var utf8 = [UInt8]()
        utf8.reserveCapacity(slice.count)
        var position = 0
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= slice.count else { return nil }
            var value: UInt32 = 0
            for offset in 0..<4 {
                let byte = slice[at + offset]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: return nil
                }
                value = value << 4 | digit
            }
            return value
        }
        while position < slice.count {
            let byte = slice[position]
            guard byte == UInt8(ascii: "\\") else {
                utf8.append(byte)
                position += 1
                continue
            }
            guard position + 1 < slice.count else {
                throw syntaxError("invalid escape in a string", at: offset + position)
            }
            let escaped = slice[position + 1]
            position += 2
            switch escaped {
            case UInt8(ascii: "\""): utf8.append(0x22)
            case UInt8(ascii: "\\"): utf8.append(0x5C)
            case UInt8(ascii: "/"): utf8.append(0x2F)
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                guard var code = hex4(position) else {
                    throw syntaxError("invalid \\u escape in a string", at: offset + position - 2)
                }
                position += 4
                if (0xD800...0xDBFF).contains(code) {
                    guard position + 6 <= slice.count, slice[position] == UInt8(ascii: "\\"),
                        slice[position + 1] == UInt8(ascii: "u"), let low = hex4(position + 2),
                        (0xDC00...0xDFFF).contains(low)
                    else { throw invalidUTF8(field, detail: "unpaired surrogate in a \\u escape") }
                    position += 6
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(code) {
                    throw invalidUTF8(field, detail: "unpaired surrogate in a \\u escape")
                }
                guard let scalar = Unicode.Scalar(code) else {
                    throw syntaxError("invalid \\u escape in a string", at: offset + position - 2)
                }
                utf8.append(contentsOf: String(scalar).utf8)
            default:
                throw syntaxError(
                    "invalid escape '\\\(Character(Unicode.Scalar(escaped)))' in a string",
                    at: offset + position - 2
                )
            }
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    struct Number {
        /// The value when the literal is an integer (or a number with no fractional part), else nil.
        var integerValue: Int64?
    }

    /// Parses a JSON number and returns its integer value when it has one.
    mutating func parseNumber() throws(LineError) -> Number {
        let start = index
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), first >= 0x30, first <= 0x39 else { throw syntaxError("invalid number") }
        if first == 0x30 {
            index += 1
        } else {
            while let byte = peek(), byte >= 0x30, byte <= 0x39 { index += 1 }
        }
        var isInteger = true
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard let byte = peek(), byte >= 0x30, byte <= 0x39 else { throw syntaxError("invalid number") }
            while let byte = peek(), byte >= 0x30, byte <= 0x39 { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let byte = peek(), byte >= 0x30, byte <= 0x39 else { throw syntaxError("invalid number") }
            while let byte = peek(), byte >= 0x30, byte <= 0x39 { index += 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if isInteger { return Number(integerValue: Int64(text)) }
        // 1.7e12 or 1.0: an integer when it has no fractional part and fits.
        guard let double = Double(text), double.rounded(.towardZero) == double, abs(double) < 9.0e15 else {
            return Number(integerValue: nil)
        }
        return Number(integerValue: Int64(double))
    }

    mutating func parseLiteral(_ literal: StaticString) throws(LineError) {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw syntaxError("invalid literal") }
        let expected = UnsafeRawBufferPointer(start: literal.utf8Start, count: count)
        for offset in 0..<count where bytes[index + offset] != expected[offset] {
            throw syntaxError("invalid literal")
        }
        index += count
    }

    /// Validates any JSON value at `index` and moves past it.
    mutating func skipValue(depth: Int) throws(LineError) {
        guard depth < WireLimits.maximumAttributesDepth else {
            throw LineError("\"attrs\" nests deeper than \(WireLimits.maximumAttributesDepth) levels")
        }
        guard let byte = peek() else { throw syntaxError("expected a value") }
        switch byte {
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw syntaxError("expected a field name in double quotes") }
                _ = try parseString(field: .attrs)
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw syntaxError("expected ':'") }
                index += 1
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard let separator = peek() else { throw syntaxError("unterminated object") }
                index += 1
                if separator == UInt8(ascii: "}") { return }
                guard separator == UInt8(ascii: ",") else { throw syntaxError("expected ',' or '}'", back: 1) }
            }
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                guard let separator = peek() else { throw syntaxError("unterminated array") }
                index += 1
                if separator == UInt8(ascii: "]") { return }
                guard separator == UInt8(ascii: ",") else { throw syntaxError("expected ',' or ']'", back: 1) }
            }
        case UInt8(ascii: "\""): _ = try parseString(field: .attrs)
        case UInt8(ascii: "t"): try parseLiteral("true")
        case UInt8(ascii: "f"): try parseLiteral("false")
        case UInt8(ascii: "n"): try parseLiteral("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try parseNumber()
        default: throw syntaxError("expected a value")
        }
    }

    // MARK: Helpers

    func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// The JSON type that starts at a position, as words for an error; nil when none does.
    func valueType(at position: Int) -> String? {
        guard position < bytes.count else { return nil }
        switch bytes[position] {
        case UInt8(ascii: "{"): return "an object"
        case UInt8(ascii: "["): return "an array"
        case UInt8(ascii: "\""): return "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return "a boolean"
        case UInt8(ascii: "n"): return "null"
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return "a number"
        default: return nil
        }
    }

    func syntaxError(_ what: String, back: Int = 0, at explicit: Int? = nil) -> LineError {
        // Bad UTF-8 outside a string shows up as an unexpected byte: say so.
        let position = explicit ?? max(0, index - back)
        if position < bytes.count, bytes[position] >= 0x80,
            String(validating: bytes, as: UTF8.self) == nil
        {
            return LineError("line is not valid UTF-8")
        }
        return LineError("invalid JSON at byte \(position + 1): \(what)")
    }

    func invalidUTF8(_ field: Field?, detail: String = "not valid UTF-8") -> LineError {
        if let field { return LineError("\(quoted(field.name)) is \(detail)") }
        return LineError("a field name is \(detail)")
    }

    func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars.prefix(64) {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += "\\u" + String(scalar.value, radix: 16).leftPadded(4)
            default: result.unicodeScalars.append(scalar)
            }
        }
        if text.unicodeScalars.count > 64 { result += "..." }
        return result + "\""
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
