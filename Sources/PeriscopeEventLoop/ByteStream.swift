/// What a session needs from a client's connection: bytes in (callbacks), bytes out (a bounded
/// buffer), flow control and closing. ``Connection`` is the real one (a libevent bufferevent on a
/// socket); tests use an in-memory stream with the same contract, so every protocol rule can be
/// exercised without a socket (the idea of swift-nio's `EmbeddedChannel`).
///
/// - Important: loop thread only. After ``onClose`` has run, no callback runs again.
public protocol ByteStream: AnyObject {
    /// The peer, as `ip:port`, `unix` or a test name.
    var peer: String { get }
    /// Called with each chunk of received bytes.
    var onRead: ((UnsafeRawBufferPointer) -> Void)? { get set }
    /// Called when the output drains to ``lowWaterMark``.
    var onWritable: (() -> Void)? { get set }
    /// Called once when the stream ends, with a reason.
    var onClose: ((String) -> Void)? { get set }
    /// Called when the peer stops sending (half-close) while the stream can still be written.
    var onEndOfInput: (() -> Void)? { get set }
    /// Output level at which ``onWritable`` fires.
    var lowWaterMark: Int { get set }
    /// Whether the stream is still open.
    var isOpen: Bool { get }
    /// Bytes written and not yet taken by the peer's side.
    var outputBufferedCount: Int { get }
    /// Bytes the peer's side has taken so far (grows while the peer reads).
    var bytesDrained: UInt64 { get }
    /// The peer's process and user, where the transport knows them (Unix sockets).
    var peerCredentials: (pid: Int32, uid: UInt32)? { get }
    /// After a half-close: whether the peer has now gone completely.
    var peerHasHungUp: Bool { get }

    /// Queues bytes for the peer. Ignored once closed.
    func write(_ bytes: ArraySlice<UInt8>)
    /// Pauses or resumes reading from the peer.
    func setReading(_ enabled: Bool)
    /// Closes once everything queued has been taken (or the peer goes away), then reports `reason`.
    func closeAfterFlush(reason: String)
    /// Closes now, dropping unsent output, and reports `reason` through ``onClose``.
    func close(reason: String)
}

extension ByteStream {
    /// Ends the stream's callbacks and reports `reason` to the close handler: what every stream does
    /// once when it closes, so nothing runs after ``onClose``.
    public func reportClosed(_ reason: String) {
        let handler = onClose
        onRead = nil
        onWritable = nil
        onEndOfInput = nil
        onClose = nil
        handler?(reason)
    }
}
