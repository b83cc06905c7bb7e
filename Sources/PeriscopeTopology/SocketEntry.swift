/// Where ``TopologyEngine`` files a socket: its namespace, inode and ports (duplicates chain on
/// ``SocketEntry/next``). The ports matter for sockets without an inode (`time-wait`, orphaned `fin-wait-2`,
/// not yet accepted): they all have inode 0, and 10,000 of them in one chain made every pass quadratic.
struct SocketKey: Hashable {
    var netns: UInt64
    var inode: UInt64
    var localPort: UInt16
    var remotePort: UInt16

    init(_ s: SocketRecord) {
        netns = s.netns
        inode = s.inode
        localPort = s.localPort
        remotePort = s.remotePort
    }
}

/// One socket of the last snapshot and everything derived from it, so that a socket that is still there one
/// snapshot later (same identity; only its `tcp_info` counters moved) costs a lookup and no string work.
final class SocketEntry {
    enum Role { case listener, connected, other }

    /// The socket as first seen (its `tcpInfo` is not used: the current snapshot's is).
    let record: SocketRecord
    /// The latest `tcp_info` counters folded for this socket (full pass or counters-only update).
    var info: TCPInfoRecord?
    let localIP: IPAddress?
    let remoteIP: IPAddress?
    let role: Role
    /// The pass that last saw this socket.
    var generation: Int
    /// Another socket filed under the same key (same inode and namespace, different identity or a duplicate).
    var next: SocketEntry?

    // Derived for connected sockets (see `TopologyEngine.derive`); `nil` until derived.
    var local: EndpointState?
    var remote: EndpointState?
    var connection: ConnectionState?
    var inbound = false
    var localProcess: String?
    var serverProcess: String?

    init(_ socket: SocketRecord, generation: Int) {
        var record = socket
        record.tcpInfo = nil
        self.record = record
        self.generation = generation
        localIP = IPAddress(socket.localAddress)
        let remote = IPAddress(socket.remoteAddress)
        remoteIP = remote
        if ListenerIndex.isListener(socket) {
            role = .listener
        } else if socket.remotePort != 0, socket.state != "listen", socket.state != "unconnected",
                  socket.state != "time-wait", socket.state != "close", !(remote?.isUnspecified ?? false) {
            // A socket with a peer whose connection is not over (`time-wait` and `close` are closed).
            role = .connected
        } else {
            role = .other
        }
    }

    var isDerived: Bool { connection != nil }

    /// Whether `socket` is this socket: every field that the topology reads, except the `tcp_info` counters.
    func matches(_ s: SocketRecord) -> Bool {
        let r = record
        return r.inode == s.inode && r.netns == s.netns && r.localPort == s.localPort && r.remotePort == s.remotePort
            && r.proto == s.proto && r.pid == s.pid && r.state == s.state && r.localAddress == s.localAddress
            && r.remoteAddress == s.remoteAddress
    }
}
