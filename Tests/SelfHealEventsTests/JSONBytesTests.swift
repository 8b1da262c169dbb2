import SelfHealEvents
import Testing

/// ``JSONBytes`` writes the bytes of ``JSONText`` (the query answers must not change by a byte).
@Suite struct JSONBytesTests {
    static func quotedBytes(_ value: String) -> String {
        var bytes: [UInt8] = []
        JSONBytes.appendQuoted(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test(arguments: [
        "", "plain", "quote \" and \\ backslash", "line\nfeed\r\ttab", "\u{0}\u{1}\u{1f}\u{7f}", "é ü 漢字 🙂",
        "\"", "\\", "end\n", "\u{1b}[31mred", "a\u{2028}b",
    ])
    func quotingMatchesJSONText(_ value: String) {
        #expect(Self.quotedBytes(value) == JSONText.quoted(value))
    }

    @Test func everyControlCharacterMatchesJSONText() {
        for code in 0..<0x80 {
            let value = "x" + String(UnicodeScalar(UInt8(code))) + "y"
            #expect(Self.quotedBytes(value) == JSONText.quoted(value), "U+\(code)")
        }
    }

    @Test func integersAndTimesMatchTheirTextForms() {
        var random = SplitMix64(seed: 7)
        var values: [Int64] = [0, 1, -1, 9, 10, -10, 999, 1_000, .max, .min, .min + 1]
        values += Timestamp.minimum...Timestamp.minimum + 2
        values += [Timestamp.maximum, Timestamp.maximum - 1, -1, 0, 1_764_028_800_000, 951_782_400_000]
        values += [
            Timestamp.maximum + 1, Timestamp.maximum * 3, Timestamp.minimum - 1, Timestamp.minimum - 900 * 86_400_000,
        ]
        for _ in 0..<10_000 { values.append(Int64.random(in: Timestamp.minimum...Timestamp.maximum, using: &random)) }
        for value in values {
            var integer: [UInt8] = []
            JSONBytes.appendInteger(value, to: &integer)
            #expect(String(decoding: integer, as: UTF8.self) == String(value))
            // Beyond the accepted range only years of more than 4 digits (or below 0) take the padding path.
            guard (Timestamp.minimum - 1_000 * 86_400_000...Timestamp.maximum * 4).contains(value) else { continue }
            var time: [UInt8] = []
            JSONBytes.appendRFC3339(value, to: &time)
            #expect(String(decoding: time, as: UTF8.self) == Timestamp.formatRFC3339(value))
        }
    }

    @Test func anObjectMatchesJSONText() {
        var text = JSONText()
        text.number("id", Int64(42))
        text.string("service", "check\"out")
        text.null("incident")
        text.time("at", 1_764_028_800_123)
        text.time("never", nil)
        text.integer("n", nil)
        text.number("rate", 0.25)
        text.number("nan", Double.nan)
        text.raw("actions", JSONText.array(["a", "b\n"].map(JSONText.quoted)))
        text.raw("inner", "{\"total\":3,\"by_kind\":{}}")

        var prefix: [UInt8] = Array("[\n".utf8)
        var bytes = JSONBytes(continuing: &prefix)
        #expect(prefix.isEmpty)
        bytes.number("id", Int64(42))
        bytes.string("service", "check\"out")
        bytes.null("incident")
        bytes.time("at", 1_764_028_800_123)
        bytes.time("never", nil)
        bytes.integer("n", nil)
        bytes.number("rate", 0.25)
        bytes.number("nan", Double.nan)
        bytes.strings("actions", ["a", "b\n"])
        bytes.object("inner") { inner in
            inner.number("total", Int64(3))
            inner.object("by_kind") { _ in }
        }
        bytes.finish(into: &prefix)
        #expect(String(decoding: prefix, as: UTF8.self) == "[\n" + text.finish())
    }
}
