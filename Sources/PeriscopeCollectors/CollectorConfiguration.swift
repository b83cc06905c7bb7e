/// What ``HostCollector`` collects. Plain value, any thread.
public struct CollectorConfiguration: Sendable, Hashable {
    /// Where procfs is mounted.
    public var procRoot: String = "/proc"
    /// List UDP sockets as well as TCP.
    public var includeUDP = true
    /// Scan the sockets and interfaces of every network namespace that has a process, not only the
    /// collector's own. Needs root (`CAP_SYS_ADMIN` for `setns`).
    public var allNamespaces = true
    /// A process's command line, executable, cwd and cgroup change only on exec or rarely, so they are
    /// re-read when the process is new, when its name changes, after ``HostCollector/processExecuted(_:)``,
    /// and otherwise once every this many passes (1 = every pass).
    public var detailRefreshPasses = 10
    /// Read the counters-only updates' `tcp_info` with the BPF programs of ``TCPCountersBPF`` when they load
    /// (root, BTF), sock_diag otherwise; false: always sock_diag.
    public var bpfCounters = true

    public init(procRoot: String = "/proc", includeUDP: Bool = true, allNamespaces: Bool = true,
                detailRefreshPasses: Int = 10, bpfCounters: Bool = true) {
        self.bpfCounters = bpfCounters
        self.procRoot = procRoot
        self.includeUDP = includeUDP
        self.allNamespaces = allNamespaces
        self.detailRefreshPasses = detailRefreshPasses
    }
}
