import Glibc
import PeriscopeHistory

/// Everything a daemon is told at start. Plain value; the executable fills it from flags.
public struct ServerConfiguration: Sendable {
    /// Unix socket path, or `nil` for no Unix socket.
    public var socketPath: String?
    /// TCP `host:port`, or `nil`. Requires ``token``.
    public var tcpListen: String?
    /// Token TCP clients must present (in `initialize` or `auth`).
    public var token: String?
    /// Serve one client on stdin/stdout.
    public var stdio = false
    /// Largest message accepted from a client, in bytes.
    public var maxMessageSize = 64 << 20
    /// Most clients connected at once; further connections get an error and are closed.
    public var maxClients = 4096
    /// Most requests one client may have in flight at once.
    public var maxPendingRequests = 1024
    /// Unsent output above which a client stops being read until it drains (backpressure).
    public var pauseReadingAbove = 1 << 20
    /// Unsent output above which a client that has read nothing for ``slowGraceMillis`` is disconnected
    /// as too slow (a client that keeps reading is never dropped, whatever the size of its replies);
    /// also the bound on one batch reply.
    public var maxOutputBytes = 16 << 20
    /// How long a client over ``maxOutputBytes`` may go without reading before it is dropped.
    public var slowGraceMillis = 2_000
    /// A client that reads nothing for this long while output waits for it is disconnected.
    public var stallMillis = 15_000
    /// TCP peers that have not authenticated yet, at most (each also counts in ``maxClients``).
    public var maxUnauthenticated = 64
    /// Largest message accepted before authentication.
    public var maxUnauthenticatedMessageSize = 64 << 10
    /// Time a TCP peer has to authenticate before it is disconnected.
    public var authTimeoutMillis = 10_000
    /// Subscriptions (view and node, held or being set up) per connection.
    public var maxSubscriptionsPerSession = 64
    /// Changed node and edge ids a subscription may owe its client; past this the backlog is dropped and the
    /// client gets a `reset` with the whole state (SPEC §15.3).
    public var maxPendingChanges = 20_000
    /// Collector refresh interval, milliseconds: full passes (with TCP counters) this often while someone
    /// subscribes or asked for a view recently.
    public var refreshMillis = 1000
    /// Full passes this often (milliseconds) while nobody looks; in between, process and socket events keep
    /// the model current one change at a time.
    public var reconcileMillis = 15_000
    /// Run the kernel collectors (off in protocol-only tests).
    public var collectors = true
    /// With ``collectors`` off, still keep the host map (topology methods, subscriptions), its reports given by
    /// ``TopologyService/install(_:names:)``: embedded daemons in tests drive subscriptions with it.
    public var injectedReports = false
    /// Container engine socket (`--docker-socket`); nil: `DOCKER_HOST`, else the default sockets.
    public var dockerSocket: String?
    /// Load the L7 BPF programs with the collectors (`--l7`). Off by default: the programs run at the exit of every
    /// read and write syscall of the host (issue 14's benchmark: ~30–50 ns each, 1–2 µs of kernel time per HTTP
    /// request, a saturated loopback server's throughput −8…−30 %), a cost an always-on daemon does not impose
    /// unasked.
    public var l7Enabled = false
    /// Serve Prometheus metrics on this `ADDR:PORT` (`--metrics`); nil: off.
    public var metricsListen: String?
    /// Enabled controls (`control/invoke`): nil = none (the default); `["all"]` = every control.
    public var controls: Set<String>?

    /// Every name ``controls`` may hold: each control `control/invoke` runs, plus `all`.
    public static var knownControls: Set<String> { ControlService.allControls.union(["all"]) }

    /// Many hosts, one map (`--publish`, `--accept-reports`, TLS files): see ``MultiHostConfiguration``.
    public var multiHost = MultiHostConfiguration()
    /// The NATS JetStream report bus (issue 15), off unless `--bus` is given.
    public var bus = BusConfiguration()

    /// The history log (`--history`, `--history-retention`, `--history-max-size`); nil: history off.
    public var history: HistoryConfiguration?
    /// Why history is off when ``history`` is nil (`daemon/status` says it).
    public var historyOffReason = "not enabled"

    /// Handle SIGTERM/SIGINT/SIGHUP (off for daemons embedded in tests: one process, many loops).
    public var handlesSignals = true

    public init() {}
}
