import CPeriscopeLinux
#if canImport(Glibc)
import Glibc
#endif

/// Finding a tracepoint in tracefs (mounting it when needed). Call from any one thread.
enum TraceFS {
    static let mountPoint = "/sys/kernel/tracing"
    static let roots = [mountPoint, "/sys/kernel/debug/tracing"]

    /// The event id and the text of the `format` file of tracepoint `category:name`. Mounts tracefs at
    /// /sys/kernel/tracing when no tracefs is mounted. Throws ``CollectorError`` (`permission` or
    /// `tracing`) saying what is missing.
    static func event(_ category: String, _ name: String) throws(CollectorError) -> (id: UInt64, format: String) {
        let reader = ProcReader()
        let relative = "events/\(category)/\(name)"
        func lookup() -> (id: UInt64, format: String)? {
            for root in roots {
                guard let idText = reader.text("\(root)/\(relative)/id"),
                      let id = UInt64(idText.filter { !$0.isWhitespace }),
                      let format = reader.text("\(root)/\(relative)/format") else { continue }
                return (id, format)
            }
            return nil
        }
        if let found = lookup() { return found }
        // ENOENT: nothing mounted there. EACCES: mounted but not searchable (tracefs is 0700: not root).
        var unreadable: String?
        for root in roots where access("\(root)/events", F_OK) != 0 && errno == EACCES { unreadable = root }
        if let unreadable {
            throw CollectorError(.permission, "cannot read \(unreadable): \(NamespaceSockets.describe(EACCES)) "
                + "(tracefs is readable by root only; run as root)")
        }
        if !roots.contains(where: { access("\($0)/events", F_OK) == 0 }) {
            let rc = psc_tracefs_mount(mountPoint)
            guard rc == 0 else {
                let why = NamespaceSockets.describe(-rc)
                if -rc == EPERM || -rc == EACCES {
                    throw CollectorError(.permission, "tracefs is not mounted and mounting it at \(mountPoint) "
                        + "failed (\(why)): needs root / CAP_SYS_ADMIN (in a container, mount it on the host "
                        + "and bind it in)")
                }
                throw CollectorError(.tracing, "tracefs is not mounted and mounting it at \(mountPoint) failed: "
                    + "\(why)" + (-rc == ENODEV ? " (kernel built without tracefs)" : ""))
            }
            if let found = lookup() { return found }
        }
        for root in roots where access("\(root)/\(relative)", F_OK) == 0 {
            let readable = access("\(root)/\(relative)/id", R_OK) == 0
            throw CollectorError(readable ? .tracing : .permission,
                                 "cannot read \(root)/\(relative)/id or format: "
                                 + NamespaceSockets.describe(readable ? EIO : EACCES)
                                 + (readable ? "" : " (needs root)"))
        }
        throw CollectorError(.tracing, "the kernel has no \(category):\(name) tracepoint "
            + "(needs Linux ≥ 4.16 with CONFIG_TRACEPOINTS)")
    }
}

/// Per-CPU perf events on one tracepoint with their mmapped rings.
///
/// With `batchWakeupEvents`, each CPU has a second event on the same tracepoint whose samples go to the same
/// ring (`PERF_EVENT_IOC_SET_OUTPUT`) and which wakes a poller only after that many samples. Exactly one of the
/// two records at a time (``setBatching(_:)``): the first, woken on every sample, while samples are sparse (a
/// lone state change is read at once, and a quiet host costs no wake-up at all); the second while they come
/// steadily, when the reader reads the rings on a timer and the kernel wakes it only when a ring fills up.
/// (A perf event's wake-up rule is fixed when it is opened, hence two.) While switching both record for a
/// moment, so a sample can be written twice, back to back: see ``SocketStateMonitor``.
/// - Important: not thread-safe. Built by the starting thread, then owned by the reader thread.
final class PerfRings {
    let fds: [Int32]
    /// The batching events, one per entry of ``fds`` (empty without `batchWakeupEvents`).
    private let batchFDs: [Int32]
    private let rings: UnsafeMutablePointer<psc_perf_ring>
    private let samples: UnsafeMutablePointer<psc_perf_sample>
    private let batch = 256
    private var closed = false
    /// Whether the batching events record (else the per-sample ones).
    private(set) var batching = false

