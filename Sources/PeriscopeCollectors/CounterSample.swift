import PeriscopeTopology

/// What a counters-only update reads between full passes (``HostCollector/sampleCounters(namespaces:)``): the
/// host's figures, every process (for CPU and memory samples), and the `tcp_info` counters of connected TCP
/// sockets by inode — no socket addresses, no owners.
public struct CounterSample: Sendable {
    /// One connected TCP socket's counters.
    public struct Socket: Sendable {
        public var inode: UInt64
        public var netns: UInt64
        public var info: TCPInfoRecord
    }

    /// Host facts; `addresses` is empty (interfaces are read by full passes only).
    public var host: HostRecord
    public var processes: [ProcessRecord]
    public var sockets: [Socket]
    /// Namespaces asked that had no netlink socket open (not scanned by the last full pass).
    public var namespacesMissing = 0
}
