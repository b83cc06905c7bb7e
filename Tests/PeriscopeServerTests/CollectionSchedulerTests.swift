import PeriscopeEventLoop
import PeriscopeSystem
import Testing
@testable import PeriscopeServer

/// The host map's collection work runs on a queue of its own; its result comes back to the loop later. The
/// service that asked for it may be gone by then (a daemon shutting down, an embedded daemon released by a test):
/// the result is then dropped, not delivered to freed memory.
@Suite("Collection scheduler lifetime", .serialized)
struct CollectionSchedulerTests {
    @Test func aServiceReleasedWhileItsPassRunsIsNotCalledBack() throws {
        let loop = try EventLoop()
        defer { loop.close() }
        let core = ServerCore(configuration: ServerConfiguration(), loop: loop)
        weak var released: CollectionScheduler?
        weak var gone: TopologyService?
        do {
            let service = TopologyService(core: core)
            gone = service
            service.pipeline.containers = nil  // no engine-event thread, which would hold the service a while longer
            released = service.scheduler
            service.start()  // the first full pass is queued on the collection queue now
            service.stop()
        }
        #expect(gone == nil, "nothing but the pass in flight should hold on after the service is released")
        // The pass still runs and keeps the scheduler until its result reaches the loop.
        #expect(released != nil, "the pass in flight should keep the scheduler until its result is delivered")
        let deadline = SystemClock.monotonicMillis() + 20_000
        while released != nil, SystemClock.monotonicMillis() < deadline {
            loop.run(forMillis: 20)
        }
        #expect(released == nil, "the scheduler should go once the pass's result was dropped")
    }
}
