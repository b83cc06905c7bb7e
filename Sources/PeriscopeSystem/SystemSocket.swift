#if canImport(Glibc)
import Glibc
#endif

/// Why a Unix-socket connect failed: the `errno` and a message naming the path.
public struct SystemSocketError: Error, Sendable {
    public var code: Int32
    public var message: String
}

/// Unix-domain socket plumbing shared by the daemon (its stale-socket check, its listener), the
/// container-engine client and the shell client. Stateless; any thread.
public enum SystemSocket {
    /// A `sockaddr_un` for `path`, or `nil` when the path does not fit (108 bytes with its NUL).
    public static func unixAddress(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (n, byte) in bytes.enumerated() { raw[n] = byte }
            raw[bytes.count] = 0
        }
        return address
    }

    /// A new close-on-exec stream socket connected to the Unix socket at `path`; `prepare` runs on the
    /// socket before `connect` (timeouts). The caller owns the descriptor.
    public static func connectUnix(_ path: String, prepare: (Int32) -> Void = { _ in }) -> Result<Int32, SystemSocketError> {
        guard var address = unixAddress(path) else {
            return .failure(SystemSocketError(code: ENAMETOOLONG, message: "socket path too long: \(path)"))
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            return .failure(SystemSocketError(code: errno, message: "socket: \(String(cString: strerror(errno)))"))
        }
        prepare(fd)
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else {
            let code = errno
            close(fd)
            return .failure(SystemSocketError(code: code, message: "cannot connect to \(path): \(String(cString: strerror(code)))"))
        }
        return .success(fd)
    }
}
