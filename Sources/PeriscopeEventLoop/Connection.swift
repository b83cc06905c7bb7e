import Glibc
import CLibevent

/// A buffered, non-blocking stream connection on the loop (a libevent `bufferevent`).
///
/// Incoming bytes are delivered to ``onRead``; ``write(_:)`` appends to libevent's output buffer.
/// The owner bounds memory by checking ``outputBufferedCount`` and by pausing reads
/// (``setReading(_:)``) while the peer is not draining its replies. ``onWritable`` fires when the
/// output has drained to ``lowWaterMark``.
///
/// - Important: loop thread only. The owner keeps the connection alive until ``onClose`` runs or it
///   calls ``close()``; after that no callback runs.
public final class Connection: ByteStream {
    private var bev: OpaquePointer?
    private var scratch = [UInt8](repeating: 0, count: 64 * 1024)
    private var closeWhenFlushed = false
    private var closeReported = false

    /// Called with each chunk of received bytes.
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    /// Called once when the connection ends (peer closed, error, or ``close()``), with a reason.
    public var onClose: ((String) -> Void)?
    /// Called when the output buffer drains to ``lowWaterMark``.
    public var onWritable: (() -> Void)?
    /// Called when the peer stops sending (EOF on read) while the connection can still be written:
    /// the owner finishes what is in flight and then closes. Without a handler the connection closes.
    public var onEndOfInput: (() -> Void)?
    /// The peer, as `ip:port` or `unix`.
    public let peer: String
    public let fd: Int32
    /// Held so the `event_base` outlives the bufferevent (freed in `deinit` or ``close(reason:)``).
    private let loop: EventLoop
    /// Total bytes received and sent (for status and benchmarks).
    public private(set) var bytesIn: UInt64 = 0
    public private(set) var bytesOut: UInt64 = 0

    /// Output level at which ``onWritable`` fires.
    public var lowWaterMark: Int = 0 {
        didSet { if let bev { bufferevent_setwatermark(bev, Int16(EV_WRITE), lowWaterMark, 0) } }
    }

    /// Wraps the connected socket `fd` (takes ownership; it is closed with the connection).
    public init(loop: EventLoop, fd: Int32, peer: String) throws {
        self.loop = loop
        self.peer = peer
        self.fd = fd
        evutil_make_socket_nonblocking(fd)
        let options = BEV_OPT_CLOSE_ON_FREE
        guard let bev = bufferevent_socket_new(loop.base, fd, options) else {
            Glibc.close(fd)
            throw EventLoopError("bufferevent_socket_new failed")
        }
        self.bev = bev
        attach(bev)
    }

    /// Wraps a bufferevent made elsewhere (a TLS one, see ``TLSContext``) on socket `fd`; takes ownership of
    /// both (freeing the bufferevent closes the socket).
    init(loop: EventLoop, bufferevent bev: OpaquePointer, fd: Int32, peer: String) {
        self.loop = loop
        self.peer = peer
        self.fd = fd
        self.bev = bev
        attach(bev)
    }

    /// The underlying bufferevent while open (for ``TLSContext``'s peer checks).
    var bufferevent: OpaquePointer? { bev }

    private func attach(_ bev: OpaquePointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        bufferevent_setcb(bev, { _, context in
            guard let context else { return }
            Connection.dispatch(context) { $0.readable() }
        }, { _, context in
            guard let context else { return }
            Connection.dispatch(context) { $0.drained() }
        }, { _, what, context in
            guard let context else { return }
            Connection.dispatch(context) { $0.event(what) }
        }, context)
        bufferevent_enable(bev, Int16(EV_READ | EV_WRITE))
    }

    /// Runs a libevent callback on the connection `context` names, holding it strongly until the callback returns:
    /// a handler may drop the owner's last reference (an `onClose` that forgets the connection, run from inside
    /// ``readable()`` or ``drained()``), and the method must not go on with a freed `self`.
    private static func dispatch(_ context: UnsafeMutableRawPointer, _ body: (Connection) -> Void) {
        let connection = Unmanaged<Connection>.fromOpaque(context).retain().takeRetainedValue()
        withExtendedLifetime(connection) { body(connection) }
    }

    deinit {
        if let bev { bufferevent_free(bev) }
    }

    /// Whether the connection is still open.
    public var isOpen: Bool { bev != nil }

