import Glibc
import Logging
import PeriscopeEventLoop
import PeriscopeProtocol

/// How a client reached the daemon.
public enum TransportKind: String, Sendable {
    case unix
    case tcp
    case stdio
}

/// One client connection: its framing, its LSP-style lifecycle, its in-flight requests and its
/// output bound. Message handling lives in `Session+Dispatch.swift`.
///
/// Backpressure: when more than ``ServerConfiguration/pauseReadingAbove`` bytes of replies wait
/// unsent, the session stops reading the client until they drain; past
/// ``ServerConfiguration/maxOutputBytes`` the client is disconnected with a logged reason. Either way
/// other clients are unaffected.
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
    let connection: Connection
    unowned let core: ServerCore
    var decoder: FrameDecoder
    var lifecycle = Lifecycle.fresh
    var authenticated: Bool
    var shutdownRequested = false
    /// Name and version the client gave in `initialize`.
    public internal(set) var clientName: String?
    var pending: [RequestID: PendingRequest] = [:]
    private var readingPaused = false
    /// The client stopped sending (half-close): finish in-flight requests, then close.
    var inputEnded = false
    /// When set, the session closes (after flushing) right after its next message is sent — used to
    /// deliver an authentication error before hanging up.
    var closeAfterNextSend: String?
    private var closeHandlers: [() -> Void] = []
    public private(set) var isClosed = false
    let logger: Logger

    init(id: Int, transport: TransportKind, connection: Connection, core: ServerCore) {
        self.id = id
        self.transport = transport
        self.peer = connection.peer
        self.connection = connection
        self.core = core
        self.decoder = FrameDecoder(maxMessageSize: core.configuration.maxMessageSize)
        self.authenticated = transport != .tcp
        var logger = Logger(label: "periscope.session")
        logger[metadataKey: "client"] = "\(id)"
        self.logger = logger
        if transport == .unix, let credentials = Session.peerCredentials(connection.fd) {
            peerPID = credentials.pid
            peerUID = credentials.uid
        } else {
            peerPID = nil
            peerUID = nil
        }
        connection.lowWaterMark = core.configuration.pauseReadingAbove / 4
        connection.onRead = { [unowned self] bytes in self.received(bytes) }
        connection.onWritable = { [unowned self] in self.resumeIfDrained() }
        connection.onClose = { [unowned self] reason in self.closed(reason) }
        connection.onEndOfInput = { [unowned self] in
            self.inputEnded = true
            self.closeIfDone()
        }
    }

    /// The framing the client chose (known after its first byte).
    public var framing: FramingMode? { decoder.mode }

    /// Requests in flight.
    public var pendingCount: Int { pending.count }

    /// Unsent bytes queued for this client.
    public var outputBufferedCount: Int { connection.outputBufferedCount }

    /// Runs `handler` when the session ends (subscriptions use it to clean up).
    public func onClose(_ handler: @escaping () -> Void) {
        if isClosed { handler() } else { closeHandlers.append(handler) }
    }

    /// Sends a notification (`method`, `params`) to the client.
    public func notify(_ method: String, _ params: JSONValue) {
        send(Message.notification(method: method, params: params).json)
    }

    /// Sends one message, framed as the client frames its own.
    func send(_ message: JSONValue) {
        guard !isClosed else { return }
        var output: [UInt8] = []
        FrameEncoder.append(message, mode: decoder.mode ?? .headers, into: &output)
        write(output)
    }

    /// Sends a success response whose result is JSON text already (encoded off the loop).
    func sendEncodedResult(id: RequestID, result: [UInt8]) {
        guard !isClosed else { return }
        var body: [UInt8] = []
        body.reserveCapacity(result.count + 48)
        body.append(contentsOf: #"{"id":"#.utf8)
        JSONWriter.write(id.json, into: &body)
        body.append(contentsOf: #","jsonrpc":"2.0","result":"#.utf8)
        body.append(contentsOf: result)
        body.append(UInt8(ascii: "}"))
        var output: [UInt8] = []
        FrameEncoder.appendEncoded(body, mode: decoder.mode ?? .headers, into: &output)
        write(output)
    }

    /// Queues framed bytes, then closes if an authentication error was just sent, else applies backpressure.
    private func write(_ output: [UInt8]) {
        connection.write(output)
        if let reason = closeAfterNextSend {
            disconnectAfterFlush(reason: reason)
            return
        }
        applyBackpressure()
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
        connection.closeAfterFlush(reason: reason)
    }

    private func applyBackpressure() {
        let queued = connection.outputBufferedCount
        if queued > core.configuration.maxOutputBytes {
            logger.warning("dropping slow client \(peer): \(queued) bytes unread, limit \(core.configuration.maxOutputBytes)")
            core.counters.droppedSlow += 1
            disconnect(reason: "client too slow: \(queued) bytes of replies unread")
        } else if queued > core.configuration.pauseReadingAbove, !readingPaused {
            readingPaused = true
            connection.setReading(false)
        }
    }

    private func resumeIfDrained() {
        guard readingPaused, connection.outputBufferedCount <= core.configuration.pauseReadingAbove / 4 else { return }
        readingPaused = false
        connection.setReading(true)
        processBuffered()
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        decoder.append(bytes)
        processBuffered()
    }

    /// Handles every complete message buffered, until the buffer is empty or reading is paused.
    private func processBuffered() {
        while !isClosed, !readingPaused {
            let body: [UInt8]?
            do {
                body = try decoder.next()
            } catch {
                let reply = Message.response(id: nil, result: .failure(RPCError(code: error.code, message: error.message)))
                send(reply.json)
                logger.info("closing \(peer): \(error.message)")
                disconnectAfterFlush(reason: "framing error: \(error.message)")
                return
            }
            guard let body else { return }
            handle(body: body)
        }
    }

    private func closed(_ reason: String) {
        guard !isClosed else { return }
        isClosed = true
        let inFlight = Array(pending.values)
        pending.removeAll()
        for request in inFlight { request.cancel() }
        let handlers = closeHandlers
        closeHandlers.removeAll()
        for handler in handlers { handler() }
        logger.debug("client \(peer) disconnected: \(reason)")
        core.sessionClosed(self, reason: reason)
    }

    private static func peerCredentials(_ fd: Int32) -> (pid: Int32, uid: UInt32)? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (needs _GNU_SOURCE in C, so spelled out here)
        struct PeerCredentials { var pid: Int32 = 0; var uid: UInt32 = 0; var gid: UInt32 = 0 }
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return (credentials.pid, credentials.uid)
    }
}
