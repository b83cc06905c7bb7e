import CPeriscopeLinux
import PeriscopeSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// TCP state changes as they happen, from the kernel tracepoint `sock:inet_sock_set_state` read through
/// `perf_event_open` (no eBPF): per CPU, an mmapped ring fed by one of two sampling events (``PerfRings``).
/// While state changes are sparse the kernel wakes the reader on every one, so a lone connection is seen at once
/// and a quiet host costs no wake-up at all. When they come faster than one per period — ``WorkerThread/
/// coalesceMillis`` (10 ms) while someone looks, ``WorkerThread/idleCoalesceMillis`` (500 ms) while nobody does
/// (``setHoldOff(millis:)``) — the reader switches to the other event: it reads the rings once a period, and
/// the kernel wakes it sooner only when a ring holds ``wakeupSamples`` samples, so a flood is read as fast as
/// it comes and never waits out a period. Five periods that bring nothing switch back. So a stream of
/// connections costs ≤ 100 (≤ 2) wake-ups a second, not one per state change.
///
/// Needs root (or `CAP_PERFMON` plus a mounted, readable tracefs). Events can be lost when a ring fills
/// faster than the reader drains it (counted in ``eventsLost``); consumers must still reconcile with
/// ``HostCollector`` passes. The tracepoint is host-wide: events come from every network namespace
/// and do not say which one.
///
/// ``start(handler:)`` spawns a private thread (`periscope-sockst`); the handler runs on it. All members
/// are safe to call from any thread.
public final class SocketStateMonitor: @unchecked Sendable {
    private final class Counters: Sendable {
        let seen = Atomic<UInt64>(0)
        let lost = Atomic<UInt64>(0)
        /// Batches read: wake-ups that found samples.
        let batches = Atomic<UInt64>(0)
        /// The period, milliseconds (``setHoldOff(millis:)``).
        let holdOff = Atomic<Int32>(WorkerThread.coalesceMillis)
        /// CPU time of the reader thread, nanoseconds, as of its last batch.
        let cpu = Atomic<UInt64>(0)
    }

    /// Samples in one CPU's ring that wake a batching reader before its period ends: with ~100-byte samples, a
    /// fifth of the smallest ring (32 KiB, when the locked-memory limit refuses larger ones), so a flood is read
    /// long before a ring fills.
    static let wakeupSamples: UInt32 = 64

    private final class Runner: @unchecked Sendable {
        /// Periods in a row without a sample after which a batching reader goes back to waking on each sample.
        static let emptyPeriodsBeforeSparse = 5
        /// Events a wakeup's buffers keep room for between wakeups (more after a burst is freed).
        static let keptCapacity = 4096
        let rings: PerfRings
        let decoder: SocketStateDecoder
        let wake: Int32
        let counters: Counters
        let handler: @Sendable ([SocketStateEvent]) -> Void

        init(rings: PerfRings, decoder: SocketStateDecoder, wake: Int32, counters: Counters,
             handler: @escaping @Sendable ([SocketStateEvent]) -> Void) {
            self.rings = rings
            self.decoder = decoder
            self.wake = wake
            self.counters = counters
            self.handler = handler
        }

        /// The wake fd lives as long as the runner: ``stop()`` and ``setHoldOff(millis:)`` may still write it after
        /// the thread has ended on its own.
        deinit { close(wake) }

