import CPeriscopeBPF
import PeriscopeSystem
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

/// Turns successive reads of the L7 connection map (cumulative counters) into the figures of each window, and
/// writes them onto a report: per connection (``NodeKey/l7Server`` / ``NodeKey/l7Client`` on the connection node
/// whose client endpoint matches) and per process and protocol (``NodeKey/l7Prefix`` entries on the process node).
/// - Important: not thread-safe; owned by ``L7Tracer`` on the collection queue.
struct L7Windows {
    struct Key: Hashable {
        var sk: UInt64
        var tgid: UInt32
        var lport: UInt16
        var rport: UInt16
    }

    /// The cumulative counters of one map entry at the last read.
    struct Seen {
        var requests: UInt64 = 0, responses: UInt64 = 0, ok: UInt64 = 0, clientErrors: UInt64 = 0, serverErrors: UInt64 = 0
        var bytesIn: UInt64 = 0, bytesOut: UInt64 = 0
        var histogram: [UInt32] = []
        var changedAt: Double = 0
    }

    /// One connection side's figures for the last window.
    struct Side {
        var tgid: UInt32
        var server: Bool
        var tcp: Bool
        /// The client endpoint of the connection (address, port): how a report's connection node is found.
        var clientAddress: String
        var clientPort: UInt16
        var figures: L7Figures
    }

    static let protocolNames = ["unknown", "http", "http2", "tls", "postgres", "mysql", "redis", "dns"]
    /// An entry that has not moved for this long is read one last time and deleted from the kernel map.
    static let idleSeconds = 60.0

    struct ProcessKey: Hashable { var tgid: UInt32; var protocolName: String; var server: Bool }
    private var seen: [Key: Seen] = [:]
    /// Per process, protocol and side: the window's sum, with totals that survive the connections' expiry.
    private(set) var processes: [ProcessKey: L7Figures] = [:]
    private var processSeen: [ProcessKey: Double] = [:]
    private(set) var sides: [Side] = []
    private var lastRead: Double?

    var connectionCount: Int { seen.count }

    /// Windows counted from `start` (monotonic seconds: when the programs were attached).
    init(start: Double? = nil) { lastRead = start }

    /// Folds in one read of the map at `now` (seconds); returns the keys to delete from the kernel map.
    mutating func update(_ entries: UnsafeBufferPointer<psc_l7_entry>, now: Double) -> [psc_l7_key] {
        let window = max(0.001, now - (lastRead ?? now - 1))
        lastRead = now
        var next: [Key: Seen] = [:]
        next.reserveCapacity(entries.count)
        var out: [Side] = []
        var expired: [psc_l7_key] = []
        var read: [Read] = []
        read.reserveCapacity(entries.count)
        for entry in entries {
            let key = Key(sk: entry.key.sk, tgid: entry.key.tgid, lport: entry.key.lport, rport: entry.key.rport)
            var c = entry.conn
            let name = Int(c.protocol) < Self.protocolNames.count ? Self.protocolNames[Int(c.protocol)] : "unknown"
            var before = seen[key] ?? Seen()
            var current = Seen(requests: c.requests, responses: c.responses, ok: c.status.0, clientErrors: c.status.1,
                               serverErrors: c.status.2, bytesIn: c.bytes_in, bytesOut: c.bytes_out,
                               histogram: withUnsafeBytes(of: &c.hist) { Array($0.bindMemory(to: UInt32.self)) },
                               changedAt: before.changedAt)
            if current.requests < before.requests || current.responses < before.responses { before = Seen() }  // reused key
            // Every message the programs count moves a byte counter (they keep no clock of their own for it).
            if current.bytesIn != before.bytesIn || current.bytesOut != before.bytesOut { current.changedAt = now }
            var f = L7Figures(protocolName: name, seconds: window)
            f.requests = Int(current.requests - before.requests)
            f.responses = Int(current.responses - before.responses)
            f.clientErrors = Int(current.clientErrors &- before.clientErrors)
            f.serverErrors = Int(current.serverErrors &- before.serverErrors)
            f.bytesIn = Int(current.bytesIn &- before.bytesIn)
            f.bytesOut = Int(current.bytesOut &- before.bytesOut)
            for (b, n) in current.histogram.enumerated() where n > 0 {
                let old = b < before.histogram.count ? before.histogram[b] : 0
                if n > old { f.histogram[b] = Int(n - old) }
                f.totalHistogram[b] = Int(n)
            }
            f.totalRequests = Int(current.requests)
            f.totalResponses = Int(current.responses)
            f.totalErrors = Int(truncatingIfNeeded: current.clientErrors &+ current.serverErrors)
            if c.sni_len > 0 {
                let len = min(Int(c.sni_len), Int(PSC_L7_SNI_MAX))
                let name = withUnsafeBytes(of: &c.sni) { Array($0.prefix(len)) }
                f.sni = String(decoding: name.filter { Self.isHostnameByte($0) }, as: UTF8.self)
            }
            let family = Int32(c.family)
            let local = withUnsafeBytes(of: &c.laddr) { AddressText.format(family: family, bytes: $0) }
            let remote = withUnsafeBytes(of: &c.raddr) { AddressText.format(family: family, bytes: $0) }
            let server = c.role == UInt8(PSC_L7_ROLE_SERVER.rawValue)
            let tuple = server ? Tuple(client: remote, clientPort: c.rport, server: local, serverPort: c.lport)
                               : Tuple(client: local, clientPort: c.lport, server: remote, serverPort: c.rport)
            out.append(Side(tgid: c.tgid, server: server, tcp: c.l4 == UInt8(IPPROTO_TCP),
                            clientAddress: tuple.client, clientPort: tuple.clientPort, figures: f))
            if seen[key] == nil { current.changedAt = now }
            read.append(Read(key: key, entryKey: entry.key, current: current, known: seen[key] != nil,
                             tuple: tuple, mirrored: !server && c.peer == UInt8(PSC_L7_PEER_TRACED.rawValue)))
        }
        Self.mirror(&out, &read)
        for r in read {
            if r.known, now - r.current.changedAt > Self.idleSeconds {
                expired.append(r.entryKey)
            } else {
                next[r.key] = r.current
            }
        }
        seen = next
        sides = out
        var windowByProcess: [ProcessKey: L7Figures] = [:]
        for side in out {
            let key = ProcessKey(tgid: side.tgid, protocolName: side.figures.protocolName, server: side.server)
            var f = side.figures
            f.totalRequests = 0; f.totalResponses = 0; f.totalErrors = 0; f.totalHistogram = [:]
            windowByProcess[key, default: L7Figures(protocolName: f.protocolName, seconds: window)].add(f)
        }
        for (key, f) in windowByProcess {
            var p = processes[key] ?? L7Figures(protocolName: f.protocolName, seconds: window)
            let totals = (p.totalRequests + f.requests, p.totalResponses + f.responses, p.totalErrors + f.errors)
            var histogram = p.totalHistogram
            for (b, n) in f.histogram { histogram[b, default: 0] += n }
            p = f
            (p.totalRequests, p.totalResponses, p.totalErrors) = totals
            p.totalHistogram = histogram
            processes[key] = p
            processSeen[key] = now
        }
        for (key, var p) in processes where windowByProcess[key] == nil {
            if now - (processSeen[key] ?? now) > 600 { processes[key] = nil; processSeen[key] = nil; continue }
            p.seconds = window
            p.requests = 0; p.responses = 0; p.clientErrors = 0; p.serverErrors = 0; p.bytesIn = 0; p.bytesOut = 0
            p.histogram = [:]
            processes[key] = p
        }
        return expired
    }

