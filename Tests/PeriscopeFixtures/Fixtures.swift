import PeriscopeTopology

/// Shared by the topology and view tests.
/// Hand-made snapshots of host `h1` (root netns 1, a second netns 2 reached over a veth pair).
public enum Fixtures {
    public static let rootNS: UInt64 = 1
    public static let otherNS: UInt64 = 2

    public static func process(_ pid: Int32, _ name: String, netns: UInt64 = rootNS, cpu: Double = 1, rss: UInt64 = 1_000_000,
                        exe: String? = nil) -> ProcessRecord {
        ProcessRecord(pid: pid, ppid: 1, name: name, command: "\(name) --serve", executable: exe ?? "/usr/bin/\(name)",
                      cwd: "/", uid: 1000, user: "alice", cpuPercent: cpu, rssBytes: rss, netns: netns)
    }

    public static func listen(_ addr: String, _ port: UInt16, pid: Int32, proto: TransportProtocol = .tcp,
                       netns: UInt64 = rootNS, inode: UInt64 = 0) -> SocketRecord {
        SocketRecord(proto: proto, family: addr.contains(":") ? .ipv6 : .ipv4,
                     state: proto == .tcp ? "listen" : "unconnected", localAddress: addr, localPort: port,
                     remoteAddress: addr.contains(":") ? "::" : "0.0.0.0", remotePort: 0, inode: inode, uid: 1000,
                     netns: netns, pid: pid)
    }

    public static func conn(_ local: String, _ lport: UInt16, _ remote: String, _ rport: UInt16, pid: Int32?,
                     proto: TransportProtocol = .tcp, netns: UInt64 = rootNS, sent: UInt64? = nil,
                     received: UInt64 = 0, rttMicros: UInt32 = 500) -> SocketRecord {
        SocketRecord(proto: proto, family: local.contains(":") ? .ipv6 : .ipv4, state: "established",
                     localAddress: local, localPort: lport, remoteAddress: remote, remotePort: rport,
                     inode: UInt64(lport), uid: 1000, netns: netns, pid: pid,
                     tcpInfo: sent.map { TCPInfoRecord(rttMicros: rttMicros, rttVarMicros: 10, bytesSent: $0,
                                                        bytesReceived: received, retransmits: 0) })
    }

    public static func host(_ name: String = "h1", addresses: [InterfaceAddress]) -> HostRecord {
        HostRecord(hostname: name, os: "Debian", kernel: "6.18", cpuCount: 2, cpuPercent: 12,
                   memoryTotalBytes: 4_000, memoryAvailableBytes: 1_000, load1: 0.5, addresses: addresses)
    }

    public static let h1Addresses = [
        InterfaceAddress(interface: "lo", address: "127.0.0.1", prefixLength: 8, netns: rootNS),
        InterfaceAddress(interface: "lo", address: "::1", prefixLength: 128, netns: rootNS),
        InterfaceAddress(interface: "eth0", address: "192.168.1.10", prefixLength: 24, netns: rootNS),
        InterfaceAddress(interface: "veth0", address: "10.200.0.1", prefixLength: 24, netns: rootNS),
        InterfaceAddress(interface: "lo", address: "127.0.0.1", prefixLength: 8, netns: otherNS),
        InterfaceAddress(interface: "veth1", address: "10.200.0.2", prefixLength: 24, netns: otherNS),
    ]

    /// The scenario every view test uses:
    /// - `server` (100) listens on 0.0.0.0:8080; clients `curl` (200, loopback), `client` 300 and 301 (netns 2,
    ///   over the veth); an Internet peer 203.0.113.7 connects to it over eth0.
    /// - `dns` (400) has an unconnected UDP socket on 0.0.0.0:5353; `resolver` (401) sends to it (connected UDP).
    /// - `v6srv` (500) listens on [::]:9000; `v6cli` (501) connects over ::1.
    /// - `app` (600) talks to a private peer 192.168.1.20:5432 and a public one 93.184.216.34:443.
    /// - `highsrv` (700) listens on 60000; `lowcli` (701) connects from port 1000 (lower than the server's).
    /// - `idle` (800) has no sockets.
    public static func scenario(t: Double = 100, includeCurl: Bool = true, bytes: UInt64 = 1_000) -> HostSnapshot {
        var processes = [
            process(100, "server", cpu: 60), process(300, "client", netns: otherNS),
            process(301, "client", netns: otherNS), process(400, "dns"), process(401, "resolver"),
            process(500, "v6srv"), process(501, "v6cli"), process(600, "app"), process(700, "highsrv"),
            process(701, "lowcli"), process(800, "idle"),
        ]
        var sockets = [
            listen("0.0.0.0", 8080, pid: 100),
            conn("10.200.0.1", 8080, "10.200.0.2", 40002, pid: 100),
            conn("10.200.0.2", 40002, "10.200.0.1", 8080, pid: 300, netns: otherNS),
            conn("10.200.0.1", 8080, "10.200.0.2", 40003, pid: 100),
            conn("10.200.0.2", 40003, "10.200.0.1", 8080, pid: 301, netns: otherNS),
            conn("192.168.1.10", 8080, "203.0.113.7", 51000, pid: 100, sent: 5_000, received: 700),
            listen("0.0.0.0", 5353, pid: 400, proto: .udp),
            conn("127.0.0.1", 50000, "127.0.0.1", 5353, pid: 401, proto: .udp),
            listen("::", 9000, pid: 500),
            conn("::1", 50100, "::1", 9000, pid: 501),
            conn("::1", 9000, "::1", 50100, pid: 500),
            conn("192.168.1.10", 45000, "192.168.1.20", 5432, pid: 600),
            conn("192.168.1.10", 45001, "93.184.216.34", 443, pid: 600),
            listen("0.0.0.0", 60000, pid: 700),
            conn("127.0.0.1", 1000, "127.0.0.1", 60000, pid: 701),
            conn("127.0.0.1", 60000, "127.0.0.1", 1000, pid: 700),
        ]
        if includeCurl {
            processes.append(process(200, "curl"))
            sockets += [
                conn("127.0.0.1", 40001, "127.0.0.1", 8080, pid: 200, sent: bytes, received: bytes * 2),
                conn("127.0.0.1", 8080, "127.0.0.1", 40001, pid: 100, sent: bytes * 2, received: bytes),
            ]
        }
        return HostSnapshot(timestamp: t, host: host(addresses: h1Addresses), processes: processes,
                            sockets: sockets, hostNetns: rootNS)
    }
}
