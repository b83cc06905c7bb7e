import Glibc
import CLibevent
import Logging
import Synchronization

/// Errors raised while setting up loop resources (listeners, events).
public struct EventLoopError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One libevent `event_base` and the thread that runs it.
///
/// Everything that touches sockets, timers and sessions runs on the loop thread (the thread that
/// calls ``run()``). Other threads hand work to it with ``execute(_:)``, which appends a closure to a
/// locked queue and activates one wake-up event — the pattern swift-nio uses, on libevent.
///
/// - Important: apart from ``execute(_:)``, ``stop()`` and ``isInLoopThread``, call members only on
///   the loop thread.
public final class EventLoop: @unchecked Sendable {
    /// The underlying `event_base`. Only on the loop thread.
    public let base: OpaquePointer
    private var wakeEvent: OpaquePointer?
    private let pending = Mutex<[@Sendable () -> Void]>([])
    private let loopThread = Mutex<pthread_t?>(nil)
    private let logger = Logger(label: "periscope.loop")
    /// Closures run by the wake-up event so far (for `daemon/status`).
    public private(set) var tasksRun: UInt64 = 0

    /// Creates the loop. Call once per process before any other libevent use.
    public init() throws {
        if evthread_use_pthreads() != 0 {
            throw EventLoopError("evthread_use_pthreads failed")
        }
        guard let base = event_base_new() else { throw EventLoopError("event_base_new failed") }
        self.base = base
        let context = Unmanaged.passUnretained(self).toOpaque()
        guard let wake = periscope_evuser_new(base, { _, _, context in
            guard let context else { return }
            Unmanaged<EventLoop>.fromOpaque(context).takeUnretainedValue().drain()
        }, context) else {
            event_base_free(base)
            throw EventLoopError("could not create the wake-up event")
        }
        wakeEvent = wake
        event_add(wake, nil)
    }

    deinit {
        if let wakeEvent { event_free(wakeEvent) }
        event_base_free(base)
    }

    /// The libevent backend in use (`epoll` on Linux).
    public var backendName: String {
        event_base_get_method(base).map { String(cString: $0) } ?? "unknown"
    }

    /// Whether the caller is on the loop thread.
    public var isInLoopThread: Bool {
        guard let owner = loopThread.withLock({ $0 }) else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }

    /// Runs the loop on the calling thread until ``stop()``. That thread becomes the loop thread.
    public func run() {
        loopThread.withLock { $0 = pthread_self() }
        drain()
        event_base_loop(base, 0)
        drain()
    }

    /// Runs the loop on the calling thread for about `millis` milliseconds, then returns: what a
    /// socket-free test uses to let timers fire and cross-thread work land. That thread is the loop
    /// thread meanwhile.
    public func run(forMillis millis: Int) {
        loopThread.withLock { $0 = pthread_self() }
        drain()
        periscope_loopexit_ms(base, max(0, millis))
        event_base_loop(base, 0)
        drain()
    }

    /// Asks the loop to return from ``run()`` after the current iteration. Any thread.
    public func stop() {
        execute { [self] in event_base_loopbreak(self.base) }
    }

    /// Queues `work` to run on the loop thread soon. Any thread; never blocks on the loop.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let wasEmpty = pending.withLock { queue -> Bool in
            queue.append(work)
            return queue.count == 1
        }
        if wasEmpty, let wakeEvent { periscope_evuser_trigger(wakeEvent) }
    }

    private func drain() {
        let work = pending.withLock { queue -> [@Sendable () -> Void] in
            let taken = queue
            queue.removeAll(keepingCapacity: true)
            return taken
        }
        guard !work.isEmpty else { return }
        for item in work {
            item()
            tasksRun &+= 1
        }
    }
}
