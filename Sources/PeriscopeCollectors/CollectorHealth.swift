/// How the last collection passes went. Plain value, readable from any thread (a copy taken under the
/// collector's lock).
public struct CollectorHealth: Sendable, Hashable {
    /// Passes completed since the collector was created.
    public var passes: UInt64 = 0
    /// Wall time of the last pass, milliseconds.
    public var lastPassMillis: Double = 0
    /// What went wrong or is missing in the last pass (e.g. not root), nil when all went well.
    public var lastError: String?
    /// Whether the collector runs with euid 0.
    public var isRoot = false
    /// Network namespaces whose sockets were listed in the last pass.
    public var namespacesScanned = 0
    /// Processes seen in the last pass.
    public var processesSeen = 0
    /// Sockets listed in the last pass (all namespaces, TCP + UDP).
    public var socketsSeen = 0
    /// Sockets whose owner pid is known after the last pass.
    public var socketsWithOwner = 0
    /// Socket owners answered from the inode → pid cache in the last pass (no fd read needed).
    public var ownersResolvedIncrementally = 0
    /// `readlink`s of `/proc/PID/fd/N` done in the last pass (the cost `ss -p` pays for every fd, every time).
    public var fdReadlinks = 0
    /// Milliseconds of the last pass spent in each phase.
    public var processMillis: Double = 0
    public var socketMillis: Double = 0
    public var ownerMillis: Double = 0
    /// Counters-only reads (``HostCollector/sampleCounters(namespaces:)``) and the wall time of the last one.
    public var counterPasses: UInt64 = 0
    public var lastCounterPassMillis: Double = 0
    /// Where the last counters-only read took the host namespace's `tcp_info` counters from: `bpf` (the
    /// ``TCPCountersBPF`` programs), `sock_diag`, or `none` before the first read.
    public var countersSource = "none"
    /// Why the last counters-only read did not use BPF (not root, load failure, a failed read); nil when it did.
    public var countersSourceReason: String?
    /// The BPF counters' state tracepoint program: kernel run time and runs so far (see ``TCPCountersBPF``).
    public var countersTrackerRunTimeNs: UInt64 = 0
    public var countersTrackerRuns: UInt64 = 0

    public init() {}
}
