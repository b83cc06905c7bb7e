import CPeriscopeLinux
import PeriscopeSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A process-level event from the kernel's process connector.
public enum ProcessEvent: Sendable, Hashable {
    /// A new process (threads are not reported).
    case fork(parent: Int32, child: Int32)
    /// A process replaced its program image.
    case exec(pid: Int32)
    /// A process ended. `code` is the exit status, or 128 + signal number when it was killed.
    case exit(pid: Int32, code: Int32)
}

/// Kernel process connector (`NETLINK_CONNECTOR`, `CN_IDX_PROC`): fork, exec and exit events as they happen,
/// so new and exited processes show up without waiting for the next /proc walk. Events can be lost under
/// load (the kernel drops them when the socket buffer is full: counted in ``eventsLost``), so consumers
/// must still reconcile with ``HostCollector`` passes.
///
/// Events are read in batches: while they come steadily, the thread waits ``WorkerThread/coalesceMillis``
/// (10 ms; ``WorkerThread/idleCoalesceMillis``, 500 ms, while nobody looks, see ``setHoldOff(millis:)``) after
/// each batch before it reads again, so a build's churn wakes it at most ~100 (~2) times a second; a lone event
/// is read at once.
///
/// Needs `CAP_NET_ADMIN` (root). ``start(handler:)`` spawns a private thread; the handler runs on it.
/// All members are safe to call from any thread.
public final class ProcessEventMonitor: @unchecked Sendable {
    private final class Runner: @unchecked Sendable {
        let socket: Int32
        let wake: Int32
        let handler: @Sendable (ProcessEvent) -> Void
        let seen = Atomic<UInt64>(0)
        let lost = Atomic<UInt64>(0)
        /// Batches read: wake-ups with events.
        let batches = Atomic<UInt64>(0)
        /// The hold-off while events come steadily, milliseconds (``WorkerThread/Coalescer``).
        let holdOff = Atomic<Int32>(WorkerThread.coalesceMillis)
        /// CPU time of the monitor thread, nanoseconds, as of its last batch.
        let cpu = Atomic<UInt64>(0)

        init(socket: Int32, wake: Int32, handler: @escaping @Sendable (ProcessEvent) -> Void) {
            self.socket = socket
            self.wake = wake
            self.handler = handler
        }

        func run() {
            var events = [psc_proc_event](repeating: psc_proc_event(), count: 512)
            var coalescer = WorkerThread.Coalescer()
            var fds = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            while true {
                let ready = poll(&fds, 2, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    return
                }
                if fds[1].revents != 0 && WorkerThread.readSignal(wake) { return }  // else a nudge: nothing to end
                guard fds[0].revents != 0 else { continue }
                // Every message already queued (recvmmsg, many a call), before polling again, then a hold-off while
                // events come steadily (``WorkerThread/Coalescer``): a build's fork, exec and exit of many
                // short-lived processes cost one wake-up per hold-off, not one per event.
                var batch = 0
                while true {
                    var overruns: UInt64 = 0
                    let count = events.withUnsafeMutableBufferPointer { out in
                        psc_proc_connector_read(socket, out.baseAddress, Int32(out.count), &overruns)
                    }
                    if overruns > 0 { lost.add(overruns, ordering: .relaxed) }
                    guard count >= 0 else { return }
                    batch += Int(count)
                    for i in 0..<Int(count) {
                        seen.add(1, ordering: .relaxed)
                        handler(Self.event(events[i]))
                    }
                    if Int(count) < events.count { break }  // drained
                }
                cpu.store(SystemClock.threadCPUNanos(), ordering: .relaxed)
                // Each event takes ~1 KiB of the 8 MiB receive buffer (the message's socket buffer): after a batch of
                // 500 or more, a hold-off at that rate could overflow it.
                let more = coalescer.afterBatch(eventFD: wake, holdOffMillis: batch >= 500 ? 0
                                                : holdOff.load(ordering: .relaxed))
                batches.store(coalescer.batches, ordering: .relaxed)
                guard more else { return }
            }
        }