    /// A TCP connection by its two ends, as both of its sides see it.
    struct Tuple: Hashable {
        var client: String, clientPort: UInt16, server: String, serverPort: UInt16
    }

    /// One entry of a map read, before its expiry is decided.
    struct Read {
        var key: Key
        var entryKey: psc_l7_key
        var current: Seen
        var known: Bool
        var tuple: Tuple
        /// A client side that stopped counting because the server side of its connection counts it
        /// (``PSC_L7_PEER_TRACED``, both ends on this host).
        var mirrored: Bool
    }

    /// Gives each mirrored client side (`read[i].mirrored`, `sides[i]`) the figures of its connection's server side:
    /// the programs count a local connection once, on the server's syscalls, so the client's row shows the server's
    /// counts and latency (which leaves out the client's own queueing). A mirrored entry counts as active while its
    /// server side is, so it is not expired under a busy connection.
    static func mirror(_ sides: inout [Side], _ read: inout [Read]) {
        guard read.contains(where: { $0.mirrored }) else { return }
        var servers: [Tuple: Int] = [:]
        for (i, side) in sides.enumerated() where side.server && side.tcp { servers[read[i].tuple] = i }
        for i in read.indices where read[i].mirrored {
            guard let j = servers[read[i].tuple] else { continue }
            sides[i].figures = sides[j].figures
            read[i].current.changedAt = max(read[i].current.changedAt, read[j].current.changedAt)
        }
    }

    /// Writes the last window onto `report`'s connection and process nodes.
    func annotate(_ report: inout Report) {
        guard !sides.isEmpty || !processes.isEmpty else { return }
        let stamp = SystemClock.realtime()
        struct EndpointKey: Hashable { var address: String; var port: UInt16 }
        var byClient: [EndpointKey: (server: L7Figures?, client: L7Figures?)] = [:]
        for side in sides {
            if side.tcp, side.clientPort != 0 {
                let key = EndpointKey(address: side.clientAddress, port: side.clientPort)
                var both = byClient[key] ?? (nil, nil)
                if side.server { both.server = side.figures } else { both.client = side.figures }
                byClient[key] = both
            }
        }
        var additions: [Node] = []
        for node in report.connections.nodes.values {
            guard let client = node.latest[NodeKey.client].flatMap(EndpointID.init),
                  let found = byClient[EndpointKey(address: client.address, port: client.port)] else { continue }
            var latest = LatestMap()
            if let s = found.server { latest.set(NodeKey.l7Server, s.text, at: stamp) }
            if let c = found.client { latest.set(NodeKey.l7Client, c.text, at: stamp) }
            additions.append(Node(id: node.id, topology: .connection, latest: latest))
        }
        var processByPid: [String: String] = [:]
        for node in report.processes.nodes.values {
            if let pid = node.latest[NodeKey.pid] { processByPid[pid] = node.id }
        }
        for (key, figures) in processes {
            guard let id = processByPid[String(key.tgid)] else { continue }
            var latest = LatestMap()
            latest.set(NodeKey.l7Prefix + figures.protocolName + ":" + (key.server ? "server" : "client"), figures.text,
                       at: stamp)
            additions.append(Node(id: id, topology: .process, latest: latest))
        }
        for node in additions { report.add(node) }
    }

    private static func isHostnameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x2e || b == 0x5f
    }
}
