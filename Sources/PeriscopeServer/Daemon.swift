import Glibc
import Logging
import PeriscopeCollectors
import PeriscopeEventLoop
import PeriscopeHistory
import PeriscopeProtocol

/// The whole daemon: loop, listeners, signals, services. ``run()`` blocks until shutdown.
///
/// Lifecycle: `init` binds every endpoint (so errors surface before anything runs), ``run()`` serves
/// on the calling thread, SIGTERM/SIGINT start a graceful shutdown — stop accepting, let in-flight
/// requests finish for up to a second, answer the rest with −32003, flush and close every client,
/// remove the socket file. SIGHUP logs the current state (a cheap "are you alive").
public final class Daemon {
    public let loop: EventLoop
    public let core: ServerCore
    private var listeners: [Listener] = []
    private var signals: [SignalWatcher] = []
    private var daemonMethods: DaemonMethods?
    private var services: [AnyObject] = []
    private var socketPath: String?
    /// The socket file's identity when we made it: at shutdown the path is only unlinked if it still
    /// names that file (another daemon may have started on the same path since).
    private var socketIdentity: (device: UInt64, inode: UInt64)?
    private var exitCode: Int32 = 0
    private var stdioBridge: StdioBridge?
    /// The host map, unless started with collectors off (and no injected reports).
    public private(set) var topology: TopologyService?
    private(set) var subscriptions: SubscriptionManager?
    private var history: HistoryService?
    private let logger = Logger(label: "periscope.daemon")

    /// Binds every configured endpoint. Throws with an operator-readable message on failure.
    public init(configuration: ServerConfiguration) throws {
        signal(SIGPIPE, SIG_IGN)
        MemoryTuning.limitArenas()
        MemoryTuning.fixMmapThreshold()
        Daemon.unblockSignals()
        Daemon.raiseFileLimit()
        loop = try EventLoop()
        core = ServerCore(configuration: configuration, loop: loop)
        daemonMethods = DaemonMethods(core: core)
        if configuration.collectors || configuration.injectedReports {
            let topology = TopologyService(core: core)
            self.topology = topology
            subscriptions = SubscriptionManager(topology: topology)
            let log = configuration.history.map { HistoryLog(configuration: $0) } ?? HistoryLog(off: configuration.historyOffReason)
            history = HistoryService(topology: topology, log: log)
            if let reason = log.status.reason { logger.warning("history off: \(reason)") }
        }
        services.append(ControlService(core: core, topology: topology))
        services += try MultiHostRoles.start(configuration, core: core, topology: topology)
        if let address = configuration.metricsListen {  // issue 14: Prometheus exposition, off by default
            guard let topology else { throw ServerError("--metrics needs the collectors (drop --no-collectors)") }
            services.append(try MetricsService(core: core, topology: topology, address: address))
        }
        if let address = configuration.tcpListen {
            guard let token = configuration.token, !token.isEmpty else {
                throw ServerError("--listen needs a token (--token-file): TCP clients must authenticate")
            }
            _ = token
            let (host, port) = try SocketAddress.splitHostPort(address)
            let (fd, bound) = try SocketAddress.listenTCP(host: host, port: port)
            let listener = try Listener(loop: loop, fd: fd, address: "\(host):\(bound)", port: bound) { [unowned core] fd, peer in
                core.accept(fd: fd, peer: peer, transport: .tcp)
            }
            listeners.append(listener)
            core.endpoints.append("tcp:\(host):\(bound)")
            logger.info("listening on tcp \(host):\(bound) (token required)")
        }
        // Last: clients and tests take the socket file as the sign that every listener is up.
        if let path = configuration.socketPath { try listenUnix(path) }
        if configuration.stdio {
            let (fd, bridge) = try StdioBridge.start()
            stdioBridge = bridge
            core.endpoints.append("stdio")
            core.onStdioEnded = { [unowned self] clean in
                self.exitCode = clean ? 0 : 1
                self.beginShutdown(reason: "stdio client ended")
            }
            core.accept(fd: fd, peer: "stdio", transport: .stdio)
        }
        guard configuration.handlesSignals else { return }
        for number in [SIGTERM, SIGINT] {
            signals.append(try SignalWatcher(loop: loop, signal: number) { [unowned self] signo in
                self.beginShutdown(reason: "signal \(signo)")
            })
        }
        signals.append(try SignalWatcher(loop: loop, signal: SIGHUP) { [unowned self] _ in
            self.logger.info("SIGHUP: \(self.core.sessions.count) clients, endpoints \(self.core.endpoints)")
        })
    }

