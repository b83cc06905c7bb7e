import CPeriscopeLinux
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

/// Lists inet sockets and interface addresses of one network namespace over netlink
/// (`SOCK_DIAG_BY_FAMILY` with `inet_diag_req_v2`, and `RTM_GETLINK`/`RTM_GETADDR`). Stateless; call
/// from the collector's worker thread.
enum SocketDiag {
    /// Every TCP state but `time-wait`: a `time-wait` socket has no inode and no owner and is part of no
    /// connection in the topology, and a host can hold tens of thousands of them for 60 s each; the kernel
    /// skips them by this mask without formatting a message.
    static let dumpedStates = UInt32(PSC_ALL_STATES) & ~(UInt32(1) << 6)

    /// TCP and (optionally) UDP sockets of both families, every state but `time-wait`, `tcp_info` for TCP
    /// when `tcpInfo`.
    /// Appends to `records`. Throws when a dump fails (the caller then discards the netlink socket).
    static func sockets(into records: inout [SocketRecord], diagFD: Int32, netns: UInt64, includeUDP: Bool,
                        tcpInfo: Bool = true, names: AddressNames) throws(CollectorError) {
        var list = psc_sock_list()
        defer { psc_sock_list_free(&list) }
        var requests: [(UInt8, UInt8)] = [(UInt8(AF_INET), UInt8(IPPROTO_TCP)), (UInt8(AF_INET6), UInt8(IPPROTO_TCP))]
        if includeUDP {
            requests += [(UInt8(AF_INET), UInt8(IPPROTO_UDP)), (UInt8(AF_INET6), UInt8(IPPROTO_UDP))]
        }
        for (family, proto) in requests {
            let rc = psc_sockdiag_dump(diagFD, family, proto, dumpedStates, proto == UInt8(IPPROTO_TCP) && tcpInfo ? 1 : 0,
                                       &list)
            // A kernel without UDP diag support answers ENOENT: not an error for the pass.
            if rc < 0 && !(proto == UInt8(IPPROTO_UDP) && -rc == ENOENT) {
                throw CollectorError(.netlink, "sock_diag dump in netns \(netns): \(NamespaceSockets.describe(-rc))")
            }
        }
        records.reserveCapacity(records.count + list.count)
        guard let items = list.items else { return }
        for i in 0..<list.count {
            records.append(record(items[i], netns: netns, names: names))
        }
    }

    /// States whose sockets are part of a connection (what a counters-only update samples): every dumped state
    /// but `listen` and `close`.
    static let connectedStates = dumpedStates & ~(UInt32(1) << 10) & ~(UInt32(1) << 7)

    /// The `tcp_info` counters of every connected TCP socket of the namespace (both families), appended to
    /// `out`. No address text is made: sockets are told apart by inode. Throws when a dump fails.
    static func counters(into out: inout [CounterSample.Socket], diagFD: Int32, netns: UInt64) throws(CollectorError) {
        var list = psc_sock_list()
        defer { psc_sock_list_free(&list) }
        for family in [UInt8(AF_INET), UInt8(AF_INET6)] {
            let rc = psc_sockdiag_dump(diagFD, family, UInt8(IPPROTO_TCP), connectedStates, 1, &list)
            if rc < 0 { throw CollectorError(.netlink, "sock_diag dump in netns \(netns): \(NamespaceSockets.describe(-rc))") }
        }
        guard let items = list.items else { return }
        out.reserveCapacity(out.count + list.count)
        for i in 0..<list.count where items[i].has_info != 0 && items[i].inode != 0 {
            out.append(.init(inode: items[i].inode, netns: netns, info: tcpInfo(items[i])))
        }
    }

    /// The counters and RTT of a dumped TCP socket that has `tcp_info`.
    static func tcpInfo(_ s: psc_sock) -> TCPInfoRecord {
        TCPInfoRecord(rttMicros: s.rtt_us, rttVarMicros: s.rttvar_us, bytesSent: s.bytes_acked,
                      bytesReceived: s.bytes_received, retransmits: s.total_retrans)
    }

    static func record(_ s: psc_sock, netns: UInt64, names: AddressNames) -> SocketRecord {
        let family = Int32(s.family)
        let isTCP = s.protocol == UInt8(IPPROTO_TCP)
        let local = names.text(family: s.family, bytes: s.src)
        let remote = names.text(family: s.family, bytes: s.dst)
        let state = isTCP ? tcpStateName(s.state) : (s.state == 1 ? "established" : "unconnected")
        var record = SocketRecord(
            proto: isTCP ? .tcp : .udp, family: family == AF_INET ? .ipv4 : .ipv6, state: state,
            localAddress: local, localPort: s.sport, remoteAddress: remote, remotePort: s.dport,
            inode: s.inode, uid: s.uid, netns: netns)
        if isTCP, s.has_info != 0, state != "listen", state != "close" {
            record.tcpInfo = tcpInfo(s)
        }
        return record
    }

    /// Kernel `TCP_*` state number → the lower-case names of ``SocketRecord/state``.
    static func tcpStateName(_ state: UInt8) -> String {
        switch state {
        case 1: "established"
        case 2: "syn-sent"
        case 3: "syn-recv"
        case 4: "fin-wait-1"
        case 5: "fin-wait-2"
        case 6: "time-wait"
        case 7: "close"
        case 8: "close-wait"
        case 9: "last-ack"
        case 10: "listen"
        case 11: "closing"
        case 12: "new-syn-recv"
        default: "unknown-\(state)"
        }
    }

    /// Interface addresses of the namespace the route socket belongs to.
    static func addresses(routeFD: Int32, netns: UInt64) throws(CollectorError) -> [InterfaceAddress] {
        var list = psc_addr_list()
        defer { psc_addr_list_free(&list) }
        let rc = psc_route_dump_addrs(routeFD, &list)
        guard rc == 0 else {
            throw CollectorError(.netlink, "RTM_GETADDR in netns \(netns): \(NamespaceSockets.describe(-rc))")
        }
        var out: [InterfaceAddress] = []
        guard let items = list.items else { return out }
        for i in 0..<list.count {
            let a = items[i]
            let address = withUnsafeBytes(of: a.addr) { AddressText.format(family: Int32(a.family), bytes: $0) }
            let name = withUnsafeBytes(of: a.name) { raw -> String in
                let bytes = raw.prefix { $0 != 0 }
                return TextDecoding.escaped(UnsafeRawBufferPointer(rebasing: bytes))
            }
            out.append(InterfaceAddress(interface: name.isEmpty ? "if\(a.ifindex)" : name, address: address,
                                        prefixLength: Int(a.prefixlen), netns: netns))
        }
        return out
    }
}

/// Memoized address text: a host with 20,000 sockets has few distinct addresses, and formatting each one
/// every pass would cost more than the kernel dump. Bounded; cleared when it grows past `limit`.
/// - Important: not thread-safe; owned by ``HostCollector``.
final class AddressNames {
    private struct Key: Hashable {
        var family: UInt8
        var high: UInt64
        var low: UInt64
    }

    private var table: [Key: String] = [:]
    private let limit = 65_536

    /// Text of a raw address as ``AddressText/format(family:bytes:)`` gives it.
    func text(family: UInt8, bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) -> String {
        let key = withUnsafeBytes(of: bytes) { raw in
            Key(family: family, high: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                low: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
        if let known = table[key] { return known }
        let text = withUnsafeBytes(of: bytes) { AddressText.format(family: Int32(family), bytes: $0) }
        if table.count >= limit { table.removeAll(keepingCapacity: true) }
        table[key] = text
        return text
    }
}
