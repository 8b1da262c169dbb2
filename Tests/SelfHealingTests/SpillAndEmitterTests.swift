import Foundation
import SelfHealEvents
import Testing

@testable import SelfHealing

@Suite struct SpillFileTests {
    @Test func isBoundedAndCountsDrops() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let spill = try SpillFile(path: directory.appendingPathComponent("spill.ndjson").path, maxBytes: 100)
        let line = String(repeating: "x", count: 29)  // 30 bytes with its line end
        #expect(spill.append([line, line, line, line, line]) == 3)
        #expect(spill.byteCount == 90)
        #expect(spill.droppedCount == 2)
        #expect(spill.append(["too long"]) == 1)  // 9 more bytes still fit
        #expect(spill.append(["y"]) == 0)
        #expect(spill.byteCount <= 100)
    }

    @Test func replaysInOrderAndSurvivesReopening() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("spill.ndjson").path
        let lines = (1...10).map { #"{"service":"s","kind":"batch.completed","id":"p-\#($0)"}"# }
        do {
            let spill = try SpillFile(path: path)
            spill.append(lines)
            let (first, bytes) = spill.peek(maxLines: 4)
            #expect(first == Array(lines[0..<4]))
            spill.removeFirst(bytes: bytes)
            #expect(spill.peek(maxLines: 2).lines == Array(lines[4..<6]))
        }
        // A process that died mid-write left half a line.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(#"{"service":"s","ki"#.utf8))
        try handle.close()
        let reopened = try SpillFile(path: path)
        let (rest, bytes) = reopened.peek(maxLines: 100)
        #expect(rest == Array(lines[4...]))
        reopened.removeFirst(bytes: bytes)
        #expect(reopened.isEmpty)
        reopened.append(["after"])
        #expect(reopened.peek(maxLines: 10).lines == ["after"])
    }
}

@Suite struct SpillFileHeadTests {
    @Test func confirmedLinesAreSkippedByAHeadOffsetAndCompactedWhenRoomIsNeeded() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("spill.ndjson").path
        let line = { (index: Int) in String(format: "line-%05d", index) }  // 11 bytes with its line end
        do {
            let spill = try SpillFile(path: path, maxBytes: 110)
            #expect(spill.append((0..<10).map(line)) == 10)
            let (first, bytes) = spill.peek(maxLines: 6)
            spill.removeFirst(bytes: bytes)
            #expect(first.count == 6)
            // Confirming does not rewrite the file: it is still 110 bytes, 44 of them unconfirmed.
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 110)
            #expect(spill.byteCount == 44)
        }
        // Reopened, it resumes after the confirmed lines.
        let reopened = try SpillFile(path: path, maxBytes: 110)
        #expect(reopened.peek(maxLines: 100).lines == (6..<10).map(line))
        // An append that needs the room compacts the file first.
        #expect(reopened.append((10..<16).map(line)) == 6)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 110)
        #expect(reopened.peek(maxLines: 100).lines == (6..<16).map(line))
        // Confirming everything empties it.
        reopened.removeFirst(bytes: reopened.peek(maxLines: 100).byteCount)
        #expect(reopened.isEmpty)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int == 0)
        #expect(try SpillFile(path: path).isEmpty)
    }

    @Test func aHeadThatDoesNotFitTheFileMeansReplayEverything() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("spill.ndjson").path
        try SpillFile(path: path).append(["a", "b"])
        try Data("1\n".utf8).write(to: URL(fileURLWithPath: path + ".head"))  // not at a line start
        #expect(try SpillFile(path: path).peek(maxLines: 10).lines == ["a", "b"])
        try Data("999\n".utf8).write(to: URL(fileURLWithPath: path + ".head"))  // past the end
        #expect(try SpillFile(path: path).peek(maxLines: 10).lines == ["a", "b"])
    }
}

@Suite struct SocketEventEmitterTests {
    func configuration(_ directory: URL, queueCapacity: Int = 1_000) -> SocketEmitterConfiguration {
        var configuration = SocketEmitterConfiguration(
            socketPath: directory.appendingPathComponent("ingest.sock").path,
            spillPath: directory.appendingPathComponent("spill.ndjson").path
        )
        configuration.queueCapacity = queueCapacity
        configuration.idPrefix = "test"
        configuration.reconnectInitialDelay = .milliseconds(5)
        configuration.reconnectMaxDelay = .milliseconds(20)
        configuration.replyTimeout = .seconds(5)
        return configuration
    }

    func event(_ number: Int) -> Event {
        Event(service: "portal", kind: .batchCompleted, component: "spam-capture", message: "batch \(number)")
    }

