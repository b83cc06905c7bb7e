import PeriscopeSystem
import PeriscopeTopology
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One full pass of discovery: host facts, every process from /proc, every TCP/UDP socket of every network
/// namespace that has a process (netlink sock_diag), interface addresses, and socket owners.
///
/// Stateful across passes (CPU % deltas, the inode → pid cache, per-namespace netlink sockets).
/// - Important: call ``collect()`` from one worker thread at a time, never from the event loop thread
///   (a pass does blocking syscalls; concurrent calls are serialized by a lock). ``health`` may be read from
///   any thread.
public final class HostCollector: @unchecked Sendable {
    /// What this collector gathers.
    public let configuration: CollectorConfiguration

    private let passLock = Mutex<Void>(())
    private let healthState = Mutex<CollectorHealth>(CollectorHealth())
    private let executed = Mutex<Set<Int32>>([])
    // Everything below is touched only while `passLock` is held.
    private let reader = ProcReader()
    private let users = UserNames()
    private let processes: ProcessScanner
    private let hostFacts: HostFacts
    private let namespaces: NamespaceSockets
    private let owners: OwnerResolver
    private let addressNames = AddressNames()
    private let isRoot = geteuid() == 0

    /// Creates a collector; no I/O happens until the first ``collect()``.
    public init(configuration: CollectorConfiguration = .init()) {
        self.configuration = configuration
        processes = ProcessScanner(procRoot: configuration.procRoot, reader: reader, users: users,
                                   detailRefreshPasses: configuration.detailRefreshPasses)
        hostFacts = HostFacts(procRoot: configuration.procRoot, reader: reader)
        namespaces = NamespaceSockets(procRoot: configuration.procRoot)
        owners = OwnerResolver(procRoot: configuration.procRoot)
        healthState.withLock { $0.isRoot = isRoot }
    }

    /// A copy of the latest health figures. Any thread.
    public var health: CollectorHealth {
        healthState.withLock { $0 }
    }

    /// Notes that `pid` exec'd (e.g. from a ``ProcessEvent/exec(pid:)`` of ``ProcessEventMonitor``), so the
    /// next pass re-reads its command line and executable. Cheap; any thread (the monitor's handler included).
    public func processExecuted(_ pid: Int32) {
        executed.withLock { _ = $0.insert(pid) }
    }

    /// Runs one pass and returns what it saw. Never throws: problems are reported in ``health``.
    /// `tcpInfo` asks the kernel for each TCP socket's counters and RTT (the dearer half of the dump:
    /// only worth it while someone looks at them).
    /// - Important: blocking; call on a worker thread.
    public func collect(tcpInfo: Bool = true) -> HostSnapshot {
        passLock.withLock { _ in runPass(tcpInfo: tcpInfo) }
    }

    /// One process read from /proc now, or nil when it is gone or unreadable: for a pid the last pass did not
    /// see (a process that forked and connected a moment ago). The next pass lists it in full.
    /// - Important: blocking (a few syscalls); serialized with ``collect()``; call on a worker thread.
    public func process(pid: Int32) -> ProcessRecord? {
        process(pid: pid, fresh: false)
    }

    /// As ``process(pid:)``; `fresh` re-reads the fields that change only on exec (command line,
    /// executable, cwd, cgroup) instead of taking them from the last pass (after a fork or exec event).
    public func process(pid: Int32, fresh: Bool) -> ProcessRecord? {
        passLock.withLock { _ in
            if fresh { processes.invalidate([pid]) }
            return processes.record(pid: pid, bootTime: hostFacts.bootTime, monotonic: SystemClock.monotonic())
        }
    }

    /// Notes that `pid` owns socket `inode` (learned from a socket event), so the next pass has the owner
    /// even if the fd search has not seen it yet. Serialized with ``collect()``; call on a worker thread.
    public func learnOwner(inode: UInt64, pid: Int32) {
        passLock.withLock { _ in owners.learn(inode: inode, pid: pid) }
    }

    /// The inode of `pid`'s network namespace now, or nil when it cannot be read. Any thread.
    public func networkNamespace(pid: Int32) -> UInt64? {
        ProcessScanner.netns(pid: pid, procRoot: configuration.procRoot)
    }

