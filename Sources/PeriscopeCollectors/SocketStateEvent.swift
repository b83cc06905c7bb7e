import CPeriscopeLinux
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

/// One TCP state change of one socket, from the kernel tracepoint `sock:inet_sock_set_state`
/// (delivered by ``SocketStateMonitor``).
///
/// The tracepoint is global: it fires for sockets of every network namespace on the host, and the
/// record does not say which namespace a socket belongs to, so the same address pair may appear from
/// different namespaces (containers).
public struct SocketStateEvent: Sendable, Hashable {
    /// When the kernel changed the state: seconds since the Unix epoch (the kernel's CLOCK_MONOTONIC
    /// stamp plus the realtime offset measured when the monitor started).
    public var timestamp: Double
    /// The process that owns the socket, or nil when unknown. Taken from the sample only for
    /// transitions the kernel makes in process context on behalf of the socket's user — `close →
    /// syn-sent` (connect), `close → listen` (listen), `established → fin-wait-1` and `close-wait →
    /// last-ack` (close/shutdown), and `→ close` from listen, syn-sent, syn-recv, established or
    /// close-wait when the sample's context flags show no interrupt/softirq (close with unread data,
    /// abort) — and then carried to the same socket's later transitions until it reaches `close`
    /// (so a connection's `syn-sent → established`, which runs in softirq, carries the connecting pid).
    /// Sockets created by accept() (born in softirq) stay nil until their owner closes them.
    /// Transitions in softirq/timer context would otherwise name whichever task was interrupted.
    public var pid: Int32?
    public var family: AddressFamily
    /// Always `.tcp` (the monitor drops the tracepoint's SCTP and MPTCP-level records).
    public var proto: TransportProtocol
    /// Canonical text as ``SocketRecord`` uses it (IPv4-mapped IPv6 in IPv4 form).
    public var localAddress: String
    /// The kernel sets `syn-sent` before choosing the ephemeral port; the monitor fills it in from the
    /// socket's next transition. 0 only when that did not come within 50 ms (a slow remote peer).
    public var localPort: UInt16
    public var remoteAddress: String
    public var remotePort: UInt16
    /// Lower-case state names as in ``SocketRecord/state`` (`"syn-sent"`, `"established"`, `"close"`, …).
    public var oldState: String
    public var newState: String

    public init(timestamp: Double, pid: Int32?, family: AddressFamily, proto: TransportProtocol,
                localAddress: String, localPort: UInt16, remoteAddress: String, remotePort: UInt16,
                oldState: String, newState: String) {
        self.timestamp = timestamp
        self.pid = pid
        self.family = family
        self.proto = proto
        self.localAddress = localAddress
        self.localPort = localPort
        self.remoteAddress = remoteAddress
        self.remotePort = remotePort
        self.oldState = oldState
        self.newState = newState
    }
}

/// Where this kernel puts the fields of `sock:inet_sock_set_state`, from its tracefs format file.
struct InetSockSetStateLayout: Sendable, Hashable {
    var socket, oldState, newState, sport, dport, family, proto: TracepointField
    var saddr, daddr, saddrV6, daddrV6: TracepointField
    /// `common_flags` (the ftrace context flags), used to tell process context from interrupts.
    var flags: TracepointField?

    /// Throws ``CollectorError`` (code `tracing`) naming the first field that is missing or has an
    /// unexpected size.
    init(fields: [String: TracepointField]) throws(CollectorError) {
        func field(_ name: String, sizes: Set<Int>) throws(CollectorError) -> TracepointField {
            guard let f = fields[name] else {
                throw CollectorError(.tracing, "inet_sock_set_state format has no field '\(name)'")
            }
            guard sizes.contains(f.size) else {
                throw CollectorError(.tracing, "inet_sock_set_state field '\(name)' has size \(f.size)")
            }
            return f
        }
        let integer: Set<Int> = [1, 2, 4, 8]
        socket = try field("skaddr", sizes: [4, 8])
        oldState = try field("oldstate", sizes: integer)
        newState = try field("newstate", sizes: integer)
        sport = try field("sport", sizes: [2])
        dport = try field("dport", sizes: [2])
        family = try field("family", sizes: integer)
        proto = try field("protocol", sizes: integer)
        saddr = try field("saddr", sizes: [4])
        daddr = try field("daddr", sizes: [4])
        saddrV6 = try field("saddr_v6", sizes: [16])
        daddrV6 = try field("daddr_v6", sizes: [16])
        flags = fields["common_flags"].flatMap { $0.size == 1 ? $0 : nil }
    }
}