    func spilled(_ emitter: SocketEventEmitter) throws -> [Event] {
        let spill = try #require(emitter.spill)
        return try spill.peek(maxLines: 10_000).lines.map { line in
            guard case .event(let event) = try WireDecoder.decode(line) else { throw LineError("not an event") }
            return event
        }
    }

    func spilledIDs(_ emitter: SocketEventEmitter) throws -> [String] {
        try spilled(emitter).map { $0.id ?? "" }
    }

    @Test func spillsWithIdsWhenNoDaemonAnswers() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let emitter = SocketEventEmitter(configuration: configuration(directory))
        emitter.start()
        for number in 1...5 { emitter.emit(event(number)) }
        var withID = event(6)
        withID.id = "service-chosen"
        emitter.emit(withID)
        #expect(emitter.flush(timeout: .seconds(10)))
        #expect(emitter.shutdown(timeout: .seconds(10)))
        #expect(try spilledIDs(emitter) == ["test-1", "test-2", "test-3", "test-4", "test-5", "service-chosen"])
        let statistics = emitter.currentStatistics
        #expect(statistics.emitted == 6 && statistics.spilled == 6 && statistics.dropped == 0)
    }

    @Test func fullQueueSpillsInTheCallerWithoutBlocking() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let emitter = SocketEventEmitter(configuration: configuration(directory, queueCapacity: 2))
        for number in 1...5 { emitter.emit(event(number)) }  // not started: the queue fills at once
        #expect(try spilled(emitter).map(\.message) == ["batch 3", "batch 4", "batch 5"])
        #expect(emitter.shutdown())
        let events = try spilled(emitter)
        #expect(events.map(\.message) == ["batch 3", "batch 4", "batch 5", "batch 1", "batch 2"])
        #expect(Set(events.compactMap(\.id)) == Set((1...5).map { "test-\($0)" }))
        #expect(events.allSatisfy { $0.timestamp != nil })
    }

    @Test func replaysTheSpillAfterTheDaemonComesBackWithoutLossOrDoubles() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = configuration(directory)
        let store = FakeDaemon.Store()
        var daemon = try FakeDaemon(path: configuration.socketPath, store: store)
        let emitter = SocketEventEmitter(configuration: configuration)
        emitter.start()
        for number in 1...3 { emitter.emit(event(number)) }
        #expect(emitter.waitUntilDelivered(timeout: .seconds(10)))
        #expect(store.lines.count == 3)

        daemon.stop()
        for number in 4...6 { emitter.emit(event(number)) }
        #expect(emitter.flush(timeout: .seconds(10)))
        #expect(try spilledIDs(emitter) == ["test-4", "test-5", "test-6"])
        // A line the daemon stored but whose confirmation was lost comes back too: it must not be stored twice.
        emitter.spill?.append([store.lines[0]])

        daemon = try FakeDaemon(path: configuration.socketPath, store: store)
        #expect(emitter.waitUntilDelivered(timeout: .seconds(10)))
        #expect(emitter.shutdown())
        daemon.stop()
        let ids = try store.lines.map { line -> String in
            guard case .event(let event) = try WireDecoder.decode(line) else { return "" }
            return event.id ?? ""
        }
        #expect(ids == (1...6).map { "test-\($0)" })
        let statistics = emitter.currentStatistics
        #expect(statistics.replayed == 4)
        #expect(statistics.duplicates == 1)
        #expect(statistics.dropped == 0)
    }

    @Test func emitNeverWaitsForAStalledDaemon() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var configuration = configuration(directory)
        configuration.replyTimeout = .seconds(60)
        let daemon = try FakeDaemon(path: configuration.socketPath, store: FakeDaemon.Store(), stalls: true)
        let emitter = SocketEventEmitter(configuration: configuration)
        emitter.start()
        emitter.emit(event(0))
        // The writer sent a batch and now waits for a sync reply that never comes.
        #expect(FakeDaemon.wait { daemon.syncRequests == 1 })
        let start = ContinuousClock.now
        for number in 1...1_000 { emitter.emit(event(number)) }
        #expect(start.duration(to: .now) < .seconds(5))  // 1,000 emits, while the writer is stuck for a minute
        #expect(emitter.currentStatistics.emitted == 1_001)
        // The daemon goes away: the writer's wait ends, everything goes to the spill file, nothing is lost.
        daemon.stop()
        #expect(emitter.shutdown(timeout: .seconds(10)))
        #expect(try spilled(emitter).count == 1_001)
        #expect(emitter.currentStatistics.dropped == 0)
    }
}
