/// Raw observations of one host at one instant, as the collectors read them from the kernel.
///
/// These are the contract between `PeriscopeCollectors` (which fills them on worker threads)
/// and the topology model (which turns them into a mergeable ``Report``). Plain values,
/// `Sendable`, no behaviour: safe to hand from a worker thread to the event loop.

/// Transport protocol of a socket.
public enum TransportProtocol: String, Sendable, Hashable, Codable, CaseIterable {
    case tcp
    case udp
}

/// Address family of a socket.
public enum AddressFamily: String, Sendable, Hashable, Codable {
    case ipv4
    case ipv6
}

/// Kernel TCP information for one connected socket (from `INET_DIAG_INFO` / `struct tcp_info`).
public struct TCPInfoRecord: Sendable, Hashable, Codable {
    /// Smoothed round-trip time, microseconds.
    public var rttMicros: UInt32
    /// Round-trip time variance, microseconds.
    public var rttVarMicros: UInt32
    /// Bytes acknowledged by the peer (`tcpi_bytes_acked`), i.e. sent.
    public var bytesSent: UInt64
    /// Bytes received (`tcpi_bytes_received`).
    public var bytesReceived: UInt64
    /// Total retransmitted segments (`tcpi_total_retrans`).
    public var retransmits: UInt32

    public init(rttMicros: UInt32, rttVarMicros: UInt32, bytesSent: UInt64, bytesReceived: UInt64, retransmits: UInt32) {
        self.rttMicros = rttMicros
        self.rttVarMicros = rttVarMicros
        self.bytesSent = bytesSent
        self.bytesReceived = bytesReceived
        self.retransmits = retransmits
    }
}

/// One socket as seen through netlink sock_diag in one network namespace.
public struct SocketRecord: Sendable, Hashable, Codable {
    public var proto: TransportProtocol
    public var family: AddressFamily
    /// Kernel state name in lower case: `listen`, `established`, `syn-sent`, `syn-recv`, `fin-wait-1`,
    /// `fin-wait-2`, `time-wait`, `close`, `close-wait`, `last-ack`, `closing`; UDP sockets report
    /// `unconnected` (no peer) or `established` (connected UDP).
    public var state: String
    /// Canonical text form. IPv4-mapped IPv6 addresses are given in IPv4 form (`::ffff:1.2.3.4` → `1.2.3.4`).
    public var localAddress: String
    public var localPort: UInt16
    /// `0.0.0.0` / `::` with port 0 when there is no peer.
    public var remoteAddress: String
    public var remotePort: UInt16
    /// Socket inode (the `socket:[N]` in /proc/PID/fd).
    public var inode: UInt64
    public var uid: UInt32
    /// Inode of the network namespace the socket lives in (`/proc/PID/ns/net`).
    public var netns: UInt64
    /// Owning process, when resolved (a socket may be shared by several processes; this is the lowest pid).
    public var pid: Int32?
    /// Present for connected TCP sockets.
    public var tcpInfo: TCPInfoRecord?

    public init(proto: TransportProtocol, family: AddressFamily, state: String,
                localAddress: String, localPort: UInt16, remoteAddress: String, remotePort: UInt16,
                inode: UInt64, uid: UInt32, netns: UInt64, pid: Int32? = nil, tcpInfo: TCPInfoRecord? = nil) {
        self.proto = proto
        self.family = family
        self.state = state
        self.localAddress = localAddress
        self.localPort = localPort
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.inode = inode
        self.uid = uid
        self.netns = netns
        self.pid = pid
        self.tcpInfo = tcpInfo
    }
}

/// One process as read from /proc.
public struct ProcessRecord: Sendable, Hashable, Codable {
    public var pid: Int32
    public var ppid: Int32
    /// Short name (`/proc/PID/comm`).
    public var name: String
    /// Full command line, arguments joined by spaces. Bytes that are not valid UTF-8 are escaped as `\xNN`.
    public var command: String
    /// Target of `/proc/PID/exe`, when readable.
    public var executable: String?
    /// Target of `/proc/PID/cwd`, when readable.
    public var cwd: String?
    public var uid: UInt32
    /// User name for `uid` from /etc/passwd, when known.
    public var user: String?
    public var threads: Int
    /// Start time, seconds since the Unix epoch.
    public var startTime: Double
    /// One-letter kernel state (`R`, `S`, `D`, `Z`, …).
    public var state: String
    /// CPU use since the previous sample, percent of one core (0 on the first sample).
    public var cpuPercent: Double
    public var rssBytes: UInt64
    public var openFDs: Int
    /// The process's cgroup v2 path (or the first v1 line), e.g. `/system.slice/ssh.service`.
    public var cgroup: String
    /// Inode of the process's network namespace.
    public var netns: UInt64

