import Glibc

/// Who serves a connected Unix socket, from the kernel (`SO_PEERCRED`), and the rule for trusting it.
///
/// A socket path is only as trustworthy as its directory: if another user could put their own socket
/// there, a client would hand them its requests and believe their answers. So before sending anything
/// a client checks that the process on the other end runs as root or as the client's own user.
public enum PeerCredentials {
    /// The peer's pid and uid of the connected Unix socket `fd`, or nil when the kernel will not say.
    public static func peer(of fd: Int32) -> (pid: Int32, uid: UInt32)? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } — three 32-bit fields on Linux.
        var fields: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: fields))
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &fields, &length) == 0,
              Int(length) == MemoryLayout.size(ofValue: fields) else { return nil }
        return (fields.0, fields.1)
    }

    /// Whether a peer running as `uid` may be talked to: root, or the user we run as.
    public static func isTrusted(uid: UInt32) -> Bool {
        uid == 0 || uid == getuid() || uid == geteuid()
    }

    /// Throws ``ClientError`` (kind `untrusted`) unless the peer of `fd`, connected to `path`, is trusted.
    public static func requireTrusted(fd: Int32, path: String) throws {
        guard let peer = peer(of: fd) else {
            throw ClientError(.io, "cannot tell who serves \(path): \(String(cString: strerror(errno)))")
        }
        guard isTrusted(uid: peer.uid) else {
            throw ClientError(.untrusted, "refusing to talk to \(path): it is served by uid \(peer.uid) (pid \(peer.pid)), "
                + "not by root or this user (uid \(geteuid())) — another user may be impersonating the daemon")
        }
    }
}