    /// Opens and maps one event per online CPU (CPUs offline at start are skipped and never watched).
    /// Each ring has 2^7 data pages (512 KiB with 4 KiB pages: the default per-CPU perf_event_mlock_kb),
    /// falling back to smaller rings when the locked-memory limit refuses it.
    init(tracepoint id: UInt64, name: String, wakeupEvents: UInt32,
         batchWakeupEvents: UInt32? = nil) throws(CollectorError) {
        let configured = max(1, sysconf(Int32(_SC_NPROCESSORS_CONF)))
        var fds: [Int32] = []
        var cpus: [Int32] = []
        for cpu in 0..<configured {
            let fd = psc_perf_tracepoint_open(id, Int32(cpu), wakeupEvents)
            if fd == -ENODEV { continue }      // offline CPU
            guard fd >= 0 else {
                fds.forEach { _ = Glibc.close($0) }
                throw Self.openError(-fd, name: name, cpu: cpu)
            }
            fds.append(fd)
            cpus.append(Int32(cpu))
        }
        guard !fds.isEmpty else { throw CollectorError(.tracing, "perf_event_open(\(name)): no online CPU") }
        rings = .allocate(capacity: fds.count)
        rings.initialize(repeating: psc_perf_ring(), count: fds.count)
        samples = .allocate(capacity: batch)
        self.fds = fds
        var batchFDs: [Int32] = []
        var failure: CollectorError?
        for i in fds.indices {
            var rc: Int32 = -EINVAL
            for pagesLog2: UInt32 in [7, 5, 3] {
                rc = psc_perf_ring_map(fds[i], pagesLog2, rings + i)
                if rc == 0 || (-rc != EPERM && -rc != ENOMEM) { break }
            }
            guard rc == 0 else {
                failure = CollectorError(-rc == EPERM ? .permission : .tracing,
                                         "mmap of the perf ring: \(NamespaceSockets.describe(-rc))"
                                         + (-rc == EPERM ? " (over kernel.perf_event_mlock_kb / RLIMIT_MEMLOCK)" : ""))
                break
            }
            guard let batchWakeupEvents else { continue }
            let fd = psc_perf_tracepoint_open(id, cpus[i], batchWakeupEvents)
            guard fd >= 0 else {
                failure = Self.openError(-fd, name: name, cpu: Int(cpus[i]))
                break
            }
            batchFDs.append(fd)
            let set = psc_perf_set_output(fd, fds[i])
            guard set == 0 else {
                failure = CollectorError(.tracing, "PERF_EVENT_IOC_SET_OUTPUT: \(NamespaceSockets.describe(-set))")
                break
            }
        }
        self.batchFDs = batchFDs
        if let failure {
            close()
            throw failure
        }
    }

    deinit {
        close()
        rings.deinitialize(count: fds.count)
        rings.deallocate()
        samples.deallocate()
    }

    /// Starts (or stops) sampling on every CPU, with the per-sample events.
    func enable(_ on: Bool) throws(CollectorError) {
        for fd in fds {
            let rc = psc_perf_enable(fd, on ? 1 : 0)
            guard rc == 0 else {
                throw CollectorError(.tracing, "PERF_EVENT_IOC_ENABLE: \(NamespaceSockets.describe(-rc))")
            }
        }
        batching = false
    }

    /// Switches every CPU to the batching events (or back to the per-sample ones). The new ones start before
    /// the old ones stop, so nothing is missed; a sample in between is written twice, back to back. Returns
    /// false (and stays as it was) without batching events or when the kernel refuses.
    @discardableResult
    func setBatching(_ on: Bool) -> Bool {
        guard !closed, !batchFDs.isEmpty, on != batching else { return on == batching }
        let (start, stop) = on ? (batchFDs, fds) : (fds, batchFDs)
        for (i, fd) in start.enumerated() where psc_perf_enable(fd, 1) != 0 {
            for started in start[..<i] { _ = psc_perf_enable(started, 0) }
            return false
        }
        for fd in stop { _ = psc_perf_enable(fd, 0) }
        batching = on
        return true
    }

    /// Copies every pending sample out of every ring, calling `body(cpuIndex, sample)` in ring order.
    /// Returns the number of samples the kernel reported lost (ring full) since the last call.
    func drain(_ body: (Int, psc_perf_sample) -> Void) -> UInt64 {
        guard !closed else { return 0 }
        var lost: UInt64 = 0
        for cpu in fds.indices {
            while true {
                let n = Int(psc_perf_ring_drain(rings + cpu, samples, Int32(batch), &lost))
                for i in 0..<max(n, 0) { body(cpu, samples[i]) }
                if n < batch { break }
            }
        }
        return lost
    }

    /// Disables, unmaps and closes everything. Idempotent.
    func close() {
        guard !closed else { return }
        closed = true
        for fd in batchFDs {
            _ = psc_perf_enable(fd, 0)
            _ = Glibc.close(fd)
        }
        for i in fds.indices {
            _ = psc_perf_enable(fds[i], 0)
            psc_perf_ring_unmap(rings + i)
            _ = Glibc.close(fds[i])
        }
    }

    private static func openError(_ code: Int32, name: String, cpu: Int) -> CollectorError {
        let why = "perf_event_open(\(name), cpu \(cpu)): \(NamespaceSockets.describe(code))"
        switch code {
        case EACCES, EPERM:
            let paranoid = ProcReader().text("/proc/sys/kernel/perf_event_paranoid")?
                .filter { !$0.isWhitespace } ?? "?"
            return CollectorError(.permission, why + " — needs root or CAP_PERFMON "
                + "(kernel.perf_event_paranoid = \(paranoid)); container runtimes often block perf_event_open "
                + "with seccomp")
        case ENOSYS:
            return CollectorError(.tracing, why + " — kernel built without CONFIG_PERF_EVENTS or syscall filtered")
        default:
            return CollectorError(.tracing, why)
        }
    }
}
