import Glibc
import Logging
import PeriscopeEventLoop
import PeriscopeProtocol
import PeriscopeSystem

/// Daemon-wide state shared by every session: configuration, router, counters, the session table.
///
/// - Important: loop thread only.
public final class ServerCore {
    /// Counters shown by `daemon/status`.
    public struct Counters {
        public var accepted = 0
        public var rejectedFull = 0
        /// Clients dropped for holding more than the output limit unread.
        public var droppedSlow = 0
        /// Clients dropped for reading nothing for ``ServerConfiguration/stallMillis`` (subscribers included).
        public var droppedStalled = 0
        public var authFailures = 0
        /// TCP peers disconnected for not authenticating in time.
        public var authTimeouts = 0
        public var messages: UInt64 = 0
    }

    public let configuration: ServerConfiguration
    public let router = Router()
    public let loop: EventLoop
    let parser = JSONParser(maxDepth: 128)
    public internal(set) var counters = Counters()
    public private(set) var sessions: [Int: Session] = [:]
    /// TCP peers connected and not authenticated yet.
    public private(set) var unauthenticatedCount = 0
    /// Seconds since the epoch when the daemon started.
    public let startedAt: Double
    public internal(set) var isShuttingDown = false
    /// Addresses served, for `daemon/status`: `unix:/path`, `tcp:host:port`, `stdio`.
    public internal(set) var endpoints: [String] = []
    /// Health of each data source, by name, filled by the services (collectors, engines).
    public var health: [String: () -> JSONValue] = [:]
    /// Called when the stdio client sends `exit` or disconnects (the daemon then exits).
    var onStdioEnded: ((_ cleanShutdown: Bool) -> Void)?
    private var nextSessionID = 1
    private var nextPipeNumber = 1
    private let logger = Logger(label: "periscope.server")

    public init(configuration: ServerConfiguration, loop: EventLoop) {
        self.configuration = configuration
        self.loop = loop
        self.startedAt = ServerCore.now()
    }

    /// Wall-clock seconds since the epoch.
    public static func now() -> Double { SystemClock.realtime() }

    /// Starts a session for an accepted socket, or refuses it when the daemon is full.
    func accept(fd: Int32, peer: String, transport: TransportKind) {
        let connection: Connection
        do {
            connection = try Connection(loop: loop, fd: fd, peer: peer)
        } catch {
            logger.error("cannot set up connection from \(peer): \(error)")
            return
        }
        accept(connection, transport: transport)
    }

    /// Starts a session on `stream` (a socket's connection, or an in-memory stream in tests), or
    /// refuses it with −32005 when the daemon is full; returns the session when one was started.
    @discardableResult
    public func accept(_ stream: any ByteStream, transport: TransportKind) -> Session? {
        let unauthenticatedFull = transport == .tcp && unauthenticatedCount >= configuration.maxUnauthenticated
        if sessions.count >= configuration.maxClients || isShuttingDown || unauthenticatedFull {
            counters.rejectedFull += 1
            let reason = isShuttingDown ? "the daemon is shutting down"
                : unauthenticatedFull ? "too many unauthenticated TCP connections (limit \(configuration.maxUnauthenticated))"
                : "too many clients (limit \(configuration.maxClients))"
            let error = EncodedMessage.error(id: nil, RPCError(code: ErrorCode.limitExceeded, message: reason))
            for piece in error.framed(.headers).pieces { stream.write(piece[...]) }
            let holder = StreamHolder(stream)
            stream.onClose = { _ in holder.release() }
            stream.closeAfterFlush(reason: reason)
            return nil
        }
        let session = Session(id: nextSessionID, transport: transport, connection: stream, core: self)
        nextSessionID += 1
        sessions[session.id] = session
        if transport == .tcp { unauthenticatedCount += 1 }
        counters.accepted += 1
        return session
    }

    /// A new pipe id, `p<N>`, unique in the daemon (local pipes and pipes forwarded to other hosts share them).
    func allocatePipeID() -> String {
        defer { nextPipeNumber += 1 }
        return "p\(nextPipeNumber)"
    }

    /// A TCP session authenticated: it no longer counts against ``ServerConfiguration/maxUnauthenticated``.
    func authenticationChanged(_ session: Session) {
        if session.transport == .tcp { unauthenticatedCount -= 1 }
    }

    func sessionClosed(_ session: Session, reason: String) {
        sessions.removeValue(forKey: session.id)
        if session.transport == .tcp, !session.authenticated { unauthenticatedCount -= 1 }
        if session.transport == .stdio { onStdioEnded?(session.shutdownRequested) }
    }

    func clientExited(_ session: Session) {
        if session.transport == .stdio { onStdioEnded?(session.shutdownRequested) }
    }

    /// The `initialize` result: who we are and what we can do.
    func initializeResult() -> InitializeResult {
        InitializeResult(serverName: "periscoped", serverVersion: PeriscopeVersion.daemon,
                         protocolVersion: PeriscopeVersion.protocolVersion, methods: router.methods,
                         framing: ["content-length", "ndjson"], batches: true, cancellation: true, progress: true)
    }
}

/// Keeps a refused connection alive until it has flushed its error.
private final class StreamHolder {
    private var stream: (any ByteStream)?
    init(_ stream: any ByteStream) { self.stream = stream }
    func release() { stream = nil }
}
