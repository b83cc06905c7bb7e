import PeriscopeSystem
import CPeriscopeTLS

/// Mutual TLS 1.3 on the loop: OpenSSL through libevent's `bufferevent_openssl`, so a TLS connection is an
/// ordinary ``Connection`` (same buffers, watermarks and close rules) whose bytes are encrypted.
///
/// Both roles present a certificate and verify the peer's against the CA file: a server refuses a client
/// without a certificate from that CA during the handshake. The peer's identity is the name in its verified
/// certificate (``peerCommonName(of:)``, ``peer(_:isNamed:)``).
///
/// - Important: create on any thread; ``accept(fd:peer:)``, ``connect(host:port:)`` and the peer queries on
///   the loop thread only.
public final class TLSContext {
    public enum Role: Sendable { case server, client }

    private let context: OpaquePointer
    private let loop: EventLoop
    public let role: Role

    /// Loads `certificate` (PEM chain), its `key` and the trusted `ca`; throws with OpenSSL's reason.
    public init(loop: EventLoop, role: Role, certificate: String, key: String, ca: String) throws {
        var error = [CChar](repeating: 0, count: 512)
        guard let context = periscope_tls_context_new(role == .server ? 1 : 0, certificate, key, ca, &error, error.count)
        else { throw EventLoopError("TLS: \(String(nulTerminated: error))") }
        self.context = context
        self.loop = loop
        self.role = role
    }

    deinit { periscope_tls_context_free(context) }

    /// Starts the server handshake on an accepted socket (takes ownership of `fd`).
    public func accept(fd: Int32, peer: String) throws -> Connection {
        guard let bev = periscope_tls_accept(UnsafeMutableRawPointer(loop.base), context, fd) else {
            throw EventLoopError("TLS: cannot set up a connection for \(peer)")
        }
        return Connection(loop: loop, bufferevent: OpaquePointer(bev), fd: fd, peer: peer)
    }

    /// Starts a non-blocking connect and client handshake to `host:port`; bytes written meanwhile are sent
    /// once the handshake is done. A refused connect or handshake closes the connection with a reason.
    public func connect(host: String, port: UInt16) throws -> Connection {
        var error = [CChar](repeating: 0, count: 512)
        var fd: Int32 = -1
        guard let bev = periscope_tls_connect(UnsafeMutableRawPointer(loop.base), context, host, Int32(port), &fd,
                                              &error, error.count)
        else { throw EventLoopError(String(nulTerminated: error)) }
        return Connection(loop: loop, bufferevent: OpaquePointer(bev), fd: fd, peer: "\(host):\(port)")
    }

    /// The common name of the peer's verified certificate (`nil` before the handshake or without one).
    public static func peerCommonName(of connection: Connection) -> String? {
        guard let bev = connection.bufferevent else { return nil }
        var name = [CChar](repeating: 0, count: 256)
        guard periscope_tls_peer_common_name(UnsafeMutableRawPointer(bev), &name, name.count) == 1 else { return nil }
        return String(nulTerminated: name)
    }

    /// Whether the peer's verified certificate names `name` (common name or a DNS subject alternative name).
    public static func peer(_ connection: Connection, isNamed name: String) -> Bool {
        guard let bev = connection.bufferevent else { return false }
        return periscope_tls_peer_names(UnsafeMutableRawPointer(bev), name) == 1
    }

    /// Decrypted bytes OpenSSL holds for the connection that have not reached its input buffer.
    public static func pendingBytes(of connection: Connection) -> Int {
        guard let bev = connection.bufferevent else { return 0 }
        return Int(periscope_tls_pending(UnsafeMutableRawPointer(bev)))
    }

    /// The last TLS error on the connection, if any (why a handshake failed).
    public static func lastError(of connection: Connection) -> String? {
        guard let bev = connection.bufferevent else { return nil }
        var message = [CChar](repeating: 0, count: 256)
        periscope_tls_last_error(UnsafeMutableRawPointer(bev), &message, message.count)
        let result = String(nulTerminated: message)
        return result.isEmpty ? nil : result
    }
}