    public init(pid: Int32, ppid: Int32, name: String, command: String, executable: String? = nil,
                cwd: String? = nil, uid: UInt32 = 0, user: String? = nil, threads: Int = 1,
                startTime: Double = 0, state: String = "S", cpuPercent: Double = 0, rssBytes: UInt64 = 0,
                openFDs: Int = 0, cgroup: String = "", netns: UInt64 = 0) {
        self.pid = pid
        self.ppid = ppid
        self.name = name
        self.command = command
        self.executable = executable
        self.cwd = cwd
        self.uid = uid
        self.user = user
        self.threads = threads
        self.startTime = startTime
        self.state = state
        self.cpuPercent = cpuPercent
        self.rssBytes = rssBytes
        self.openFDs = openFDs
        self.cgroup = cgroup
        self.netns = netns
    }
}

/// One address on one of the host's interfaces.
public struct InterfaceAddress: Sendable, Hashable, Codable {
    public var interface: String
    public var address: String
    public var prefixLength: Int
    /// Network namespace the interface lives in.
    public var netns: UInt64

    public init(interface: String, address: String, prefixLength: Int, netns: UInt64) {
        self.interface = interface
        self.address = address
        self.prefixLength = prefixLength
        self.netns = netns
    }
}

/// Facts about the host itself.
public struct HostRecord: Sendable, Hashable, Codable {
    public var hostname: String
    /// `PRETTY_NAME` from /etc/os-release.
    public var os: String
    /// Kernel release (`uname -r`).
    public var kernel: String
    public var uptimeSeconds: Double
    public var cpuCount: Int
    /// Whole-host CPU use since the previous sample, percent of all cores (0–100).
    public var cpuPercent: Double
    public var memoryTotalBytes: UInt64
    public var memoryAvailableBytes: UInt64
    public var load1: Double
    public var load5: Double
    public var load15: Double
    /// Addresses of every interface in every observed network namespace.
    public var addresses: [InterfaceAddress]

    public init(hostname: String, os: String = "", kernel: String = "", uptimeSeconds: Double = 0,
                cpuCount: Int = 1, cpuPercent: Double = 0, memoryTotalBytes: UInt64 = 0,
                memoryAvailableBytes: UInt64 = 0, load1: Double = 0, load5: Double = 0, load15: Double = 0,
                addresses: [InterfaceAddress] = []) {
        self.hostname = hostname
        self.os = os
        self.kernel = kernel
        self.uptimeSeconds = uptimeSeconds
        self.cpuCount = cpuCount
        self.cpuPercent = cpuPercent
        self.memoryTotalBytes = memoryTotalBytes
        self.memoryAvailableBytes = memoryAvailableBytes
        self.load1 = load1
        self.load5 = load5
        self.load15 = load15
        self.addresses = addresses
    }
}

/// Everything the collectors saw on one host in one pass.
public struct HostSnapshot: Sendable, Hashable, Codable {
    /// Seconds since the Unix epoch when the pass started.
    public var timestamp: Double
    public var host: HostRecord
    public var processes: [ProcessRecord]
    public var sockets: [SocketRecord]
    /// The host's own (initial) network namespace inode.
    public var hostNetns: UInt64
    /// Containers known to the container engine (empty without one).
    public var containers: [ContainerRecord]

    public init(timestamp: Double, host: HostRecord, processes: [ProcessRecord], sockets: [SocketRecord], hostNetns: UInt64,
                containers: [ContainerRecord] = []) {
        self.timestamp = timestamp
        self.host = host
        self.processes = processes
        self.sockets = sockets
        self.hostNetns = hostNetns
        self.containers = containers
    }
}
