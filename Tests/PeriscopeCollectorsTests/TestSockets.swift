import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Real POSIX sockets for the tests (no mocks): listeners, connected pairs, UDP.
enum TestSockets {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func fail(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }

    /// A listening TCP socket on `address` (127.0.0.1 or ::1) with a kernel-chosen port.
    static func listen(_ address: String) throws -> (fd: Int32, port: UInt16) {
        let v6 = address.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw fail("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        try bind(fd, address: address, port: 0)
        guard Glibc.listen(fd, 16) == 0 else { throw fail("listen") }
        return (fd, try localPort(fd))
    }

    /// A UDP socket bound to `address` with a kernel-chosen port.
    static func udp(_ address: String) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(address.contains(":") ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw fail("socket") }
        try bind(fd, address: address, port: 0)
        return (fd, try localPort(fd))
    }

    /// Connects a client to `port` on `address` and accepts it on `listener`.
    static func connectPair(listener: Int32, address: String, port: UInt16) throws -> (client: Int32, server: Int32) {
        let v6 = address.contains(":")
        let client = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard client >= 0 else { throw fail("socket") }
        let rc = withSockaddr(address, port) { connect(client, $0, $1) }
        guard rc == 0 else { throw fail("connect") }
        let server = accept(listener, nil, nil)
        guard server >= 0 else { throw fail("accept") }
        _ = fcntl(server, F_SETFD, FD_CLOEXEC)
        // Move a few bytes both ways so tcp_info has bytes to report.
        let hello: [UInt8] = Array("hello".utf8)
        _ = write(client, hello, hello.count)
        _ = write(server, hello, hello.count)
        var buffer = [UInt8](repeating: 0, count: 16)
        _ = read(server, &buffer, 5)
        _ = read(client, &buffer, 5)
        return (client, server)
    }

    static func localPort(_ fd: Int32) throws -> UInt16 {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw fail("getsockname") }
        let family = storage.ss_family
        return withUnsafePointer(to: &storage) { ptr in
            if family == sa_family_t(AF_INET6) {
                return ptr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin6_port) }
            }
            return ptr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
    }

    private static func bind(_ fd: Int32, address: String, port: UInt16) throws {
        let rc = withSockaddr(address, port) { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else { throw fail("bind \(address)") }
    }

    private static func withSockaddr<R>(_ address: String, _ port: UInt16,
                                        _ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        if address.contains(":") {
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            inet_pton(AF_INET6, address, &sin6.sin6_addr)
            return withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
        var sin = sockaddr_in()
        sin.sin_family = sa_family_t(AF_INET)
        sin.sin_port = port.bigEndian
        inet_pton(AF_INET, address, &sin.sin_addr)
        return withUnsafePointer(to: &sin) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }
}