    /// A counters-only read between full passes: host facts, every process (CPU and memory samples), and the
    /// `tcp_info` of connected TCP sockets in `namespaces` whose netlink sockets the last full pass opened. No
    /// socket addresses, no owner search, no interface addresses: a fraction of a full pass (see
    /// ``CollectionPipeline/countersPass()``). A namespace whose dump fails is left out (its sockets keep their
    /// counters until the next full pass, which reopens it).
    /// - Important: blocking; call on a worker thread; serialized with ``collect(tcpInfo:)``.
    public func sampleCounters(namespaces wanted: Set<UInt64>) -> CounterSample {
        passLock.withLock { _ in
            let start = SystemClock.monotonic()
            invalidateExecuted()
            var host = hostFacts.read()
            host.addresses = []
            let procs = processes.scan(bootTime: hostFacts.bootTime, monotonic: start)
            var sample = CounterSample(host: host, processes: procs, sockets: [])
            sample.sockets.reserveCapacity(healthState.withLock { $0.socketsSeen })
            let answered = bpfCounters(into: &sample.sockets, namespaces: wanted)
            for netns in wanted.sorted() where netns != 0 && !answered.contains(netns) {  // 0: namespace unreadable
                guard let pair = namespaces.cached(netns) else {
                    sample.namespacesMissing += 1
                    continue
                }
                let before = sample.sockets.count
                do throws(CollectorError) {
                    try SocketDiag.counters(into: &sample.sockets, diagFD: pair.diag, netns: netns)
                } catch {
                    sample.sockets.removeSubrange(before...)
                }
            }
            let millis = (SystemClock.monotonic() - start) * 1000
            healthState.withLock { h in
                h.counterPasses += 1
                h.lastCounterPassMillis = millis
            }
            return sample
        }
    }

    /// Has the next scan read the exec-only fields of the pids that exec'd since the last one again. Under `passLock`.
    private func invalidateExecuted() {
        processes.invalidate(executed.withLock { pids in
            defer { pids.removeAll() }
            return pids
        })
    }

    private func runPass(tcpInfo: Bool) -> HostSnapshot {
        let timestamp = SystemClock.realtime()
        let start = SystemClock.monotonic()
        var problems: [String] = []

        users.refresh(using: reader)
        invalidateExecuted()
        var host = hostFacts.read()
        let procs = processes.scan(bootTime: hostFacts.bootTime, monotonic: start)
        let afterProcesses = SystemClock.monotonic()
        if procs.isEmpty { problems.append("no processes readable under \(configuration.procRoot)") }

        // One representative pid per namespace (the lowest), plus the collector's own namespace.
        var representative: [UInt64: Int32] = [:]
        if configuration.allNamespaces {
            for p in procs where p.netns != 0 && representative[p.netns] == nil { representative[p.netns] = p.pid }
        }
        representative[namespaces.ownNetns] = getpid()
        forgetReusedNamespaces(procs)

        var sockets: [SocketRecord] = []
        var addresses: [InterfaceAddress] = []
        var scannedNamespaces = Set<UInt64>()
        for (netns, pid) in representative.sorted(by: { $0.key < $1.key }) {
            do throws(CollectorError) {
                let pair = try namespaces.sockets(for: netns, viaPid: pid)
                let before = sockets.count
                do throws(CollectorError) {
                    try SocketDiag.sockets(into: &sockets, diagFD: pair.diag, netns: netns,
                                           includeUDP: configuration.includeUDP, tcpInfo: tcpInfo, names: addressNames)
                    addresses += try SocketDiag.addresses(routeFD: pair.route, netns: netns)
                    scannedNamespaces.insert(netns)
                } catch {
                    sockets.removeSubrange(before...)   // no half-listed namespace
                    namespaces.discard(netns)
                    throw error
                }
            } catch {
                problems.append(error.message)
            }
        }
        namespaces.retain(only: scannedNamespaces)
        seedCounters(representative, scanned: scannedNamespaces)
        host.addresses = addresses
        let afterSockets = SystemClock.monotonic()

        owners.resolve(sockets: &sockets, processes: procs)
        let end = SystemClock.monotonic()

        if !isRoot {
            let hidden = procs.count(where: { $0.netns == 0 })
            problems.insert("not running as root: sockets of other users' processes have no owner (their "
                + "/proc/PID/fd is unreadable), \(hidden) processes' network namespaces are unreadable, and other "
                + "namespaces cannot be entered (setns needs CAP_SYS_ADMIN)", at: 0)
        }
        let hostNetns = ProcessScanner.netns(pid: 1, procRoot: configuration.procRoot) ?? namespaces.ownNetns
        let withOwner = sockets.count(where: { $0.pid != nil })
        let passes = problems
        healthState.withLock { h in
            h.passes += 1
            h.lastPassMillis = (end - start) * 1000
            h.processMillis = (afterProcesses - start) * 1000
            h.socketMillis = (afterSockets - afterProcesses) * 1000
            h.ownerMillis = (end - afterSockets) * 1000
            h.lastError = passes.isEmpty ? nil : passes.joined(separator: "; ")
            h.namespacesScanned = scannedNamespaces.count
            h.processesSeen = procs.count
            h.socketsSeen = sockets.count
            h.socketsWithOwner = withOwner
            h.ownersResolvedIncrementally = owners.lastCacheHits
            h.fdReadlinks = owners.lastReadlinks
        }
        return HostSnapshot(timestamp: timestamp, host: host, processes: procs, sockets: sockets, hostNetns: hostNetns)
    }

