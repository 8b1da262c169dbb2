/// Writes a JSON object as UTF-8 bytes at the end of a buffer: the bytes ``JSONText`` writes, without a `String`
/// per value (the query answers encode tens of thousands of objects into one buffer).
///
/// The writer takes the buffer for the object's life: ``init(continuing:)`` moves it in (no copy), ``finish(into:)``
/// closes the object and moves it back.
public struct JSONBytes: Sendable {
    /// The bytes written so far (the buffer's earlier content, then this object).
    public private(set) var bytes: [UInt8]
    private var needsComma = false

    /// Starts an object in a new buffer: `{`.
    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Starts an object at the end of `buffer`, which stays empty until ``finish(into:)`` gives it back.
    public init(continuing buffer: inout [UInt8]) {
        bytes = []
        swap(&bytes, &buffer)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Closes the object and puts the buffer, with the object at its end, into `buffer`.
    public mutating func finish(into buffer: inout [UInt8]) {
        bytes.append(UInt8(ascii: "}"))
        swap(&bytes, &buffer)
        bytes = []
    }

    /// Closes the object and returns its text.
    public consuming func finish() -> String {
        bytes.append(UInt8(ascii: "}"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `"key":"value"` with the value escaped.
    public mutating func string(_ key: StaticString, _ value: String) {
        separator(key)
        Self.appendQuoted(value, to: &bytes)
    }

    /// `"key":n`.
    public mutating func number(_ key: StaticString, _ value: Int64) {
        separator(key)
        Self.appendInteger(value, to: &bytes)
    }

    /// `"key":n` for a key that is not a constant (escaped like a value).
    public mutating func number(named key: String, _ value: Int64) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        needsComma = true
        Self.appendQuoted(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        Self.appendInteger(value, to: &bytes)
    }

    /// `"key":x` for a floating-point number (as `String(x)` writes it), or `"key":null`.
    public mutating func number(_ key: StaticString, _ value: Double?) {
        separator(key)
        if let value, value.isFinite { bytes.append(contentsOf: String(value).utf8) } else { appendNull() }
    }

    /// `"key":n`, or `"key":null`.
    public mutating func integer(_ key: StaticString, _ value: Int64?) {
        separator(key)
        if let value { Self.appendInteger(value, to: &bytes) } else { appendNull() }
    }

    /// `"key":"2025-11-25T09:40:20.200Z"` (RFC 3339 UTC with milliseconds).
    public mutating func time(_ key: StaticString, _ millis: Int64) {
        separator(key)
        Self.appendRFC3339(millis, quoted: true, to: &bytes)
    }

    /// `"key":"2025-11-25T09:40:20.200Z"`, or `"key":null`.
    public mutating func time(_ key: StaticString, _ millis: Int64?) {
        if let millis { time(key, millis) } else { null(key) }
    }

    /// `"key":null`.
    public mutating func null(_ key: StaticString) {
        separator(key)
        appendNull()
    }

    /// `"key":` followed by JSON that is already valid.
    public mutating func raw(_ key: StaticString, _ json: some Sequence<UInt8>) {
        separator(key)
        bytes.append(contentsOf: json)
    }

    /// `"key":[...]` of strings, escaped.
    public mutating func strings(_ key: StaticString, _ values: [String]) {
        separator(key)
        bytes.append(UInt8(ascii: "["))
        for (index, value) in values.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            Self.appendQuoted(value, to: &bytes)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `"key":{...}`: an object written by `body` inside this one.
    public mutating func object(_ key: StaticString, _ body: (inout JSONBytes) -> Void) {
        separator(key)
        var inner = JSONBytes(continuing: &bytes)
        body(&inner)
        inner.finish(into: &bytes)
    }

    private mutating func appendNull() {
        bytes.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")])
    }

    private mutating func separator(_ key: StaticString) {
        // `,"key":` in one append (a few appends of a byte each cost more than the copy).
        let skipComma = needsComma ? 0 : 1
        needsComma = true
        key.withUTF8Buffer { name in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: name.count + 4) { buffer in
                buffer[0] = UInt8(ascii: ",")
                buffer[1] = UInt8(ascii: "\"")
                for index in name.indices { buffer[2 + index] = name[index] }
                buffer[2 + name.count] = UInt8(ascii: "\"")
                buffer[3 + name.count] = UInt8(ascii: ":")
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[skipComma..<(name.count + 4)]))
            }
        }
    }

    /// Appends a JSON string literal as ``JSONText/appendQuoted(_:to:)`` writes it: quotes, backslashes and
    /// control characters escaped (`\n`, `\r`, `\t`, else `\u00xx`), everything else as is.
    public static func appendQuoted(_ value: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte < 0x20 || byte == 0x22 || byte == 0x5C else { continue }
                output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                start = index + 1
                output.append(UInt8(ascii: "\\"))
                switch byte {
                case 0x22, 0x5C: output.append(byte)
                case 0x0A: output.append(UInt8(ascii: "n"))
                case 0x0D: output.append(UInt8(ascii: "r"))
                case 0x09: output.append(UInt8(ascii: "t"))
                default:
                    output.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                    output.append(hexDigits[Int(byte >> 4)])
                    output.append(hexDigits[Int(byte & 0xF)])
                }
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
        }
        output.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends an integer in decimal, as `String(value)` writes it.
    public static func appendInteger(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        appendDigits(value.magnitude, minimumWidth: 1, to: &output)
    }

    /// Appends at least `minimumWidth` decimal digits, zeros first.
    private static func appendDigits(_ value: UInt64, minimumWidth: Int, to output: inout [UInt8]) {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for UInt64.max's 20 digits
        withUnsafeMutableBytes(of: &digits) { buffer in
            var remaining = value
            var position = buffer.count
            repeat {
                position -= 1
                buffer[position] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
            } while remaining > 0 || buffer.count - position < min(minimumWidth, buffer.count)
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }

    /// Appends epoch milliseconds as RFC 3339 UTC with milliseconds, the bytes of
    /// ``Timestamp/formatRFC3339(_:)-(Int64)``: `2025-11-25T09:40:20.200Z`.
    public static func appendRFC3339(_ millis: Int64, to output: inout [UInt8]) {
        appendRFC3339(millis, quoted: false, to: &output)
    }

    /// The fields of an RFC 3339 time after the year's: each one's width and the byte after it.
    private static let timeLayout: [(width: Int, after: UInt8)] = [
        (4, UInt8(ascii: "-")), (2, UInt8(ascii: "-")), (2, UInt8(ascii: "T")), (2, UInt8(ascii: ":")),
        (2, UInt8(ascii: ":")), (2, UInt8(ascii: ".")), (3, UInt8(ascii: "Z")),
    ]

    /// The time, in quotes when `quoted`: 24 or 26 bytes written at once for years 0-9999, with the text form's
    /// padding otherwise.
    private static func appendRFC3339(_ millis: Int64, quoted: Bool, to output: inout [UInt8]) {
        let parts = Timestamp.components(millis, offsetSeconds: 0)
        let values = [parts.year, parts.month, parts.day, parts.hour, parts.minute, parts.second, parts.millisecond]
        guard (0...9_999).contains(parts.year) else {
            if quoted { output.append(UInt8(ascii: "\"")) }
            for (value, field) in zip(values, timeLayout) {
                appendPadded(value, field.width, to: &output)
                output.append(field.after)
            }
            if quoted { output.append(UInt8(ascii: "\"")) }
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 26) { buffer in
            buffer[0] = UInt8(ascii: "\"")
            var position = quoted ? 1 : 0
            for (value, field) in zip(values, timeLayout) {
                var remaining = value
                for index in stride(from: position + field.width - 1, through: position, by: -1) {
                    buffer[index] = UInt8(ascii: "0") + UInt8(remaining % 10)
                    remaining /= 10
                }
                buffer[position + field.width] = field.after
                position += field.width + 1
            }
            if quoted { buffer[position] = UInt8(ascii: "\"") }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[0..<(quoted ? 26 : 24)]))
        }
    }

    /// `String(value)` with zeros in front up to `width` characters (a sign counts as one, as in the text form).
    private static func appendPadded(_ value: Int, _ width: Int, to output: inout [UInt8]) {
        if value >= 0 {
            appendDigits(UInt64(value), minimumWidth: width, to: &output)
            return
        }
        var text = Array(String(value).utf8)
        if text.count < width {
            text.insert(contentsOf: repeatElement(UInt8(ascii: "0"), count: width - text.count), at: 0)
        }
        output.append(contentsOf: text)
    }
}
