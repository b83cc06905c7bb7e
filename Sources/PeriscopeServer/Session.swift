import Glibc
import Logging
import PeriscopeEventLoop
import PeriscopeProtocol

/// How a client reached the daemon.
public enum TransportKind: String, Sendable {
    case unix
    case tcp
    case stdio
    /// A publisher's session for a client of its aggregator, whose calls the aggregator forwards (SPEC §17.6).
    case forwarded
}

/// One client connection: its framing, its LSP-style lifecycle, its in-flight requests and its
/// output. Message handling lives in `Session+Dispatch.swift`, the watchdog in `Session+Watchdog.swift`.
///
/// Output: replies are queued as shared byte pieces (``OutputQueue``) and fed to the socket as the
/// client reads, so a prompt reader gets replies of any size. Backpressure: while more than
/// ``ServerConfiguration/pauseReadingAbove`` bytes wait unsent, the session stops reading the client.
/// A client that reads nothing for ``ServerConfiguration/stallMillis`` while output waits, or that has
/// more than ``ServerConfiguration/maxOutputBytes`` unread and read nothing for
/// ``ServerConfiguration/slowGraceMillis``, is disconnected with a logged reason. Other clients are
/// unaffected either way.
///
/// - Important: loop thread only.
public final class Session {
    enum Lifecycle {
        case fresh
        case initialized
        case shutDown
    }

    /// A daemon-unique connection number, used in logs and `daemon/status`.
    public let id: Int
    public let transport: TransportKind
    public let peer: String
    /// Peer process and user for Unix-socket clients (`SO_PEERCRED`).
    public let peerPID: Int32?
    public let peerUID: UInt32?
    let connection: any ByteStream
    unowned let core: ServerCore
    var decoder: FrameDecoder
    var lifecycle = Lifecycle.fresh
    private(set) var authenticated: Bool
    var shutdownRequested = false
    /// Name and version the client gave in `initialize`.
    public internal(set) var clientName: String?
    var pending: [RequestID: PendingRequest] = [:]
    /// Subscriptions held or being set up, counted against the per-connection limit.
    var subscriptionSlots = 0
    private(set) var readingPaused = false
    /// The client stopped sending (half-close): finish in-flight requests, then close.
    var inputEnded = false
    /// When set, the session closes (after flushing) right after its next message is sent — used to
    /// deliver an authentication error before hanging up. Nothing more is processed meanwhile.
    var closeAfterNextSend: String?
    private var closeHandlers: [() -> Void] = []
    public private(set) var isClosed = false
    let output = OutputQueue()
    /// Close once the output queue has been handed to the connection.
    private var closeWhenDrained: String?
    /// Watchdog state: the last time the client took bytes, and the count it had taken then.
    var lastProgress = monotonicMillis()
    var drainedAtProgress: UInt64 = 0
    let connectedAt = monotonicMillis()
    var watchdog: LoopTimer?
    let logger: Logger

    init(id: Int, transport: TransportKind, connection: any ByteStream, core: ServerCore) {
        self.id = id
        self.transport = transport
        self.peer = connection.peer
        self.connection = connection
        self.core = core
        self.authenticated = transport != .tcp
        // Before authentication a peer may send only small messages (it has no business sending more).
        self.decoder = FrameDecoder(maxMessageSize: transport == .tcp
            ? min(core.configuration.maxUnauthenticatedMessageSize, core.configuration.maxMessageSize)
            : core.configuration.maxMessageSize)
        var logger = Logger(label: "periscope.session")
        logger[metadataKey: "client"] = "\(id)"
        self.logger = logger
        if transport == .unix, let credentials = connection.peerCredentials {
            peerPID = credentials.pid
            peerUID = credentials.uid
        } else {
            peerPID = nil
            peerUID = nil
        }
        connection.lowWaterMark = OutputQueue.feedTarget / 4
        // Weak, and held strongly for the whole callback: a callback may close the session, which then
        // leaves the session table, and must still finish its own work safely.
        connection.onRead = { [weak self] bytes in self?.received(bytes) }
        connection.onWritable = { [weak self] in self?.drained() }
        connection.onClose = { [weak self] reason in self?.closed(reason) }
        connection.onEndOfInput = { [weak self] in
            guard let self else { return }
            self.inputEnded = true
            self.closeIfDone()
            self.armWatchdog()
        }
        armWatchdog()
    }

    /// The framing the client chose (known after its first byte).
    public var framing: FramingMode? { decoder.mode }

    /// Requests in flight.
    public var pendingCount: Int { pending.count }

