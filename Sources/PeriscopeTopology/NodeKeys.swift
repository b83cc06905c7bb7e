/// Keys of ``Node/latest`` and ``Node/sets`` written by ``ReportBuilder``.
///
/// Values are strings; numbers are written in their plain decimal form.
public enum NodeKey {
    // Host
    public static let hostname = "hostname"
    public static let os = "os"
    public static let kernel = "kernel"
    public static let uptime = "uptime"
    public static let cpuCount = "cpu_count"
    public static let memoryTotal = "memory_total"
    public static let memoryAvailable = "memory_available"
    public static let load1 = "load1"
    public static let load5 = "load5"
    public static let load15 = "load15"
    /// Set: CIDRs of every interface address of every namespace (`10.0.0.5/24`).
    public static let localNetworks = "local_networks"

    // Process
    public static let pid = "pid"
    public static let ppid = "ppid"
    public static let name = "name"
    public static let command = "command"
    public static let executable = "executable"
    public static let cwd = "cwd"
    public static let uid = "uid"
    public static let user = "user"
    public static let threads = "threads"
    public static let startTime = "start_time"
    public static let state = "state"
    public static let openFDs = "open_fds"
    public static let cgroup = "cgroup"
    public static let netns = "netns"
    /// `"true"` on a process kept only because a retained closed connection refers to it.
    public static let exited = "exited"
    /// `"true"` on the process, host and container nodes of a host whose publisher has gone silent (aggregator).
    public static let stale = "stale"
    /// Set: listening sockets, `tcp/0.0.0.0:80`, `udp/[::]:53`.
    public static let listening = "listening"

    // Connection (state and netns above are shared)
    public static let proto = "proto"
    /// Client endpoint id.
    public static let client = "client"
    /// Server endpoint id.
    public static let server = "server"
    /// Process node id of the client side, when it is on a known host.
    public static let clientProcess = "client_process"
    /// Process node id of the server side, when it is on a known host.
    public static let serverProcess = "server_process"
    /// Host node id that observed the connection.
    public static let host = "host"
    /// `"true"` once the connection has closed (kept for the builder's retention), `"false"` while open.
    public static let closed = "closed"
    /// Timestamp (seconds since the epoch) of the last snapshot that saw the connection open.
    public static let lastSeen = "last_seen"
}

/// Metric names of ``Node/metrics`` written by ``ReportBuilder``.
public enum MetricKey {
    /// Process: CPU percent of one core. Host: percent of all cores.
    public static let cpu = "cpu"
    /// Process: resident set size, bytes. Host: used memory (total − available), bytes.
    public static let memory = "memory"
    /// Host: 1-minute load average.
    public static let load = "load1"
    /// Connection: cumulative bytes sent by the client side (`tcpi_bytes_acked` of the client, or bytes
    /// received by the server).
    public static let clientBytesSent = "client_bytes_sent"
    /// Connection: cumulative bytes received by the client side.
    public static let clientBytesReceived = "client_bytes_received"
    /// Connection: smoothed RTT, milliseconds.
    public static let rtt = "rtt_ms"
}
