import PeriscopeSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Ends the private reader threads of the monitors (process connector, socket state tracepoint), which
/// block in poll() on their kernel fd plus an eventfd. Threads are started with ``SystemThread``.
enum WorkerThread {
    /// How long a reader waits after reading a batch before it looks at its kernel fd again, milliseconds, when
    /// events come steadily (see ``Coalescer``). The kernel wakes a reader blocked in poll() for every event;
    /// under churn (a build: fork, exec and exit of many short-lived processes, each with a few TCP state
    /// changes) that is a wake-up per event or two, and the wake-up (a context switch, poll) costs more than the
    /// event. Holding off gathers whatever comes in the meantime into one batch: at most 1000 / 10 = 100 batches
    /// a second per source. An event during the hold-off waits for its end (≤ 10 ms: this is the hold-off while
    /// someone looks, so it is kept short — it adds to what subscribers see). The buffers hold far more than
    /// that of events (the connector's 8 MiB receive buffer, the tracepoint's per-CPU rings).
    static let coalesceMillis: Int32 = 10
    /// The hold-off while nobody looks (see ``HostMonitor/setInDemand(_:)``): updates are then a second apart
    /// anyway (``CollectionScheduler``'s idle patch gap), so a longer wait costs no visible latency and wakes a
    /// reader at most ~2 times a second under steady churn (on this class of VM each wake-up costs the woken
    /// thread ~50-70 us of CPU whatever it then does, which made the readers most of an idle daemon's cost
    /// during a build).
    static let idleCoalesceMillis: Int32 = 500
    /// Events come steadily when a batch is the ``steadyBatches``-th within ``steadyMillis`` (≥ 40 batches a
    /// second), or when events were waiting right at the end of a hold-off: the reader then holds off (again).
    /// Sparser than that (a lone event, the few bursts of an occasional connection) it does not: the hold-off's
    /// own timer wake-up would cost more than it saves.
    static let steadyMillis: UInt64 = 100
    static let steadyBatches = 4

    /// A reader's batching: call ``afterBatch(eventFD:holdOffMillis:)`` after reading each batch. The reader's
    /// thread only.
    struct Coalescer {
        /// When the last ``steadyBatches`` - 1 batches were read (monotonic ns), oldest first.
        private var recent: [UInt64] = []
        /// When the last hold-off ended (monotonic ns), if the reader held off after the previous batch.
        private var heldUntil: UInt64?
        /// Batches read (wake-ups that found events), for status.
        private(set) var batches: UInt64 = 0

        /// Counts a batch; when events come steadily, waits `holdOffMillis` (``coalesceMillis`` or
        /// ``idleCoalesceMillis``) or until `eventFD` (the stop signal) is written. Returns false when the reader
        /// should end.
        mutating func afterBatch(eventFD: Int32, holdOffMillis: Int32) -> Bool {
            let now = SystemClock.monotonicNanos()
            batches += 1
            // Read within 10 ms of the hold-off's end: the events were waiting, they still come steadily.
            let waiting = heldUntil.map { now &- $0 < 10_000_000 } ?? false
            let steady = waiting || (recent.count == WorkerThread.steadyBatches - 1
                                     && now &- recent[0] < WorkerThread.steadyMillis * 1_000_000)
            if recent.count == WorkerThread.steadyBatches - 1 { recent.removeFirst() }
            recent.append(now)
            guard steady else {
                heldUntil = nil
                return true
            }
            let more = WorkerThread.holdOff(eventFD: eventFD, millis: holdOffMillis)
            heldUntil = SystemClock.monotonicNanos()
            return more
        }
    }

    /// What ``signalStop(_:)`` adds to a reader's eventfd; ``nudge(_:)`` adds 1. A reader that reads the counter
    /// (``readSignal(_:)``) tells them apart: at or above this, the stop signal came (perhaps with nudges).
    static let stopValue: UInt64 = 1 << 32

    /// Tells the reader waiting on `eventFD` to end. Any thread.
    static func signalStop(_ eventFD: Int32) {
        var value = stopValue
        _ = write(eventFD, &value, 8)
    }

    /// Ends the current hold-off of the reader waiting on `eventFD` early (someone started looking: its hold-off
    /// became shorter), without ending the reader. Any thread.
    static func nudge(_ eventFD: Int32) {
        var one: UInt64 = 1
        _ = write(eventFD, &one, 8)
    }

    /// Reads (and so clears) `eventFD` once poll() found it readable: true when it carries the stop signal,
    /// false for a nudge only. The reader's thread.
    static func readSignal(_ eventFD: Int32) -> Bool {
        var value: UInt64 = 0
        var n = read(eventFD, &value, 8)
        while n < 0 && errno == EINTR { n = read(eventFD, &value, 8) }
        return n != 8 || value >= stopValue
    }

    /// Waits `millis`, or until `eventFD` is written: a nudge ends the wait early (returns true), the stop signal
    /// returns false (the reader should end). The reader's thread.
    static func holdOff(eventFD: Int32, millis: Int32) -> Bool {
        var wake = pollfd(fd: eventFD, events: Int16(POLLIN), revents: 0)
        let deadline = SystemClock.monotonicNanos() + UInt64(max(0, millis)) * 1_000_000
        while true {
            let now = SystemClock.monotonicNanos()
            guard now < deadline else { return true }
            let ready = poll(&wake, 1, Int32((deadline - now + 999_999) / 1_000_000))
            if ready > 0 { return !readSignal(eventFD) }
            if ready < 0 && errno != EINTR { return false }
        }
    }

    /// Wakes a reader blocked in poll() through its eventfd and waits for its thread to end — unless
    /// called from that very thread (from its handler), where it detaches instead. Any thread.
    static func wakeAndJoin(_ thread: pthread_t, eventFD: Int32) {
        signalStop(eventFD)
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