    /// The BPF counters source: loaded at the first counters-only read (a daemon nobody looks at never loads it),
    /// nil when it could not be (``countersUnavailable`` says why). Under `passLock`.
    private var countersBPF: TCPCountersBPF?
    private var countersUnavailable: String?
    private var countersTried = false

    /// Appends the BPF counters of the namespaces it answers among `wanted` and returns those; records in health
    /// where the host namespace's counters come from. Under `passLock`.
    private func bpfCounters(into out: inout [CounterSample.Socket], namespaces wanted: Set<UInt64>) -> Set<UInt64> {
        if !countersTried {
            countersTried = true
            if !configuration.bpfCounters {
                countersUnavailable = "BPF counters disabled by configuration"
            } else {
                do throws(CollectorError) {
                    countersBPF = try TCPCountersBPF(ownNetns: namespaces.ownNetns)
                } catch {
                    countersUnavailable = error.message
                }
            }
        }
        var answered: Set<UInt64> = []
        var reason = countersUnavailable
        if let countersBPF {
            let before = out.count
            do throws(CollectorError) {
                answered = try countersBPF.counters(into: &out, namespaces: wanted)
            } catch {
                out.removeSubrange(before...)
                reason = error.message
            }
        }
        let viaBPF = answered.contains(namespaces.ownNetns)
        let tracker = countersBPF?.trackerStats() ?? (nanos: 0, runs: 0)
        healthState.withLock { h in
            h.countersTrackerRunTimeNs = tracker.nanos
            h.countersTrackerRuns = tracker.runs
            h.countersSource = viaBPF ? "bpf" : "sock_diag"
            h.countersSourceReason = viaBPF ? nil : reason ?? "the host namespace is not tracked by the BPF programs"
        }
        return answered
    }

    /// Has the BPF counters source track the sockets that existed before it loaded in the namespaces scanned by
    /// this pass (once per namespace). Under `passLock`.
    private func seedCounters(_ representative: [UInt64: Int32], scanned: Set<UInt64>) {
        guard let countersBPF else { return }
        countersBPF.retain(only: scanned.union([namespaces.ownNetns]))
        for (netns, pid) in representative where scanned.contains(netns) && !countersBPF.seeded.contains(netns) {
            do throws(CollectorError) {
                let fd = try namespaces.open(netns, viaPid: pid)
                defer { close(fd) }
                try countersBPF.seed(netnsFD: fd, netns: netns)
            } catch {
                continue  // stays with sock_diag; tried again next pass
            }
        }
    }

    /// Processes (pid and start time) seen in each namespace on the previous pass.
    private var namespaceMembers: [UInt64: Set<ProcessIdentity>] = [:]

    private struct ProcessIdentity: Hashable {
        var pid: Int32
        var startTime: Double
    }

    /// The kernel reuses namespace inode numbers. A cached netlink socket belongs to the namespace it was
    /// opened in, so it is trusted only while some process seen in that namespace last pass is still in
    /// it (a namespace cannot end while a process is in it); otherwise the namespace under that inode may
    /// be a new one, and the cached sockets are dropped and opened again.
    private func forgetReusedNamespaces(_ procs: [ProcessRecord]) {
        var members: [UInt64: Set<ProcessIdentity>] = [:]
        for p in procs where p.netns != 0 {
            members[p.netns, default: []].insert(ProcessIdentity(pid: p.pid, startTime: p.startTime))
        }
        for (netns, previous) in namespaceMembers where netns != namespaces.ownNetns {
            guard let current = members[netns], !current.isDisjoint(with: previous) else {
                namespaces.discard(netns)
                continue
            }
        }
        namespaceMembers = members
    }
}
