import Glibc
import PeriscopeProtocol
import PeriscopeSystem

/// Why a client call failed without an answer from the daemon.
public struct ClientError: Error, Sendable, CustomStringConvertible {
    /// `untrusted`: the socket is served by a process of another user (not root, not us).
    public enum Kind: Sendable { case notRunning, untrusted, io, protocolViolation }
    public var kind: Kind
    public var message: String
    public var description: String { message }

    /// The shell client's exit code for this failure (README "Exit codes"): 69 when no daemon we
    /// may talk to is listening (none, or one run by another user), else 74 (I/O error).
    public var exitCode: Int32 { kind == .notRunning || kind == .untrusted ? 69 : 74 }

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
}

/// A small blocking JSON-RPC client over a Unix or TCP socket, with LSP framing.
///
/// Used by the shell client, the benchmark and tests. One thread at a time; notifications that
/// arrive while waiting for a response are queued for ``nextNotification(timeoutMillis:)``.
public final class RPCClient {
    public let fd: Int32
    private var decoder = FrameDecoder(mode: .headers)
    private var nextID: Int64 = 1
    private var queued: [(method: String, params: JSONValue?)] = []
    private var buffer = [UInt8](repeating: 0, count: 65536)
    private let parser = JSONParser(maxDepth: 512)

    /// Connects to the daemon's Unix socket at `path`, and checks (``PeerCredentials``) that the
    /// process serving it is root or this user before anything is sent.
    public init(socketPath path: String) throws {
        let fd: Int32
        switch SystemSocket.connectUnix(path) {
        case .success(let connected):
            fd = connected
        case .failure(let failure) where failure.code == ENOENT || failure.code == ECONNREFUSED:
            throw ClientError(.notRunning, "no daemon is listening on \(path) (start it with `periscoped`, or pass --socket / set PERISCOPE_SOCKET)")
        case .failure(let failure):
            throw ClientError(.io, failure.message)
        }
        do {
            try PeerCredentials.requireTrusted(fd: fd, path: path)
        } catch {
            close(fd)
            throw error
        }
        self.fd = fd
    }

    /// Connects to a daemon's TCP endpoint `host:port` (call ``initialize(clientName:token:)`` with the token next).
    public init(host: String, port: UInt16) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw ClientError(.io, "cannot resolve \(host)")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ClientError(.io, "socket: \(String(cString: strerror(errno)))") }
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let code = errno
            close(fd)
            throw ClientError(code == ECONNREFUSED ? .notRunning : .io, "cannot connect to \(host):\(port): \(String(cString: strerror(code)))")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Sends `initialize` (with `token` for TCP) and `initialized`; returns the server's result, or `nil` when it
    /// does not have the promised shape: the client needs nothing from it, so that is no reason to fail.
    @discardableResult
    public func initialize(clientName: String, token: String? = nil) throws -> InitializeResult? {
        let raw = try call(InitializeRequest.method, InitializeRequest.Params(clientName: clientName, token: token).json)
        try notify(InitializedNotification())
        return try? InitializeResult(json: raw)
    }

    /// Sends request `M` and decodes its result. Throws ``RPCError`` for an error response, and ``ClientError``
    /// (`protocolViolation`) for a result without the shape `M` promises.
    public func call<M: RPCMethod>(_ method: M.Type, _ params: M.Params) throws -> M.Result {
        let raw = try call(M.method, params.json)
        do throws(MalformedResult) {
            return try M.Result(json: raw)
        } catch {
            throw ClientError(.protocolViolation, "bad \(M.method) result from daemon: \(error.message)")
        }
    }

    /// Sends request `M`, which takes no params, and decodes its result.
    public func call<M: RPCMethod>(_ method: M.Type) throws -> M.Result where M.Params == NoParams {
        try call(method, NoParams())
    }

    /// Sends a request by name (`periscope call`, tests of malformed input) and waits for its response.
    /// Throws ``RPCError`` for an error response.
    public func call(_ method: String, _ params: JSONValue? = nil) throws -> JSONValue {
        let id = nextID
        nextID += 1
        try send(Message.request(id: .number(id), method: method, params: params).json)
        while true {
            let message = try readMessage()
            switch message {
            case .response(let responseID, let result) where responseID == .number(id) || responseID == nil:
                return try result.get()
            case .notification(let method, let params):
                queued.append((method, params))
            default:
                continue
            }
        }
    }

    /// Sends a notification of the protocol.
    public func notify<N: RPCNotification>(_ notification: N) throws {
        try send(notification.message.json)
    }

    /// The next notification from the daemon, waiting up to `timeoutMillis` (`nil` on timeout; -1 waits forever).
    /// Never blocks past the timeout, even while a message arrives in pieces.
    public func nextNotification(timeoutMillis: Int32 = -1) throws -> (method: String, params: JSONValue?)? {
        let deadline = timeoutMillis < 0 ? nil : Int64(SystemClock.monotonicMillis()) + Int64(timeoutMillis)
        while queued.isEmpty {
            if let message = try bufferedMessage() {
                if case .notification(let method, let params) = message { queued.append((method, params)) }
                continue
            }
            let wait = deadline.map { Int32(clamping: max(0, $0 - Int64(SystemClock.monotonicMillis()))) } ?? -1
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, wait)
            if ready < 0, errno == EINTR { continue }
            if ready < 0 { throw ClientError(.io, "poll failed: \(String(cString: strerror(errno)))") }
            if ready == 0 { return nil }
            try fill()
        }
        return queued.removeFirst()
    }

    /// Writes one framed message.
    public func send(_ message: JSONValue) throws {
        try writeAll(FrameEncoder.frame(message, mode: .headers))
    }

    /// Writes raw bytes (tests use it to send malformed input).
    public func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { throw ClientError(.io, "write failed: \(String(cString: strerror(errno)))") }
            offset += written
        }
    }

    /// Reads the next complete message.
    public func readMessage() throws -> Message {
        while true {
            if let message = try bufferedMessage() { return message }
            try fill()
        }
    }

    /// The next whole message already received, if any; never reads.
    private func bufferedMessage() throws -> Message? {
        let body: [UInt8]?
        do { body = try decoder.next() } catch { throw ClientError(.protocolViolation, "bad framing from daemon: \(error)") }
        guard let body else { return nil }
        let value: JSONValue
        do { value = try parser.parse(body) } catch { throw ClientError(.protocolViolation, "bad JSON from daemon: \(error)") }
        switch Message.decode(value) {
        case .success(let message): return message
        case .failure(let failure): throw ClientError(.protocolViolation, "bad message from daemon: \(failure.error.message)")
        }
    }

    /// One `read` into the decoder (blocks until some bytes arrive).
    private func fill() throws {
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw ClientError(.io, "the daemon closed the connection") }
            buffer.withUnsafeBytes { decoder.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
            return
        }
    }
}
