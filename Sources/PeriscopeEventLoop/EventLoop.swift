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
///
/// Teardown: every object bound to the base (``LoopTimer``, ``SignalWatcher``, ``Listener``, ``Connection``,
/// ``HTTPServer``) holds the loop strongly, so `event_base_free` runs only after the last of them has freed its
/// event — whatever order their owners are released in. ``close()`` ends cross-thread hand-offs: work queued by a
/// worker thread afterwards is dropped instead of waking a base nobody runs (and the queue no longer keeps the
/// loop, and what the closures capture, alive through a cycle).
public final class EventLoop: @unchecked Sendable {
    /// The underlying `event_base`. Only on the loop thread.
    public let base: OpaquePointer
    private var wakeEvent: OpaquePointer?
    /// Work handed over from other threads, and whether ``close()`` has run.
    private struct Pending {
        var work: [@Sendable () -> Void] = []
        var closed = false
    }
    private let pending = Mutex(Pending())
    private let loopThread = Mutex<pthread_t?>(nil)
    private let logger = Logger(label: "periscope.loop")
    /// Closures run by the wake-up event so far (for `daemon/status`).
    public private(set) var tasksRun: UInt64 = 0

    /// Creates the loop. Call once per process before any other libevent use.
    public init() throws {
        // A peer that hangs up must give the loop's writes EPIPE, not kill the process: libevent writes sockets
        // with writev, which raises SIGPIPE. (The daemon did this itself; every user of the loop needs it.)
        signal(SIGPIPE, SIG_IGN)
        if evthread_use_pthreads() != 0 {
            throw EventLoopError("evthread_use_pthreads failed")
        }
        // Precise timers: with the default coarse clock each timer woke the loop a jiffy early and then again.
        guard let config = event_config_new() else { throw EventLoopError("event_config_new failed") }
        defer { event_config_free(config) }
        _ = event_config_set_flag(config, PERISCOPE_EVENT_BASE_FLAG_PRECISE_TIMER)
        guard let base = event_base_new_with_config(config) else {
            throw EventLoopError("event_base_new_with_config failed")
        }
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

    /// Queues `work` to run on the loop thread soon. Any thread; never blocks on the loop. After ``close()``
    /// the work is dropped (released on the calling thread) and the loop is not touched.
    public func execute(_ work: @escaping @Sendable () -> Void) {
        let wasEmpty = pending.withLock { state -> Bool? in
            guard !state.closed else { return nil }
            state.work.append(work)
            return state.work.count == 1
        }
        if wasEmpty == true, let wakeEvent { periscope_evuser_trigger(wakeEvent) }
    }

    /// Whether ``close()`` has run. Any thread.
    public var isClosed: Bool { pending.withLock { $0.closed } }

    /// Ends the loop's service to other threads, after ``run()`` has returned for good: runs what is still
    /// queued, then drops anything ``execute(_:)`` is given from now on. Worker threads that outlive the loop
    /// (a pipe still hanging up its exec, a dispatch queue finishing a write) then never wake the base again, and
    /// the queue holds no closure that keeps the loop alive. Loop thread; idempotent.
    public func close() {
        drain()
        let leftover = pending.withLock { state -> [@Sendable () -> Void] in
            state.closed = true
            defer { state.work.removeAll() }
            return state.work
        }
        _ = leftover  // queued by `drain`'s own work: released here, outside the lock, not run
    }

    private func drain() {
        let work = pending.withLock { state -> [@Sendable () -> Void] in
            let taken = state.work
            state.work.removeAll(keepingCapacity: true)
            return taken
        }
        guard !work.isEmpty else { return }
        for item in work {
            item()
            tasksRun &+= 1
        }
    }
}
