import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Ends the private reader threads of the monitors (process connector, socket state tracepoint), which
/// block in poll() on their kernel fd plus an eventfd. Threads are started with ``SystemThread``.
enum WorkerThread {
    /// Wakes a reader blocked in poll() through its eventfd and waits for its thread to end — unless
    /// called from that very thread (from its handler), where it detaches instead. Any thread.
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

extension Mutex {
    /// The value, leaving nil in its place: how a monitor's ``stop()`` claims its running state once.
    func take<Wrapped>() -> Wrapped? where Value == Wrapped? {
        withLock { value in
            defer { value = nil }
            return value
        }
    }
}
