/// The listening sockets of one snapshot, for deciding connection direction.
///
/// A TCP socket in state `listen`, or an unconnected UDP socket bound to a port, is a listener. A local
/// `address:port` matches a listener of the same namespace, protocol and port whose address is the same or a
/// wildcard: `0.0.0.0` matches any IPv4 address, `::` matches any address (a dual-stack socket also accepts
/// IPv4; whether `IPV6_V6ONLY` is set is not visible to sock_diag).
struct ListenerIndex: Sendable, Equatable {
    struct Key: Hashable, Sendable {
        var netns: UInt64
        var proto: TransportProtocol
        var port: UInt16
    }

    struct Listener: Sendable, Equatable {
        var address: String
        var pid: Int32?
    }

    private var listeners: [Key: [Listener]] = [:]

    /// Whether `socket` is a listener under the rule above.
    static func isListener(_ socket: SocketRecord) -> Bool {
        switch socket.proto {
        case .tcp: return socket.state == "listen"
        case .udp: return socket.localPort != 0 && (socket.state == "unconnected" || socket.remotePort == 0)
        }
    }

    init() {}

    /// The keys whose listeners differ between `self` and `other`.
    func changedKeys(comparedWith other: ListenerIndex) -> Set<Key> {
        var changed: Set<Key> = []
        for (key, list) in listeners where other.listeners[key] != list { changed.insert(key) }
        for key in other.listeners.keys where listeners[key] == nil { changed.insert(key) }
        return changed
    }

    init(_ sockets: [SocketRecord]) {
        for socket in sockets where Self.isListener(socket) {
            let key = Key(netns: socket.netns, proto: socket.proto, port: socket.localPort)
            listeners[key, default: []].append(Listener(address: socket.localAddress, pid: socket.pid))
        }
        // Deterministic choice when several processes listen (SO_REUSEPORT): lowest pid first, exact
        // addresses before wildcards is handled in `match`.
        for key in listeners.keys {
            listeners[key]?.sort { ($0.pid ?? Int32.max, $0.address) < ($1.pid ?? Int32.max, $1.address) }
        }
    }

    /// The listener that `address:port` in `netns` belongs to, if any.
    func match(netns: UInt64, proto: TransportProtocol, address: String, port: UInt16) -> Listener? {
        guard let candidates = listeners[Key(netns: netns, proto: proto, port: port)] else { return nil }
        if let exact = candidates.first(where: { $0.address == address }) { return exact }
        let isIPv4 = !address.contains(":")
        if isIPv4, let any4 = candidates.first(where: { $0.address == "0.0.0.0" }) { return any4 }
        return candidates.first(where: { $0.address == "::" })
    }
}