    /// Serves until shutdown; returns the exit code (non-zero when a stdio client exited without `shutdown`).
    public func run() -> Int32 {
        if core.configuration.collectors { topology?.start() }
        logger.info("periscoped \(PeriscopeVersion.daemon) serving \(core.endpoints.joined(separator: ", ")) on \(loop.backendName)")
        loop.run()
        history?.stop()
        cleanUp()
        // Pipe workers and dispatch queues may still hand work over (an exec being hung up reports its end
        // seconds later): from here it is dropped rather than waking a loop nobody runs.
        loop.close()
        stdioBridge?.waitForOutput(timeoutMillis: 2000)
        return exitCode
    }

    /// Starts a graceful shutdown. Loop thread.
    public func beginShutdown(reason: String) {
        guard !core.isShuttingDown else { return }
        logger.info("shutting down: \(reason)")
        core.isShuttingDown = true
        for listener in listeners { listener.close() }
        removeSocketFile()
        daemonMethods?.stop()
        topology?.stop()
        let inFlightDeadline = monotonicMillis() + 1000
        shutdownTimer = LoopTimer(loop: loop) { [unowned self] in self.shutdownStep(inFlightDeadline) }
        shutdownStep(inFlightDeadline)
    }

    private var shutdownTimer: LoopTimer?
    private var closingSessions = false
    private var closeDeadline = 0.0

    /// Waits for in-flight requests (up to the deadline), then flushes and closes every client.
    private func shutdownStep(_ inFlightDeadline: Double) {
        let now = monotonicMillis()
        if !closingSessions {
            let busy = core.sessions.values.contains { $0.pendingCount > 0 }
            if busy, now < inFlightDeadline {
                shutdownTimer?.schedule(afterMillis: 20)
                return
            }
            closingSessions = true
            closeDeadline = now + 1000
            for session in core.sessions.values {
                for request in session.pending.values {
                    request.cancel(RPCError(code: ErrorCode.shuttingDown, message: "the daemon is shutting down"))
                }
                session.disconnectAfterFlush(reason: "daemon shutting down")
            }
        }
        if core.sessions.isEmpty || now >= closeDeadline {
            loop.stop()
        } else {
            shutdownTimer?.schedule(afterMillis: 20)
        }
    }

    private func cleanUp() {
        for session in core.sessions.values { session.disconnect(reason: "daemon stopped") }
        for watcher in signals { watcher.cancel() }
        for case let bus as ReportBus in services { bus.close() }  // its sockets' events live on the loop's base
        shutdownTimer?.cancel()
        removeSocketFile()
    }

    /// Removes our socket file — unless the path now names another file (a successor's socket).
    private func removeSocketFile() {
        guard let path = socketPath else { return }
        socketPath = nil
        let current = Daemon.fileIdentity(path)
        guard let current, let mine = socketIdentity, current == mine else {
            if current != nil { logger.info("leaving \(path) alone: it is no longer our socket") }
            return
        }
        unlink(path)
    }

    private static func fileIdentity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return (UInt64(info.st_dev), UInt64(info.st_ino))
    }

    private func listenUnix(_ path: String) throws {
        try SocketDirectory.prepare(forSocket: path)
        let fd = try SocketAddress.listenUnix(path: path)
        socketIdentity = Daemon.fileIdentity(path)
        let listener = try Listener(loop: loop, fd: fd, address: path) { [unowned core] fd, _ in
            core.accept(fd: fd, peer: "unix", transport: .unix)
        }
        listeners.append(listener)
        socketPath = path
        core.endpoints.append("unix:\(path)")
        logger.info("listening on \(path) (mode 0600)")
    }

    /// A parent may start us with signals blocked (test runners do); libevent needs them deliverable.
    private static func unblockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for number in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, number) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    private static func raiseFileLimit() {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < limit.rlim_max else { return }
        limit.rlim_cur = limit.rlim_max
        setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
    }
}

