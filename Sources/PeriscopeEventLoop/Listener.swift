import Glibc
import CLibevent

/// Accepts connections on a listening socket and hands each new fd to a handler on the loop thread.
///
/// - Important: create and close only on the loop thread.
public final class Listener {
    private var listener: OpaquePointer?
    private let onAccept: (Int32, String) -> Void
    /// A human-readable address: a socket path or `host:port`.
    public let address: String
    /// The bound TCP port (useful with port 0), or `nil` for a Unix socket.
    public let port: UInt16?
    /// Held so the `event_base` outlives this object's libevent resources (they are freed in `deinit`).
    private let loop: EventLoop

    /// Starts accepting on `fd`, which must already be bound and listening. Takes ownership of `fd`.
    public init(loop: EventLoop, fd: Int32, address: String, port: UInt16? = nil,
                onAccept: @escaping (_ fd: Int32, _ peer: String) -> Void) throws {
        self.loop = loop
        self.onAccept = onAccept
        self.address = address
        self.port = port
        evutil_make_socket_nonblocking(fd)
        let context = Unmanaged.passUnretained(self).toOpaque()
        let flags = UInt32(LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC)
        guard let listener = evconnlistener_new(loop.base, { _, fd, address, length, context in
            guard let context else { return }
            let me = Unmanaged<Listener>.fromOpaque(context).takeUnretainedValue()
            me.onAccept(fd, Listener.describe(address, length))
        }, context, flags, 0, fd) else {  // 0: keep the backlog the fd was listened with
            Glibc.close(fd)
            throw EventLoopError("could not listen on \(address)")
        }
        self.listener = listener
        evconnlistener_set_error_cb(listener) { listener, context in
            // EMFILE and friends: keep listening; the next accept may succeed once fds free up.
            _ = listener
            _ = context
        }
    }

    deinit { close() }

    /// Stops accepting and closes the listening socket.
    public func close() {
        if let listener { evconnlistener_free(listener) }
        listener = nil
    }

    private static func describe(_ address: UnsafeMutablePointer<sockaddr>?, _ length: Int32) -> String {
        guard let address else { return "unknown" }
        return SocketAddress.describe(address, length: socklen_t(length))
    }
}