        static func event(_ e: psc_proc_event) -> ProcessEvent {
            switch Int32(e.kind) {
            case Int32(PSC_PROC_FORK): return .fork(parent: e.other, child: e.pid)
            case Int32(PSC_PROC_EXEC): return .exec(pid: e.pid)
            default:
                let status = e.other
                let signal = status & 0x7F
                return .exit(pid: e.pid, code: signal == 0 ? (status >> 8) & 0xFF : 128 + signal)
            }
        }
    }

    private struct Running {
        var runner: Runner
        var thread: pthread_t
    }

    private let running = Mutex<Running?>(nil)

    /// Creates an idle monitor.
    public init() {}

    deinit { stop() }

    /// Subscribes to the process connector and starts the monitor thread; `handler` is called on that
    /// thread for every event, in kernel order. Throws ``CollectorError`` (code `connector`) when the
    /// subscription fails (e.g. not root) or when already started.
    public func start(handler: @escaping @Sendable (ProcessEvent) -> Void) throws(CollectorError) {
        try running.withLock { (state: inout Running?) throws(CollectorError) in
            guard state == nil else { throw CollectorError(.connector, "already started") }
            let fd = psc_proc_connector_open()
            guard fd >= 0 else {
                throw CollectorError(.connector, "process connector: \(NamespaceSockets.describe(-fd))"
                    + (geteuid() == 0 ? "" : " (needs root / CAP_NET_ADMIN)"))
            }
            let wake = psc_eventfd()
            guard wake >= 0 else {
                let e = errno
                close(fd)
                throw CollectorError(.connector, "eventfd: \(NamespaceSockets.describe(e))")
            }
            let runner = Runner(socket: fd, wake: wake, handler: handler)
            guard let thread = SystemThread.start(name: "periscope-procev", { runner.run() }) else {
                close(fd)
                close(wake)
                throw CollectorError(.connector, "cannot start the monitor thread")
            }
            state = Running(runner: runner, thread: thread)
        }
    }

    /// Stops the thread (waits for it unless called from the handler) and unsubscribes. Idempotent.
    public func stop() {
        guard let current = running.take() else { return }
        WorkerThread.wakeAndJoin(current.thread, eventFD: current.runner.wake)
        psc_proc_connector_ignore(current.runner.socket)
        close(current.runner.socket)
        close(current.runner.wake)
    }

    /// Events delivered since start. Any thread.
    public var eventsSeen: UInt64 {
        running.withLock { $0?.runner.seen.load(ordering: .relaxed) ?? 0 }
    }

    /// Batches read since start: the thread's wake-ups with events (≤ 50 per second, see
    /// ``WorkerThread/coalesceMillis``). Any thread.
    public var batches: UInt64 {
        running.withLock { $0?.runner.batches.load(ordering: .relaxed) ?? 0 }
    }

    /// Sets how long the thread waits after a batch while events come steadily (``WorkerThread/Coalescer``),
    /// milliseconds; from the next batch on. Any thread.
    /// A shorter hold-off also ends the one under way (someone started looking: the events waiting are read now,
    /// not after up to ``WorkerThread/idleCoalesceMillis``).
    public func setHoldOff(millis: Int32) {
        running.withLock { state in
            guard let runner = state?.runner else { return }
            if runner.holdOff.exchange(millis, ordering: .relaxed) > millis { WorkerThread.nudge(runner.wake) }
        }
    }

    /// CPU time the monitor thread has used (parsing, the handler), nanoseconds. Any thread.
    public var cpuNanos: UInt64 {
        running.withLock { $0?.runner.cpu.load(ordering: .relaxed) ?? 0 }
    }

    /// Receive-buffer overruns (`ENOBUFS`): each means one or more events were dropped by the kernel. Any thread.
    public var eventsLost: UInt64 {
        running.withLock { $0?.runner.lost.load(ordering: .relaxed) ?? 0 }
    }
}
