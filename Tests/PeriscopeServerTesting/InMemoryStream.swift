import PeriscopeEventLoop

/// A ``ByteStream`` with no socket behind it: the server writes into a buffer the test takes from,
/// and the test's bytes are handed to the server as if received. Reading pauses, half-closes, closes
/// and slow readers are all under the test's control, so protocol rules run in microseconds and
/// deterministically.
///
/// - Important: loop thread only (the test thread that runs the loop).
public final class InMemoryStream: ByteStream {
    public let peer: String
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    public var onWritable: (() -> Void)?
    public var onClose: ((String) -> Void)?
    public var onEndOfInput: (() -> Void)?
    public var lowWaterMark = 0
    public private(set) var isOpen = true
    public private(set) var bytesDrained: UInt64 = 0
    public var peerCredentials: (pid: Int32, uid: UInt32)?
    public private(set) var peerHasHungUp = false
    /// Why the server closed the stream, once it has.
    public private(set) var closeReason: String?
    /// Whether the server is reading (it pauses for backpressure).
    public private(set) var isReading = true
    private var output: [UInt8] = []
    private var inbox: [[UInt8]] = []
    private var closeWhenFlushed: String?

    public init(peer: String = "memory", credentials: (pid: Int32, uid: UInt32)? = nil) {
        self.peer = peer
        self.peerCredentials = credentials
    }

    // MARK: the server's side

    public var outputBufferedCount: Int { output.count }

    public func write(_ bytes: ArraySlice<UInt8>) {
        guard isOpen else { return }
        output.append(contentsOf: bytes)
    }

    public func setReading(_ enabled: Bool) {
        isReading = enabled
        while isReading, isOpen, !inbox.isEmpty { deliver(inbox.removeFirst()) }
    }

    public func closeAfterFlush(reason: String) {
        guard isOpen else { return }
        isReading = false
        if output.isEmpty { close(reason: reason) } else { closeWhenFlushed = reason }
    }

    public func close(reason: String) {
        guard isOpen else { return }
        isOpen = false
        closeReason = reason
        reportClosed(reason)
    }

    // MARK: the client's side

    /// Sends bytes to the server (held while the server does not read).
    public func clientSend(_ bytes: [UInt8]) {
        guard isOpen else { return }
        if isReading { deliver(bytes) } else { inbox.append(bytes) }
    }

    /// Takes up to `limit` bytes the server has written, as a reading client would.
    public func clientTake(limit: Int = .max) -> [UInt8] {
        let count = min(limit, output.count)
        let taken = Array(output.prefix(count))
        output.removeFirst(count)
        bytesDrained &+= UInt64(count)
        if count > 0, output.count <= lowWaterMark {
            if let reason = closeWhenFlushed, output.isEmpty {
                close(reason: reason)
            } else {
                onWritable?()
            }
        }
        return taken
    }

    /// Half-close: the client sends nothing more but still reads.
    public func clientShutdownWrite() {
        guard isOpen else { return }
        if let handler = onEndOfInput {
            onEndOfInput = nil
            isReading = false
            handler()
        } else {
            close(reason: "peer closed the connection")
        }
    }

    /// The client goes away completely.
    public func clientClose() {
        peerHasHungUp = true
        if onEndOfInput != nil { clientShutdownWrite() }
    }

    private func deliver(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { raw in onRead?(raw) }
    }
}
