// libFuzzer harness: the wire decoder (Sources/SelfHealEvents/WireDecoder.swift), compiled into one module with
// the SelfHealEvents sources by scripts/fuzz.sh. Any input: no crash; an input that decodes to an event encodes
// (`wireLine`) to a line that decodes to the same event.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWireDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    _ = WireDecoder.isBlank(bytes)
    guard case .event(let event) = try? WireDecoder.decode(bytes) else { return 0 }
    let again: WireLine
    do {
        again = try WireDecoder.decode(event.wireLine)
    } catch {
        fatalError("a decoded event's wireLine does not decode: \(error) in \(event.wireLine)")
    }
    guard again == .event(event) else { fatalError("round trip changed the event: \(event) became \(again)") }
    return 0
}
