import CPeriscopeLinux
#if canImport(Glibc)
import Glibc
#endif

/// Starts a joinable pthread running `body` (used for the process connector and the reverse resolver,
/// which block in syscalls and must not run on the event loop or a Swift concurrency pool thread).
enum WorkerThread {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Returns the thread, or nil when pthread_create fails.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> pthread_t? {
        let box = Unmanaged.passRetained(Box({
            psc_set_thread_name(name)
            body()
        })).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return nil
        }
        return thread
    }

    /// Wakes a reader blocked in poll() through its eventfd and waits for its thread to end — unless
    /// called from that very thread (from its handler), where it detaches instead.
    static func wakeAndJoin(_ thread: pthread_t, eventFD: Int32) {
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
        if pthread_equal(pthread_self(), thread) != 0 {
            pthread_detach(thread)
        } else {
            pthread_join(thread, nil)
        }
    }
}
