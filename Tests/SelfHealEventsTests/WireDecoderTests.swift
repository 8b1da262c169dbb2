import Foundation
import SelfHealEvents
import Testing

@Suite struct WireDecoderTests {
    static func decodeEvent(_ line: String) throws -> Event {
        guard case .event(let event) = try WireDecoder.decode(line) else {
            Issue.record("not an event: \(line)")
            throw LineError("not an event")
        }
        return event
    }

    static func error(_ line: String) -> String? {
        do {
            _ = try WireDecoder.decode(line)
            return nil
        } catch {
            return error.message
        }
    }

    @Test func decodesEveryField() throws {
        let event = try Self.decodeEvent(
            #"{"service":"portal-web","kind":"pool.warning","component":"db-pool","ts":"2025-11-25T09:40:20.200Z","#
                + #""level":"critical","message":"Pool at 85%","incident":"pool-7","id":"evt-1","#
                + #""attrs":{"used": 17, "max":20},"v":1}"#
        )
        #expect(event.service == "portal-web")
        #expect(event.kind == .poolWarning)
        #expect(event.component == "db-pool")
        #expect(event.timestamp == 1_764_063_620_200)
        #expect(event.level == .critical)
        #expect(event.effectiveLevel == .critical)
        #expect(event.message == "Pool at 85%")
        #expect(event.incident == "pool-7")
        #expect(event.id == "evt-1")
        // attrs are kept as given, whitespace included.
        #expect(event.attributesJSON == #"{"used": 17, "max":20}"#)
    }

