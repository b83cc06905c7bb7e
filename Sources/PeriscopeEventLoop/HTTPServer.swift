import PeriscopeSystem
import CPeriscopeHTTP

/// An HTTP/1.1 server on the loop: libevent's own `evhttp` (libevent_extra), bound to one address.
///
/// Every request is handed to ``onRequest`` as an ``HTTPExchange``; the handler answers it at once or keeps
/// it (a streamed reply, ``HTTPStream``, or an answer that waits for another connection). libevent parses
/// requests, limits header and body sizes (oversized bodies get 413), and answers methods other than GET, HEAD
/// and POST with 405 itself.
///
/// - Important: create, use and free only on the loop thread. Streams still open when the server is freed
///   are closed with it (their ``HTTPStream/onClose`` runs).
public final class HTTPServer {
    private var http: OpaquePointer?
    /// The bound port (the one asked for, or the kernel's choice for port 0).
    public let port: Int
    /// Called for every request, on the loop thread.
    public var onRequest: ((HTTPExchange) -> Void)?
    /// Held so the `event_base` outlives this object's libevent resources (they are freed in `deinit`).
    private let loop: EventLoop

    /// Binds `address:port` (port 0: any free port). Throws ``EventLoopError`` when the address cannot be bound.
    public init(loop: EventLoop, address: String, port: Int, maxBodyBytes: Int = 1 << 20) throws {
        self.loop = loop
        var bound: Int32 = 0
        var error = [CChar](repeating: 0, count: 256)
        let box = Box()
        let context = Unmanaged.passUnretained(box).toOpaque()
        let made = periscope_http_new(UnsafeMutableRawPointer(loop.base), address, Int32(port), maxBodyBytes, { request, context in
            guard let request, let context else { return }
            let box = Unmanaged<Box>.fromOpaque(context).takeUnretainedValue()
            box.server?.handle(request)
        }, context, &bound, &error, error.count)
        guard let made else {
            throw EventLoopError(String(nulTerminated: error))
        }
        self.http = made
        self.port = Int(bound)
        self.box = box
        box.server = self
    }

    /// The callback context: the C side holds it unretained; it lives as long as the server.
    private final class Box {
        weak var server: HTTPServer?
    }
    private let box: Box

    deinit { close() }

    /// Stops listening and closes every connection.
    public func close() {
        if let http { periscope_http_free(http) }
        http = nil
    }

    private func handle(_ request: OpaquePointer) {
        let exchange = HTTPExchange(request)
        if let onRequest {
            onRequest(exchange)
        } else {
            exchange.reply(status: 503, body: Array("not ready\n".utf8))
        }
    }
}
