import Glibc
import PeriscopeSystem

/// Creating listening sockets and formatting socket addresses. Plain POSIX; any thread.
public enum SocketAddress {
    /// `ip:port` (IPv6 as `[ip]:port`), or `unix` for Unix-domain peers.
    public static func describe(_ address: UnsafePointer<sockaddr>, length: socklen_t) -> String {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var addr = sin.pointee.sin_addr
                var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                return "\(String(nulTerminated: text)):\(UInt16(bigEndian: sin.pointee.sin_port))"
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                var addr = sin6.pointee.sin6_addr
                var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                inet_ntop(AF_INET6, &addr, &text, socklen_t(text.count))
                return "[\(String(nulTerminated: text))]:\(UInt16(bigEndian: sin6.pointee.sin6_port))"
            }
        case AF_UNIX:
            return "unix"
        default:
            return "unknown"
        }
    }

    /// Splits `host:port` (or `[v6]:port`) into its parts.
    public static func splitHostPort(_ text: String) throws -> (host: String, port: UInt16) {
        guard let colon = text.lastIndex(of: ":") else {
            throw EventLoopError("expected HOST:PORT, got '\(text)'")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText) else { throw EventLoopError("invalid port in '\(text)'") }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host.isEmpty { host = "127.0.0.1" }
        return (host, port)
    }

    /// Creates a bound, listening TCP socket on `host:port`. Returns the fd and the bound port.
    public static func listenTCP(host: String, port: UInt16, backlog: Int32 = 1024) throws -> (fd: Int32, port: UInt16) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var result: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &result)
        guard status == 0, let info = result else {
            throw EventLoopError("cannot resolve '\(host)': \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw EventLoopError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw EventLoopError("cannot bind \(host):\(port): \(message)")
        }
        guard listen(fd, backlog) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw EventLoopError("listen: \(message)")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let boundPort: UInt16 = withUnsafeMutablePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                guard getsockname(fd, sa, &length) == 0 else { return port }
                if Int32(sa.pointee.sa_family) == AF_INET6 {
                    return sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
                }
                return sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
            }
        }
        return (fd, boundPort)
    }

    /// Fills a `sockaddr_un` for `path`; throws when the path does not fit.
    public static func unixAddress(_ path: String) throws -> sockaddr_un {
        guard let address = SystemSocket.unixAddress(path) else {
            throw EventLoopError("socket path is longer than 107 bytes: \(path)")
        }
        return address
    }

    /// Tries to connect to the Unix socket `path` and hangs up at once: 0 when something accepts, else
    /// the `connect()` errno (ECONNREFUSED: nobody listens; ENOENT: no file).
    private static func connectFailure(_ path: String) throws -> Int32 {
        switch SystemSocket.connectUnix(path) {
        case .success(let fd):
            close(fd)
            return 0
        case .failure(let failure) where failure.code == ENAMETOOLONG:
            throw EventLoopError(failure.message)
        case .failure(let failure):
            return failure.code
        }
    }

    /// Creates a listening Unix-domain socket at `path`, owner-only (mode 0600).
    ///
    /// A socket file left by a crashed daemon (nothing accepts on it) is replaced; a live one is not
    /// stolen: that throws, naming the path. A path that exists and is not a socket is never removed.
    public static func listenUnix(path: String, backlog: Int32 = 1024) throws -> Int32 {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw EventLoopError("\(path) exists and is not a socket; refusing to replace it")
            }
            let failure = try connectFailure(path)
            if failure == 0 { throw EventLoopError("another daemon is already serving \(path)") }
            guard failure == ECONNREFUSED || failure == ENOENT else {
                throw EventLoopError("cannot connect to \(path): \(String(cString: strerror(failure)))")
            }
            unlink(path)  // stale: nobody is listening
        }
        // Bind and listen under a temporary name, then rename into place: a client that sees the path
        // can always connect (no window between bind and listen), and the mode is set before anyone can.
        let temporary = path + ".\(getpid()).tmp"
        unlink(temporary)
        var address = try unixAddress(temporary)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw EventLoopError("socket: \(String(cString: strerror(errno)))") }
        let previousMask = umask(0o177)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        umask(previousMask)
        guard bound == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw EventLoopError("cannot bind \(path): \(message)")
        }
        chmod(temporary, 0o600)
        guard listen(fd, backlog) == 0, rename(temporary, path) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            unlink(temporary)
            throw EventLoopError("listen on \(path): \(message)")
        }
        return fd
    }
}
