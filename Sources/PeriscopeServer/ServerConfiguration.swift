import Glibc

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
    /// Unsent output above which a client is disconnected as too slow.
    public var maxOutputBytes = 16 << 20
    /// Collector refresh interval, milliseconds.
    public var refreshMillis = 1000
    /// Run the kernel collectors (off in protocol-only tests).
    public var collectors = true
    /// Container engine socket (`--docker-socket`); nil: `DOCKER_HOST`, else the default sockets.
    public var dockerSocket: String?
    /// Enabled controls (`control/invoke`): nil = none (the default); `["all"]` = every control.
    public var controls: Set<String>?

    public init() {}
}
