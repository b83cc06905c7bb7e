import Glibc
import PeriscopeEventLoop
import Testing

/// Teardown order of the loop: the `event_base` must outlive every event, bufferevent and listener made on it,
/// whatever order their owners are released in, and worker threads that outlive the loop must not wake it.
///
/// The daemon's deinit released `ServerCore` (and with it the last reference to the loop, so `event_base_free`)
/// before its own timers, whose `event_free` then locked the freed base's mutex: CI's glibc assertion in
/// `__pthread_tpp_change_priority` at SIGTERM once that memory had been reused.
@Suite("EventLoop teardown", .serialized)
struct LoopTeardownTests {
    /// Makes a loop, the loop-bound objects `make` returns, and drops the caller's loop reference.
    private static func bound<T>(_ make: (EventLoop) throws -> T) throws -> (weak: () -> EventLoop?, objects: T) {
        var loop: EventLoop? = try EventLoop()
        let objects = try make(loop!)
        weak let weakLoop = loop
        loop = nil
        return ({ weakLoop }, objects)
    }

    @Test("a pending timer keeps the base alive until it is freed")
    func timerOutlivesOwner() throws {
        var (loop, timer) = try Self.bound { loop -> LoopTimer? in
            let timer = LoopTimer(loop: loop) {}
            timer.schedule(afterMillis: 60_000)
            return timer
        }
        #expect(loop() != nil, "the base was freed while a timer on it was still scheduled")
        #expect(timer?.isPending == true)
        timer = nil
        #expect(loop() == nil, "the loop stayed alive after its last timer went")
    }

    @Test("a connection and a listener keep the base alive")
    func ioObjectsOutliveOwner() throws {
        var pair: [Int32] = [-1, -1]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[1]) }
        let path = "/tmp/periscope-teardown-\(getpid()).sock"
        defer { unlink(path) }
        var (loop, objects) = try Self.bound { loop -> (Connection, Listener)? in
            let listenFD = try SocketAddress.listenUnix(path: path)
            return (try Connection(loop: loop, fd: pair[0], peer: "unix"),
                    try Listener(loop: loop, fd: listenFD, address: path) { fd, _ in close(fd) })
        }
        #expect(loop() != nil, "the base was freed while a connection and a listener were still on it")
        objects?.0.write(Array("queued after the owner let go".utf8))
        #expect(objects?.0.outputBufferedCount == 29)
        objects = nil
        #expect(loop() == nil, "the loop stayed alive after its last connection and listener went")
    }

    @Test("after close, work from another thread is dropped and its captures released")
    func executeAfterClose() throws {
        final class Token: Sendable {}
        final class Ran: @unchecked Sendable { var value = false }
        let loop = try EventLoop()
        loop.run(forMillis: 1)
        loop.close()
        #expect(loop.isClosed)
        let ran = Ran()
        weak var weakToken: Token?
        do {
            // A worker that outlives the loop (a pipe still hanging up its exec) hands over its last event.
            let token = Token()
            weakToken = token
            let work = Box { loop.execute { [token] in _ = token; ran.value = true } }
            var thread = pthread_t()
            try #require(pthread_create(&thread, nil, { raw in
                Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
                return nil
            }, Unmanaged.passRetained(work).toOpaque()) == 0)
            pthread_join(thread, nil)
        }
        #expect(weakToken == nil, "the closed loop kept the worker's closure (and what it captured)")
        loop.run(forMillis: 1)
        #expect(!ran.value)
    }

    @Test("work queued before close still runs on the loop thread")
    func closeDrainsQueued() throws {
        let loop = try EventLoop()
        final class Flag: @unchecked Sendable { var value = false }
        let flag = Flag()
        loop.run(forMillis: 1)
        loop.execute { flag.value = true }
        loop.close()
        #expect(flag.value)
    }

    private final class Box: Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
}