    /// Unsent bytes queued for this client (in the session's queue and the socket buffer).
    public var outputBufferedCount: Int { connection.outputBufferedCount + output.queuedBytes }

    /// Marks the session authenticated and lifts the pre-authentication message limit.
    func markAuthenticated() {
        authenticated = true
        decoder.maxMessageSize = core.configuration.maxMessageSize
        core.authenticationChanged(self)
    }

    /// Runs `handler` when the session ends (subscriptions use it to clean up).
    public func onClose(_ handler: @escaping () -> Void) {
        if isClosed { handler() } else { closeHandlers.append(handler) }
    }

    /// Sends a notification of the protocol (a type of ``NotificationRegistry``) to the client.
    public func notify<N: RPCNotification>(_ notification: N) {
        send(EncodedMessage(notification.message.json))
    }

    /// Sends one message (JSON text in pieces), framed as the client frames its own.
    func send(_ message: EncodedMessage) {
        guard !isClosed, closeWhenDrained == nil else { return }
        let wasIdle = outputBufferedCount == 0
        output.enqueue(message.framed(decoder.mode ?? .headers))
        if wasIdle {
            noteProgress()
            armWatchdog()
        }
        output.feed(connection)
        if let reason = closeAfterNextSend {
            disconnectAfterFlush(reason: reason)
            return
        }
        applyBackpressure()
    }

    /// Sends an error response.
    func sendError(id: RequestID?, _ error: RPCError) {
        send(.error(id: id, error))
    }

    /// After a half-close: closes once nothing is in flight any more.
    func closeIfDone() {
        guard inputEnded, pending.isEmpty, !isClosed else { return }
        disconnectAfterFlush(reason: "client closed its side")
    }

    /// Closes the session now, logging `reason`.
    public func disconnect(reason: String) {
        connection.close(reason: reason)
    }

    /// Sends what is queued, then closes.
    func disconnectAfterFlush(reason: String) {
        guard !isClosed else { return }
        connection.setReading(false)
        closeWhenDrained = reason
        if output.isEmpty { connection.closeAfterFlush(reason: reason) }
    }

    private func applyBackpressure() {
        let queued = outputBufferedCount
        if queued > core.configuration.maxOutputBytes,
           monotonicMillis() - lastProgress > Double(core.configuration.slowGraceMillis) {
            dropSlow(queued)
        } else if queued > core.configuration.pauseReadingAbove, !readingPaused {
            readingPaused = true
            connection.setReading(false)
            armWatchdog()
        }
    }

    func dropSlow(_ queued: Int) {
        logger.warning("dropping slow client \(peer): \(queued) bytes unread, limit \(core.configuration.maxOutputBytes)")
        core.counters.droppedSlow += 1
        disconnect(reason: "client too slow: \(queued) bytes of replies unread")
    }

    /// The socket buffer drained to its low-water mark: feed more, then maybe resume reading.
    private func drained() {
        noteProgress()
        output.feed(connection)
        if let reason = closeWhenDrained, output.isEmpty {
            connection.closeAfterFlush(reason: reason)
            return
        }
        guard readingPaused, outputBufferedCount <= core.configuration.pauseReadingAbove / 4 else { return }
        readingPaused = false
        connection.setReading(true)
        processBuffered()
    }

    /// Records that the client has taken bytes since the last check (or that waiting starts now).
    func noteProgress() {
        lastProgress = monotonicMillis()
        drainedAtProgress = connection.bytesDrained
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        decoder.append(bytes)
        processBuffered()
    }

    /// Handles every complete message buffered, until the buffer is empty or reading is paused.
    private func processBuffered() {
        while !isClosed, !readingPaused, closeAfterNextSend == nil, closeWhenDrained == nil {
            let body: [UInt8]?
            do {
                body = try decoder.next()
            } catch {
                sendError(id: nil, RPCError(code: error.code, message: error.message))
                logger.info("closing \(peer): \(LogText.escape(error.message))")
                disconnectAfterFlush(reason: "framing error: \(LogText.escape(error.message))")
                return
            }
            guard let body else { return }
            handle(body: body)
        }
    }

    private func closed(_ reason: String) {
        guard !isClosed else { return }
        isClosed = true
        output.clear()
        watchdog?.cancel()
        watchdog = nil
        let inFlight = Array(pending.values)
        pending.removeAll()
        for request in inFlight { request.cancel() }
        let handlers = closeHandlers
        closeHandlers.removeAll()
        for handler in handlers { handler() }
        logger.debug("client \(peer) disconnected: \(reason)")
        core.sessionClosed(self, reason: reason)
    }
}