        /// The reader loop. Owns the rings: releases them when it ends.
        func run() {
            defer { rings.close() }
            var fds = rings.fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            fds.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0))
            let wakeIndex = fds.count - 1
            let tracker = SocketStateTracker()
            var decoded: [(time: UInt64, cpu: Int, order: Int, socket: UInt64, event: SocketStateEvent)] = []
            var ready: [SocketStateTracker.Held] = []
            var batches: UInt64 = 0
            var lastBatch: UInt64 = 0
            var emptyPeriods = 0
            // Per CPU, the last sample: one written twice while the rings switch events comes back to back, within
            // microseconds (a socket never makes the same transition twice in a row).
            var previous = [(time: UInt64, socket: UInt64, old: String, new: String)?](repeating: nil,
                                                                                      count: rings.fds.count)
            while true {
                // Batching: the period, or sooner when a held `syn-sent` falls due (the kernel wakes us when a ring
                // fills). Sparse: the kernel wakes us for every sample.
                let period = max(1, counters.holdOff.load(ordering: .relaxed))
                let deadline = tracker.nextDeadline(now: SystemClock.monotonicNanos())
                let timeout = rings.batching ? min(deadline ?? period, period) : (deadline ?? -1)
                let polled = poll(&fds, nfds_t(fds.count), timeout)
                if polled < 0 {
                    if errno == EINTR { continue }
                    return
                }
                if fds[wakeIndex].revents != 0 && WorkerThread.readSignal(wake) { return }  // else a nudge: read now
                for i in 0..<wakeIndex where fds[i].revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                    fds[i].fd = -1      // event gone: stop polling it (its ring is still drained)
                }
                decoded.removeAll(keepingCapacity: true)
                // Kept for the next wakeup unless a burst (10,000 connections opening) grew them: then handed back
                // when the burst's batch is done, so its megabytes do not stay with the daemon while the sockets it
                // opened sit idle (before, they went at the next event, which may not come for a long time).
                defer {
                    if decoded.capacity > Self.keptCapacity { decoded = [] }
                    if ready.capacity > Self.keptCapacity { ready = [] }
                }
                let lost = rings.drain { cpu, sample in
                    guard let (socket, event) = decoder.decode(sample) else { return }
                    if let last = previous[cpu], sample.time &- last.time < 100_000, last.socket == socket,
                       last.old == event.oldState, last.new == event.newState { return }
                    previous[cpu] = (sample.time, socket, event.oldState, event.newState)
                    decoded.append((sample.time, cpu, decoded.count, socket, event))
                }
                if lost > 0 {
                    counters.lost.add(lost, ordering: .relaxed)
                    tracker.forgetOwners()
                }
                let now = SystemClock.monotonicNanos()
                if !decoded.isEmpty || lost > 0 {
                    batches += 1
                    counters.batches.store(batches, ordering: .relaxed)
                    // A second batch within a period: samples come steadily, read them once a period.
                    if !rings.batching && now &- lastBatch < UInt64(period) * 1_000_000 { rings.setBatching(true) }
                    lastBatch = now
                    emptyPeriods = 0
                } else if rings.batching && polled == 0 && (deadline ?? period) >= period {
                    // Periods without a sample: back to waking on each. Not after the first (switching costs an
                    // inter-processor call per CPU, and a stream of connections has gaps).
                    emptyPeriods += 1
                    if emptyPeriods >= Self.emptyPeriodsBeforeSparse { rings.setBatching(false) }
                }
                // Rings are per CPU and each is in time order; merge them into one timeline.
                decoded.sort { ($0.time, $0.cpu, $0.order) < ($1.time, $1.cpu, $1.order) }
                ready.removeAll(keepingCapacity: true)
                for d in decoded { tracker.process(socket: d.socket, time: d.time, event: d.event, into: &ready) }
                tracker.flush(before: SystemClock.monotonicNanos(), into: &ready)
                guard !ready.isEmpty else { continue }
                let batch = ready.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }
                counters.seen.add(UInt64(batch.count), ordering: .relaxed)
                defer { counters.cpu.store(SystemClock.threadCPUNanos(), ordering: .relaxed) }
                handler(batch.map(\.element.event))
            }
        }
    }

    private struct Running {
        var runner: Runner
        var thread: pthread_t
    }

    private let running = Mutex<Running?>(nil)
    private let counters = Mutex<Counters>(Counters())
    private let holdOff = Atomic<Int32>(WorkerThread.coalesceMillis)

    /// Creates an idle monitor.
    public init() {}

    deinit { stop() }

    /// Finds the tracepoint in tracefs (mounting tracefs at /sys/kernel/tracing if none is mounted),
    /// opens one perf event per online CPU with its ring, and starts the reader thread. `handler` runs on
    /// that thread with the events of each wakeup (usually one or a few), sorted by timestamp; it should
    /// return quickly (the rings fill while it runs). Within a socket, events come in kernel order; across
    /// sockets a batch is in timestamp order, but a `syn-sent` held for its port (see
    /// ``SocketStateEvent/localPort``) is delivered with its socket's next event, after newer events of
    /// other sockets. Throws ``CollectorError`` — `permission` when not root / perf is refused, `tracing`
    /// when tracefs, the tracepoint or a field it needs is missing — and when already started; callers
    /// then fall back to polling sock_diag. Any thread.
    public func start(handler: @escaping @Sendable ([SocketStateEvent]) -> Void) throws(CollectorError) {
        try running.withLock { (state: inout Running?) throws(CollectorError) in
            guard state == nil else { throw CollectorError(.tracing, "socket state monitor already started") }
            let name = "sock:inet_sock_set_state"
            let event = try TraceFS.event("sock", "inet_sock_set_state")
            let layout = try InetSockSetStateLayout(fields: TracepointFormat.parse(event.format))
            let rings = try PerfRings(tracepoint: event.id, name: name, wakeupEvents: 1,
                                      batchWakeupEvents: Self.wakeupSamples)
            let wake = psc_eventfd()
            guard wake >= 0 else {
                throw CollectorError(.tracing, "eventfd: \(NamespaceSockets.describe(errno))")
            }
            let fresh = Counters()
            fresh.holdOff.store(holdOff.load(ordering: .relaxed), ordering: .relaxed)
            counters.withLock { $0 = fresh }
            let decoder = SocketStateDecoder(layout: layout, realtimeOffsetNs: psc_realtime_offset_ns())
            let runner = Runner(rings: rings, decoder: decoder, wake: wake, counters: fresh, handler: handler)
            do throws(CollectorError) {
                try rings.enable(true)
            } catch {
                throw error  // the runner's end closes `wake`
            }
            guard let thread = SystemThread.start(name: "periscope-sockst", { runner.run() }) else {
                rings.close()
                throw CollectorError(.tracing, "cannot start the socket state reader thread")
            }
            state = Running(runner: runner, thread: thread)
        }
    }

    /// Stops sampling and ends the reader thread, which unmaps the rings and closes the perf fds. Waits
    /// for the thread, unless called from the handler (then the thread ends when the handler returns).
    /// Idempotent; ``start(handler:)`` may be called again afterwards. Any thread.
    public func stop() {
        guard let current = running.take() else { return }
        WorkerThread.wakeAndJoin(current.thread, eventFD: current.runner.wake)
    }

    /// Events delivered to the handler since the last start (kept after stop). Any thread.
    public var eventsSeen: UInt64 {
        counters.withLock { $0 }.seen.load(ordering: .relaxed)
    }

    /// Samples the kernel dropped because a ring was full (sum of `PERF_RECORD_LOST` counts, plus one per
    /// corrupt ring reset) since the last start. Any thread.
    public var eventsLost: UInt64 {
        counters.withLock { $0 }.lost.load(ordering: .relaxed)
    }

    /// Batches read since the last start: the thread's wake-ups that found samples (one per lone state change;
    /// ≤ 100 a second while someone looks, ≤ 2 while nobody does, more only in a flood). Any thread.
    public var batches: UInt64 {
        counters.withLock { $0 }.batches.load(ordering: .relaxed)
    }

    /// Sets the period, milliseconds: how often a batching reader reads the rings when the kernel does not wake it
    /// sooner, and how close two batches must come for it to start batching. From the next read on, and kept
    /// across restarts. Any thread.
    /// A shorter period also ends the one under way (someone started looking: the samples waiting are read now).
    public func setHoldOff(millis: Int32) {
        holdOff.store(millis, ordering: .relaxed)
        let before = counters.withLock { $0 }.holdOff.exchange(millis, ordering: .relaxed)
        if before > millis { running.withLock { state in state.map { WorkerThread.nudge($0.runner.wake) } } }
    }

    /// CPU time the reader thread has used (decoding, ordering, the handler), nanoseconds. Any thread.
    public var cpuNanos: UInt64 {
        counters.withLock { $0 }.cpu.load(ordering: .relaxed)
    }
}