    /// Bytes queued for the peer and not yet accepted by the kernel.
    public var outputBufferedCount: Int {
        guard let bev else { return 0 }
        return evbuffer_get_length(bufferevent_get_output(bev))
    }

    /// Queues `bytes` for sending. Ignored once closed.
    public func write(_ bytes: [UInt8]) {
        guard let bev, !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            _ = bufferevent_write(bev, raw.baseAddress, raw.count)
        }
        bytesOut &+= UInt64(bytes.count)
    }

    /// The peer's process and user (`SO_PEERCRED`), for Unix-socket peers.
    public var peerCredentials: (pid: Int32, uid: UInt32)? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (needs _GNU_SOURCE in C, so spelled out here)
        struct PeerCredentials { var pid: Int32 = 0; var uid: UInt32 = 0; var gid: UInt32 = 0 }
        var credentials = PeerCredentials()
        var length = socklen_t(MemoryLayout<PeerCredentials>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0 else { return nil }
        return (credentials.pid, credentials.uid)
    }

    /// After a half-close, whether the peer has closed completely: Unix sockets report it as POLLHUP;
    /// TCP only once we write.
    public var peerHasHungUp: Bool {
        guard bev != nil else { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLHUP), revents: 0)
        guard poll(&descriptor, 1, 0) == 1 else { return false }
        return descriptor.revents & Int16(POLLHUP | POLLERR) != 0
    }

    /// Queues a slice of bytes for sending. Ignored once closed.
    public func write(_ bytes: ArraySlice<UInt8>) {
        guard let bev, !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { raw in
            _ = bufferevent_write(bev, raw.baseAddress, raw.count)
        }
        bytesOut &+= UInt64(bytes.count)
    }

    /// Bytes the kernel has accepted so far (sent minus still queued): grows while the peer reads.
    public var bytesDrained: UInt64 { bytesOut &- UInt64(outputBufferedCount) }

    /// Pauses or resumes reading from the peer (backpressure).
    public func setReading(_ enabled: Bool) {
        guard let bev else { return }
        if enabled { bufferevent_enable(bev, Int16(EV_READ)) } else { bufferevent_disable(bev, Int16(EV_READ)) }
    }

    /// Closes once everything queued has been sent (or the peer goes away), then reports `reason`.
    public func closeAfterFlush(reason: String) {
        guard let bev else { return }
        setReading(false)
        if outputBufferedCount == 0 {
            close(reason: reason)
            return
        }
        closeWhenFlushed = true
        pendingReason = reason
        bufferevent_setwatermark(bev, Int16(EV_WRITE), 0, 0)
    }

    private var pendingReason = ""

    /// Closes now, dropping unsent output, and reports `reason` through ``onClose``.
    public func close(reason: String = "closed by server") {
        guard let bev else { return }
        bufferevent_free(bev)
        self.bev = nil
        reportClose(reason)
    }

    private func reportClose(_ reason: String) {
        guard !closeReported else { return }
        closeReported = true
        reportClosed(reason)
    }

    private func readable() {
        guard let bev else { return }
        let input = bufferevent_get_input(bev)
        while let bev = self.bev, bev == self.bev {
            let available = evbuffer_get_length(input)
            if available == 0 { break }
            let count = scratch.withUnsafeMutableBytes { raw in
                evbuffer_remove(input, raw.baseAddress, min(available, raw.count))
            }
            if count <= 0 { break }
            bytesIn &+= UInt64(count)
            scratch.withUnsafeBytes { raw in
                onRead?(UnsafeRawBufferPointer(rebasing: raw[0..<Int(count)]))
            }
        }
    }

    private func drained() {
        if closeWhenFlushed {
            if outputBufferedCount == 0 { close(reason: pendingReason) }
            return
        }
        onWritable?()
    }

    private func event(_ what: Int16) {
        let flags = Int32(what)
        if flags & Int32(BEV_EVENT_EOF) != 0 {
            if closeWhenFlushed {
                if outputBufferedCount == 0 { close(reason: pendingReason) }
            } else if let handler = onEndOfInput {
                onEndOfInput = nil
                if let bev { bufferevent_disable(bev, Int16(EV_READ)) }
                handler()
            } else {
                close(reason: "peer closed the connection")
            }
        } else if flags & Int32(BEV_EVENT_ERROR) != 0 {
            let code = errno
            let detail = code == 0 ? "connection lost" : "socket error: \(String(cString: strerror(code)))"
            close(reason: closeWhenFlushed ? pendingReason : detail)
        }
    }
}
