import CPeriscopeHTTP

/// A reply streamed in chunks for as long as the client keeps the connection (Server-Sent Events).
///
/// Created from an unanswered ``HTTPExchange`` (headers added before); ``send(_:)`` appends bytes, ``end()``
/// finishes. When the client goes away first, ``onClose`` runs once and later sends are dropped. The owner keeps
/// the stream alive while it is open; ``end()`` (or releasing it) detaches from the connection, so no callback
/// runs afterwards.
///
/// - Important: loop thread only.
public final class HTTPStream {
    private var request: OpaquePointer?
    private var clientGone = false
    /// Called once when the client closes the connection (not after ``end()``).
    public var onClose: (() -> Void)?

    /// Starts the streamed answer of `exchange` with `status`; nil when it was already answered.
    public init?(exchange: HTTPExchange, status: Int = 200) {
        guard let request = exchange.takeForStream() else { return nil }
        self.request = request
        periscope_http_stream_start(request, Int32(status), HTTPExchange.reason(status))
        let context = Unmanaged.passUnretained(self).toOpaque()
        if periscope_http_on_close(request, { _, context in
            guard let context else { return }
            Unmanaged<HTTPStream>.fromOpaque(context).takeUnretainedValue().closed()
        }, context) == 0 {
            clientGone = true
        }
    }

    deinit { end() }

    /// Whether the client is still connected and the stream not ended.
    public var isOpen: Bool { request != nil && !clientGone }

    /// Bytes queued for the client and not yet sent (for backpressure).
    public var pendingBytes: Int {
        guard let request, !clientGone else { return 0 }
        return periscope_http_stream_pending(request)
    }

    /// Appends `bytes` to the stream; dropped once closed.
    public func send(_ bytes: [UInt8]) {
        guard let request, !clientGone, !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { periscope_http_stream_chunk(request, $0.baseAddress, $0.count) }
    }

    /// Finishes the stream (or, after the client has gone, frees what libevent kept for it).
    public func end() {
        guard let request else { return }
        self.request = nil
        if !clientGone { periscope_http_on_close(request, nil, nil) }
        periscope_http_stream_end(request)
    }

    private func closed() {
        guard !clientGone else { return }
        clientGone = true
        let handler = onClose
        onClose = nil
        handler?()
    }
}
