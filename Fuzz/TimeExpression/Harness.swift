// libFuzzer harness: the time expressions of the command line and the HTTP API
// (Sources/SelfHealEvents/TimeExpression.swift), compiled with the SelfHealEvents sources by scripts/fuzz.sh. Any text: a time or a one-line error, never a trap; a
// time that parses is formatted back and parses to the same instant.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTimeExpression(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    // The first byte picks a zone, so that dates are read in zones with and without daylight saving time.
    let zones = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "Australia/Lord_Howe"]
    let zone = TimeZone(identifier: zones[Int(size > 0 ? data[0] : 0) % zones.count])!
    let parser = TimeExpression(zone: zone, now: 1_764_063_620_200)
    guard let millis = try? parser.millis(text) else { return 0 }
    guard millis >= Timestamp.minimum, millis <= Timestamp.maximum else { return 0 }
    let formatted = Timestamp.formatRFC3339(millis)
    guard (try? parser.millis(formatted)) == millis else {
        fatalError("\(text) parsed to \(millis), formatted \(formatted), which does not parse back to it")
    }
    return 0
}
