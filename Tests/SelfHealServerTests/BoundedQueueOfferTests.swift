import Testing

@testable import SelfHealServer

/// `BoundedQueue.offer`, the HTTP ingest's way into the writer's queue: whole or not at all, never beyond
/// capacity, giving up after its wait.
@Suite struct BoundedQueueOfferTests {
    @Test func anOfferThatFitsIsQueuedAndOneThatDoesNotGivesUp() async {
        let queue = BoundedQueue<Int>(capacity: 10)
        #expect(await queue.offer(1, weight: 8, waitingAtMost: .zero) == .queued)
        #expect(await queue.offer(2, weight: 5, waitingAtMost: .milliseconds(20)) == .full)
        #expect(queue.depth == 8)
        #expect(await queue.popAll() == [1])
        // An empty queue takes even an element heavier than its capacity (a body larger than the queue).
        #expect(await queue.offer(3, weight: 50, waitingAtMost: .zero) == .queued)
        #expect(await queue.popAll() == [3])
    }

    @Test func aWaitingOfferIsQueuedOnceTheWriterTakesTheQueue() async {
        let queue = BoundedQueue<Int>(capacity: 10)
        await queue.push(1, weight: 9)
        async let offered = queue.offer(2, weight: 5, waitingAtMost: .seconds(30))
        while queue.depth != 9 { await Task.yield() }
        #expect(await queue.popAll() == [1])
        #expect(await offered == .queued)
        #expect(await queue.popAll() == [2])
    }

    @Test func aFinishedQueueRefusesOffers() async {
        let queue = BoundedQueue<Int>(capacity: 10)
        await queue.push(1, weight: 10)
        async let offered = queue.offer(2, weight: 5, waitingAtMost: .seconds(30))
        queue.finish()
        #expect(await offered == .finished)
        #expect(await queue.popAll() == [1])
        #expect(await queue.popAll() == nil)
    }
}
