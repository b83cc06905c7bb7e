import CPeriscopeLinux
#if canImport(Glibc)
import Glibc
#endif

/// Netlink sockets (sock_diag and rtnetlink) per network namespace, opened once and reused across passes.
///
/// A netlink socket stays bound to the namespace it was created in, so sockets for foreign namespaces are
/// created by a private, short-lived pthread that `setns()`es and exits (see `psc_netlink_open_in_netns`);
/// the collector's own thread never changes namespace. Sockets of namespaces that no longer have a process
/// are closed by ``retain(only:)``.
/// - Important: not thread-safe; owned by ``HostCollector``.
final class NamespaceSockets {
    struct Pair {
        var diag: Int32
        var route: Int32
    }

    private var pairs: [UInt64: Pair] = [:]
    private let procRoot: String
    /// The namespace the collector's thread runs in (sockets for it are opened directly).
    let ownNetns: UInt64

    init(procRoot: String) {
        self.procRoot = procRoot
        var st = stat()
        if stat("\(procRoot)/thread-self/ns/net", &st) == 0 || stat("\(procRoot)/self/ns/net", &st) == 0 {
            ownNetns = UInt64(st.st_ino)
        } else {
            ownNetns = 0
        }
    }

    deinit {
        for pair in pairs.values { closePair(pair) }
    }

    /// The sockets for `netns`, opening them through `/proc/<viaPid>/ns/net` when needed.
    /// Throws a ``CollectorError`` when the namespace cannot be entered (e.g. not root).
    func sockets(for netns: UInt64, viaPid pid: Int32) throws(CollectorError) -> Pair {
        if let pair = pairs[netns] { return pair }
        let diag: Int32
        let route: Int32
        if netns == ownNetns || netns == 0 {
            diag = psc_netlink_open(Int32(PSC_NETLINK_SOCK_DIAG))
            route = psc_netlink_open(Int32(PSC_NETLINK_ROUTE))
        } else {
            let nsfd = try open(netns, viaPid: pid)
            defer { close(nsfd) }
            diag = psc_netlink_open_in_netns(nsfd, Int32(PSC_NETLINK_SOCK_DIAG))
            route = diag >= 0 ? psc_netlink_open_in_netns(nsfd, Int32(PSC_NETLINK_ROUTE)) : -1
        }
        guard diag >= 0, route >= 0 else {
            let code = diag < 0 ? -diag : -route
            if diag >= 0 { close(diag) }
            if route >= 0 { close(route) }
            throw CollectorError(.namespace, "netlink socket in netns \(netns): \(Self.describe(code))")
        }
        let pair = Pair(diag: diag, route: route)
        pairs[netns] = pair
        return pair
    }

    /// `/proc/<pid>/ns/net` opened (the caller closes it), checked to still be namespace `netns`.
    func open(_ netns: UInt64, viaPid pid: Int32) throws(CollectorError) -> Int32 {
        let nsfd = Glibc.open("\(procRoot)/\(pid)/ns/net", O_RDONLY | O_CLOEXEC)
        guard nsfd >= 0 else {
            throw CollectorError(.namespace, "cannot open \(procRoot)/\(pid)/ns/net: \(Self.describe(errno))")
        }
        // The namespace may have changed under the pid; check it is still the one asked for.
        var st = stat()
        guard fstat(nsfd, &st) == 0, UInt64(st.st_ino) == netns else {
            close(nsfd)
            throw CollectorError(.namespace, "namespace of pid \(pid) changed")
        }
        return nsfd
    }

    /// The sockets already open for `netns`, if any (no namespace is entered).
    func cached(_ netns: UInt64) -> Pair? { pairs[netns] }

    /// Closes and forgets the sockets of `netns` (after an error, so the next pass starts clean).
    func discard(_ netns: UInt64) {
        if let pair = pairs.removeValue(forKey: netns) { closePair(pair) }
    }

    /// Closes the sockets of every namespace not in `live`.
    func retain(only live: Set<UInt64>) {
        for key in pairs.keys where !live.contains(key) { discard(key) }
    }

    private func closePair(_ pair: Pair) {
        close(pair.diag)
        close(pair.route)
    }

    static func describe(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
