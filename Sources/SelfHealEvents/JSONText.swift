/// Writes JSON text by hand: the wire lines the emitters send and the lines the command line prints.
public struct JSONText: Sendable {
    /// The text written so far.
    public private(set) var text: String
    private var needsComma = false

    /// Starts an object: `{`.
    public init() {
        text = "{"
        text.reserveCapacity(256)
    }

    /// Appends `"key":"value"` with the value escaped.
    public mutating func string(_ key: String, _ value: String) {
        separator(key)
        JSONText.appendQuoted(value, to: &text)
    }

    /// Appends `"key":"value"` when the value is not nil.
    public mutating func string(_ key: String, ifPresent value: String?) {
        if let value { string(key, value) }
    }

    /// Appends `"key":value` for an integer.
    public mutating func number(_ key: String, _ value: Int64) {
        separator(key)
        text += String(value)
    }

    /// Appends `"key":value` for an integer.
    public mutating func number(_ key: String, _ value: Int) {
        number(key, Int64(value))
    }

    /// Appends `"key":value` for a floating-point number, or `null`.
    public mutating func number(_ key: String, _ value: Double?) {
        separator(key)
        if let value, value.isFinite { text += String(value) } else { text += "null" }
    }

    /// `"key":"2025-11-25T09:40:20.200Z"` (RFC 3339 UTC with milliseconds), or `"key":null`.
    public mutating func time(_ key: String, _ millis: Int64?) {
        if let millis { string(key, Timestamp.formatRFC3339(millis)) } else { null(key) }
    }

    /// `"key":n`, or `"key":null`.
    public mutating func integer(_ key: String, _ value: Int64?) {
        if let value { number(key, value) } else { null(key) }
    }

    /// Appends `"key":null`.
    public mutating func null(_ key: String) {
        separator(key)
        text += "null"
    }

    /// Appends `"key":true|false`.
    public mutating func bool(_ key: String, _ value: Bool) {
        separator(key)
        text += value ? "true" : "false"
    }

    /// Appends `"key":` followed by JSON text that is already valid (an object, an array...).
    public mutating func raw(_ key: String, _ json: String) {
        separator(key)
        text += json
    }

    /// Closes the object and returns its text.
    public consuming func finish() -> String {
        text += "}"
        return text
    }

    private mutating func separator(_ key: String) {
        if needsComma { text += "," }
        needsComma = true
        JSONText.appendQuoted(key, to: &text)
        text += ":"
    }

    /// A JSON array of already-encoded values.
    public static func array(_ elements: [String]) -> String {
        "[" + elements.joined(separator: ",") + "]"
    }

    /// A JSON string literal for a value.
    public static func quoted(_ value: String) -> String {
        var result = ""
        appendQuoted(value, to: &result)
        return result
    }

    /// Appends a JSON string literal, escaping quotes, backslashes and control characters.
    public static func appendQuoted(_ value: String, to output: inout String) {
        output += "\""
        var needsEscape = false
        for byte in value.utf8 where byte < 0x20 || byte == 0x22 || byte == 0x5C {
            needsEscape = true
            break
        }
        guard needsEscape else {
            output += value
            output += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}

extension Event {
    /// The event as one wire line (without the line end), as an emitter sends it.
    public var wireLine: String {
        var json = JSONText()
        json.string("service", service)
        json.string("kind", kind.name)
        if component != Event.defaultComponent { json.string("component", component) }
        if let timestamp { json.string("ts", Timestamp.formatRFC3339(timestamp)) }
        json.string("level", ifPresent: level?.name)
        json.string("message", ifPresent: message)
        json.string("incident", ifPresent: incident)
        json.string("id", ifPresent: id)
        if let attributesJSON { json.raw("attrs", attributesJSON) }
        return json.finish()
    }
}

extension StoredEvent {
    /// The event as the command line shows it in json (SPEC section 7): effective level, times in UTC.
    public var json: String {
        var json = JSONText()
        json.number("seq", seq)
        json.string("host", ifPresent: host)
        json.string("ts", Timestamp.formatRFC3339(timestamp))
        json.string("received_at", Timestamp.formatRFC3339(receivedAt))
        json.string("service", event.service)
        json.string("component", event.component)
        json.string("kind", event.kind.name)
        json.string("level", event.effectiveLevel.name)
        json.string("message", ifPresent: event.message)
        json.string("incident", ifPresent: event.incident)
        json.string("id", ifPresent: event.id)
        if let attributes = event.attributesJSON { json.raw("attrs", attributes) }
        if let peer {
            var peerJSON = JSONText()
            peerJSON.number("uid", Int64(peer.uid))
            peerJSON.number("pid", Int64(peer.pid))
            json.raw("peer", peerJSON.finish())
        }
        return json.finish()
    }
}

extension RejectedLine {
    /// The reject as the command line shows it in json (SPEC section 7); bad UTF-8 shows as U+FFFD.
    public var json: String {
        var json = JSONText()
        json.string("received_at", Timestamp.formatRFC3339(receivedAt))
        json.number("line", line)
        json.string("error", error)
        json.string("raw", String(decoding: raw, as: UTF8.self))
        return json.finish()
    }
}