/// Turns raw perf samples into ``SocketStateEvent``s. Owns an address-text cache.
/// - Important: not thread-safe; one per reader thread.
final class SocketStateDecoder {
    let layout: InetSockSetStateLayout
    /// CLOCK_REALTIME − CLOCK_MONOTONIC, nanoseconds.
    let realtimeOffsetNs: Int64
    private let names = AddressNames()

    init(layout: InetSockSetStateLayout, realtimeOffsetNs: Int64) {
        self.layout = layout
        self.realtimeOffsetNs = realtimeOffsetNs
    }

    /// The event in `sample` and the kernel address of its socket (an identity for the socket's
    /// lifetime), or nil when the payload is too short, not TCP, or not IPv4/IPv6.
    func decode(_ sample: psc_perf_sample) -> (socket: UInt64, event: SocketStateEvent)? {
        withUnsafeBytes(of: sample.raw) { all -> (socket: UInt64, event: SocketStateEvent)? in
            let raw = UnsafeRawBufferPointer(rebasing: all.prefix(Int(sample.copied)))
            let l = layout
            guard let socket = TracepointFormat.integer(l.socket, in: raw),
                  let family = TracepointFormat.integer(l.family, in: raw),
                  TracepointFormat.integer(l.proto, in: raw) == Int64(IPPROTO_TCP),
                  let old = TracepointFormat.integer(l.oldState, in: raw),
                  let new = TracepointFormat.integer(l.newState, in: raw),
                  let sport = TracepointFormat.integer(l.sport, in: raw),
                  let dport = TracepointFormat.integer(l.dport, in: raw) else { return nil }
            let v6 = family == Int64(AF_INET6)
            guard v6 || family == Int64(AF_INET),
                  let src = TracepointFormat.bytes(v6 ? l.saddrV6 : l.saddr, in: raw),
                  let dst = TracepointFormat.bytes(v6 ? l.daddrV6 : l.daddr, in: raw) else { return nil }
            let flags = l.flags.flatMap { TracepointFormat.integer($0, in: raw) }
            let trusted = Self.pidIsTrustworthy(old: old, new: new, flags: flags)
            let ns = realtimeOffsetNs &+ Int64(bitPattern: sample.time)
            return (UInt64(bitPattern: socket), SocketStateEvent(
                timestamp: Double(ns) / 1e9,
                pid: trusted ? Int32(bitPattern: sample.pid) : nil,
                family: v6 ? .ipv6 : .ipv4, proto: .tcp,
                localAddress: text(family: UInt8(truncatingIfNeeded: family), src), localPort: UInt16(truncatingIfNeeded: sport),
                remoteAddress: text(family: UInt8(truncatingIfNeeded: family), dst), remotePort: UInt16(truncatingIfNeeded: dport),
                oldState: Self.stateName(old), newState: Self.stateName(new)))
        }
    }

    private func text(family: UInt8, _ bytes: UnsafeRawBufferPointer) -> String {
        var tuple: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                    UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &tuple) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes.prefix(16))) }
        return names.text(family: family, bytes: tuple)
    }

    static func stateName(_ state: Int64) -> String {
        guard let small = UInt8(exactly: state) else { return "unknown-\(state)" }
        return SocketDiag.tcpStateName(small)
    }

    /// ftrace context flags: TRACE_FLAG_HARDIRQ 0x08, TRACE_FLAG_SOFTIRQ 0x10, TRACE_FLAG_NMI 0x40.
    static let interruptFlags: Int64 = 0x08 | 0x10 | 0x40

    /// Whether the sampled pid is the socket's user (see ``SocketStateEvent/pid``). TCP state numbers:
    /// 1 established, 2 syn-sent, 3 syn-recv, 4 fin-wait-1, 7 close, 8 close-wait, 9 last-ack, 10 listen.
    /// Without `flags` (a kernel whose format lacks common_flags) only the transitions that never run
    /// in softirq are trusted.
    static func pidIsTrustworthy(old: Int64, new: Int64, flags: Int64?) -> Bool {
        if let flags, flags & interruptFlags != 0 { return false }
        switch (old, new) {
        case (7, 2), (7, 10), (1, 4), (8, 9), (10, 7): return true
        case (2, 7), (3, 7), (1, 7), (8, 7): return flags != nil
        default: return false
        }
    }
}