    @Test func defaults() throws {
        let event = try Self.decodeEvent(#"{"service":"s","kind":"pool.critical"}"#)
        #expect(event.component == "default")
        #expect(event.timestamp == nil)
        #expect(event.level == nil)
        #expect(event.effectiveLevel == .critical)
        #expect(event.attributesJSON == nil)
    }

    @Test(arguments: EventKind.vocabulary)
    func everyKindOfTheVocabularyDecodesWithItsRoleAndLevel(kind: EventKind) throws {
        let event = try Self.decodeEvent(#"{"service":"s","kind":"\#(kind.name)"}"#)
        #expect(event.kind == kind)
        #expect(event.effectiveLevel == kind.defaultLevel)
    }

    @Test func vocabularyRolesAndLevelsFollowTheSpec() {
        let roles = Dictionary(grouping: EventKind.vocabulary, by: \.role).mapValues { $0.map(\.name) }
        #expect(roles[.detect]?.count == 7)
        #expect(roles[.mitigate]?.count == 7)
        #expect(roles[.recover]?.count == 6)
        #expect(roles[.fail] == ["retry.exhausted", "intervention.required"])
        #expect(roles[.prevent] == ["timeout.prevented", "transition.blocked", "ratelimit.throttled"])
        #expect(roles[.info] == ["batch.completed"])
        #expect(EventKind.retryExhausted.defaultLevel == .failure)
        #expect(EventKind.healthUnhealthy.defaultLevel == .critical)
        #expect(EventKind.fallbackServed.defaultLevel == .warning)
    }

    @Test func customKinds() throws {
        #expect(try Self.decodeEvent(#"{"service":"s","kind":"x.cache.miss_2"}"#).kind.role == .info)
        #expect(
            Self.error(#"{"service":"s","kind":"x.Cache"}"#)
                == #"custom kind "x.Cache" must be x.<name>[.<name>...] of a-z 0-9 _"#
        )
        #expect(Self.error(#"{"service":"s","kind":"x.a..b"}"#) != nil)
        #expect(Self.error(#"{"service":"s","kind":"x."}"#) != nil)
        #expect(Self.error(#"{"service":"s","kind":"y.cache"}"#) == #"unknown kind "y.cache""#)
    }

    @Test func timestamps() throws {
        func ts(_ value: String) throws -> Int64? {
            try Self.decodeEvent(#"{"service":"s","kind":"x.t","ts":\#(value)}"#).timestamp
        }
        #expect(try ts(#""2025-11-25T10:40:20.2+01:00""#) == 1_764_063_620_200)
        #expect(try ts(#""2025-11-25T09:40:20.2009Z""#) == 1_764_063_620_200)
        #expect(try ts(#""2025-11-25 09:40:20Z""#) == 1_764_063_620_000)
        #expect(try ts("1764063620200") == 1_764_063_620_200)
        #expect(try ts("1.7640636202e12") == 1_764_063_620_200)
        #expect(try ts(#""1969-12-31T23:59:59.999Z""#) == -1)
        #expect(try ts(#""2024-02-29T00:00:00Z""#) == 1_709_164_800_000)
        let invalid = #""ts" is not RFC 3339 or epoch milliseconds"#
        for bad in [
            #""2025-02-29T00:00:00Z""#, #""2025-11-25T09:40:20""#, #""2025-11-25""#, #""2025-11-25T09:40:20.Z""#,
            "1.5", "true", #""""#, "99999999999999999999", #""2025-11-25T09:40:20+1:00""#,
        ] {
            #expect(Self.error(#"{"service":"s","kind":"x.t","ts":\#(bad)}"#) == invalid, "\(bad)")
        }
    }

    @Test func fieldRulesNameTheField() {
        let cases: [(String, String)] = [
            (#"{"service":"s","kind":"x.t","servce":1}"#, #"unknown field "servce""#),
            (#"{"service":"s","kind":"x.t","kind":"x.u"}"#, #"duplicate field "kind""#),
            (#"{"kind":"x.t"}"#, #"missing required field "service""#),
            (#"{"service":"s"}"#, #"missing required field "kind""#),
            (#"{"service":5,"kind":"x.t"}"#, #""service" must be a string, not a number"#),
            (#"{"service":"a b","kind":"x.t"}"#, #""service" must be 1-64 characters of A-Z a-z 0-9 . _ - : /"#),
            (#"{"service":"s","kind":"x.t","component":""}"#, #""component" must be 1-128 printable characters"#),
            (
                #"{"service":"s","kind":"x.t","level":"fatal"}"#,
                #""level" must be one of info, warning, critical, failure, not "fatal""#
            ),
            (#"{"service":"s","kind":"x.t","incident":""}"#, #""incident" must be 1-128 characters"#),
            (#"{"service":"s","kind":"x.t","id":[1]}"#, #""id" must be a string, not an array"#),
            (#"{"service":"s","kind":"x.t","attrs":[1]}"#, #""attrs" must be a JSON object, not an array"#),
            (#"{"service":"s","kind":"x.t","v":2}"#, #""v" must be 1"#),
            (#"{"op":"sync","kind":"x.t"}"#, #"a control line has only "op", but it has "kind""#),
            (#"{"op":"flush"}"#, #"unknown op "flush""#),
            (#"["a"]"#, "line is a JSON an array, not an object"),
            (#"{"service":"s","kind":"x.t"} x"#, "invalid JSON at byte 30: unexpected data after the JSON object"),
            (#"{"service":"s","kind":"x.t""#, "invalid JSON at byte 28: unterminated object"),
            (#"{"service":"s\q","kind":"x.t"}"#, #"invalid JSON at byte 14: invalid escape '\q' in a string"#),
            (#"{"service":"s","kind":"x.t","attrs":{"a":tru}}"#, "invalid JSON at byte 42: invalid literal"),
            ("", "line is empty"),
        ]
        for (line, expected) in cases {
            #expect(Self.error(line) == expected, "\(line)")
        }
    }

    @Test func lengthLimits() throws {
        let message = String(repeating: "é", count: 4_096)
        #expect(try Self.decodeEvent(#"{"service":"s","kind":"x.t","message":"\#(message)"}"#).message == message)
        #expect(
            Self.error(#"{"service":"s","kind":"x.t","message":"\#(message)e"}"#)
                == #""message" is longer than 4096 characters"#
        )
        let key = String(repeating: "k", count: 129)
        #expect(Self.error(#"{"service":"s","kind":"x.t","id":"\#(key)"}"#) == #""id" must be 1-128 characters"#)
        let service = String(repeating: "s", count: 65)
        #expect(Self.error(#"{"service":"\#(service)","kind":"x.t"}"#) != nil)
        let long = #"{"service":"s","kind":"x.t","attrs":{"pad":""# + String(repeating: "p", count: 65_536) + #""}}"#
        #expect(Self.error(long) == "line is longer than 65536 bytes")
        var nested = #"{"service":"s","kind":"x.t","attrs":"#
        nested += #"{"a":"# + String(repeating: "[", count: 70) + String(repeating: "]", count: 70) + "}}"
        #expect(Self.error(nested) == #""attrs" nests deeper than 64 levels"#)
    }

    @Test func badUTF8IsNamed() {
        var bytes = Array(#"{"service":"s","kind":"x.t","message":"caf"#.utf8)
        bytes += [0xC3, 0x28] + Array(#""}"#.utf8)
        #expect(throws: LineError(#""message" is not valid UTF-8"#)) { try WireDecoder.decode(bytes) }
        var outside = Array(#"{"service":"s","kind":"x.t"}"#.utf8)
        outside.insert(0xFF, at: 1)
        #expect(throws: LineError("line is not valid UTF-8")) { try WireDecoder.decode(outside) }
        #expect(
            Self.error(#"{"service":"s","kind":"x.t","message":"\ud800"}"#)
                == #""message" is unpaired surrogate in a \u escape"#
        )
    }

    @Test func escapesAreDecoded() throws {
        let event = try Self.decodeEvent(#"{"service":"s","kind":"x.t","message":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}"#)
        #expect(event.message == "a\"b\\c/d\né😀")
    }

    @Test func controlLines() throws {
        #expect(try WireDecoder.decode(#"{"op":"sync"}"#) == .control(.sync))
        #expect(try WireDecoder.decode(#" { "op" : "ping" } "#) == .control(.ping))
    }

    @Test func wireLineRoundTrips() throws {
        let event = Event(
            service: "portal",
            kind: .breakerOpened,
            component: "openai",
            timestamp: 1_764_063_620_200,
            level: .critical,
            message: "5 failures \"in a row\"\n",
            incident: "inc-1",
            id: "e1",
            attributesJSON: #"{"failures":5}"#
        )
        #expect(try WireDecoder.decode(event.wireLine) == .event(event))
    }
}

@Suite struct CorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func lines(_ name: String) throws -> [String] {
        let text = try String(contentsOf: root.appendingPathComponent("schema/examples/\(name)"), encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }

    @Test func theDecoderAcceptsEveryGoodLineAndRejectsEveryBadOne() throws {
        let good = try Self.lines("good.ndjson")
        let bad = try Self.lines("bad.ndjson")
        #expect(good.count >= 25)
        #expect(bad.count >= 45)
        for line in good {
            #expect(throws: Never.self, "\(line.prefix(100))") { try WireDecoder.decode(line) }
        }
        for line in bad {
            #expect(throws: LineError.self, "\(line.prefix(100))") { try WireDecoder.decode(line) }
        }
    }

    /// The JSON Schema says the same of the same lines (checked by Python's jsonschema, a second implementation).
    @Test func theJSONSchemaAgreesOnTheCorpus() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", Self.root.appendingPathComponent("scripts/check-schema.py").path, Self.root.path,
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text)")
        #expect(text.contains("check-schema: 0 mismatches"))
    }
}

@Suite struct TimestampTests {
    @Test func formatsUTCWithMilliseconds() {
        #expect(Timestamp.formatRFC3339(1_764_063_620_200) == "2025-11-25T09:40:20.200Z")
        #expect(Timestamp.formatRFC3339(0) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.formatRFC3339(-1) == "1969-12-31T23:59:59.999Z")
        #expect(Timestamp.formatRFC3339(1_764_063_620_200, offsetSeconds: 3_600) == "2025-11-25T10:40:20.200+01:00")
    }

    @Test func parseAndFormatRoundTripOverTheRange() {
        var value = Timestamp.minimum
        let step: Int64 = 9_876_543_210_987
        while value <= Timestamp.maximum {
            #expect(Timestamp.parseRFC3339(Timestamp.formatRFC3339(value)) == value)
            value += step
        }
        #expect(Timestamp.parseRFC3339(Timestamp.formatRFC3339(Timestamp.maximum)) == Timestamp.maximum)
    }

    @Test func civilDaysAgreeWithFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        // Foundation's Gregorian calendar is Julian before 1582: compare from 1600 on.
        for days in stride(from: -135_000, through: 800_000, by: 997) {
            let date = Date(timeIntervalSince1970: Double(days) * 86_400)
            let parts = calendar.dateComponents([.year, .month, .day], from: date)
            let civil = Timestamp.civilFromDays(days)
            #expect(civil.year == parts.year && civil.month == parts.month && civil.day == parts.day)
            #expect(Timestamp.daysFromCivil(year: civil.year, month: civil.month, day: civil.day) == days)
        }
    }
}
