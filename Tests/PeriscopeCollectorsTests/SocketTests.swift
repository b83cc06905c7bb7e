import Testing
import PeriscopeCollectors
import PeriscopeTopology
#if canImport(Glibc)
import Glibc
#endif

extension KernelTests {
    @Test func tcpListenerAndEstablishedConnectionsWithOwnerAndTCPInfo() throws {
        let listener = try TestSockets.listen("127.0.0.1")
        let a = try TestSockets.connectPair(listener: listener.fd, address: "127.0.0.1", port: listener.port)
        let b = try TestSockets.connectPair(listener: listener.fd, address: "127.0.0.1", port: listener.port)
        defer { for fd in [listener.fd, a.client, a.server, b.client, b.server] { close(fd) } }
        let clientPorts = [try TestSockets.localPort(a.client), try TestSockets.localPort(b.client)]

        let collector = HostCollector()
        let snapshot = collector.collect()
        let me = getpid()
        let tcp = snapshot.sockets.filter { $0.proto == .tcp }

        let listen = tcp.first { $0.state == "listen" && $0.localPort == listener.port }
        #expect(listen?.pid == me)
        #expect(listen?.localAddress == "127.0.0.1")
        #expect(listen?.netns != 0)
        for port in clientPorts {
            let client = tcp.first { $0.state == "established" && $0.localPort == port && $0.remotePort == listener.port }
            let server = tcp.first { $0.state == "established" && $0.localPort == listener.port && $0.remotePort == port }
            #expect(client?.pid == me, "client end of :\(port)")
            #expect(server?.pid == me, "server end of :\(port)")
            #expect(client?.remoteAddress == "127.0.0.1")
            #expect(client?.tcpInfo != nil)
            #expect(server?.tcpInfo != nil)
            #expect((client?.tcpInfo?.bytesSent ?? 0) >= 5)
            #expect((client?.tcpInfo?.bytesReceived ?? 0) >= 5)
        }
        let health = collector.health
        #expect(health.passes == 1)
        #expect(health.isRoot == (geteuid() == 0))
        #expect(health.socketsSeen == snapshot.sockets.count)
        #expect(health.namespacesScanned >= 1)
        #expect(snapshot.processes.contains { $0.pid == me })
    }

    @Test func udpAndIPv6LoopbackAppear() throws {
        let udp4 = try TestSockets.udp("127.0.0.1")
        let udp6 = try TestSockets.udp("::1")
        let listener = try TestSockets.listen("::1")
        let pair = try TestSockets.connectPair(listener: listener.fd, address: "::1", port: listener.port)
        defer { for fd in [udp4.fd, udp6.fd, listener.fd, pair.client, pair.server] { close(fd) } }
        let clientPort = try TestSockets.localPort(pair.client)

        let snapshot = HostCollector().collect()
        let me = getpid()
        let u4 = snapshot.sockets.first { $0.proto == .udp && $0.localPort == udp4.port && $0.family == .ipv4 }
        #expect(u4?.state == "unconnected")
        #expect(u4?.pid == me)
        let u6 = snapshot.sockets.first { $0.proto == .udp && $0.localPort == udp6.port && $0.family == .ipv6 }
        #expect(u6?.localAddress == "::1")
        #expect(u6?.pid == me)
        let client = snapshot.sockets.first {
            $0.proto == .tcp && $0.family == .ipv6 && $0.localPort == clientPort && $0.remotePort == listener.port
        }
        #expect(client?.state == "established")
        #expect(client?.localAddress == "::1")
        #expect(client?.remoteAddress == "::1")
        #expect(client?.pid == me)
        #expect(client?.tcpInfo != nil)
    }

    @Test func v4MappedConnectionToDualStackListenerIsShownAsIPv4() throws {
        let listener = try TestSockets.listen("::")
        let pair = try TestSockets.connectPair(listener: listener.fd, address: "127.0.0.1", port: listener.port)
        defer { for fd in [listener.fd, pair.client, pair.server] { close(fd) } }
        let snapshot = HostCollector().collect()
        let server = snapshot.sockets.first { $0.proto == .tcp && $0.localPort == listener.port && $0.state == "established" }
        #expect(server?.family == .ipv6)
        #expect(server?.localAddress == "127.0.0.1")
        #expect(server?.remoteAddress == "127.0.0.1")
    }

    @Test func portsAndOwnersMatchSS() throws {
        let listener = try TestSockets.listen("127.0.0.1")
        let pair = try TestSockets.connectPair(listener: listener.fd, address: "127.0.0.1", port: listener.port)
        defer { for fd in [listener.fd, pair.client, pair.server] { close(fd) } }
        let snapshot = HostCollector().collect()
        let ss = try TestProcesses.run("/usr/bin/ss", ["-tanpH"])
        try #require(ss.status == 0)

        struct Row: Hashable { var state: String; var local: UInt16; var remote: UInt16; var pid: Int32? }
        func port(_ endpoint: Substring) -> UInt16 {
            UInt16(endpoint.split(separator: ":").last.map(String.init) ?? "") ?? 0
        }
        let me = getpid()
        var fromSS = Set<Row>()
        for line in ss.output.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[5].contains("pid=\(me),") else { continue }
            let state = f[0] == "ESTAB" ? "established" : f[0] == "LISTEN" ? "listen" : f[0].lowercased()
            fromSS.insert(Row(state: state, local: port(f[3]), remote: port(f[4]), pid: me))
        }
        let ours = Set(snapshot.sockets.filter {
            $0.proto == .tcp && $0.pid == me && ($0.localPort == listener.port || $0.remotePort == listener.port)
        }.map { Row(state: $0.state, local: $0.localPort, remote: $0.remotePort, pid: $0.pid) })
        let ssOurs = fromSS.filter { $0.local == listener.port || $0.remote == listener.port }
        #expect(ours.count == 3)
        #expect(ours == ssOurs)
    }

    @Test func hostFactsAndInterfaces() {
        let collector = HostCollector()
        _ = collector.collect()
        usleep(100_000)
        let snapshot = collector.collect()
        let host = snapshot.host
        #expect(!host.hostname.isEmpty)
        #expect(!host.kernel.isEmpty)
        #expect(host.cpuCount >= 1)
        #expect(host.uptimeSeconds > 0)
        #expect(host.memoryTotalBytes > host.memoryAvailableBytes)
        #expect(host.cpuPercent >= 0 && host.cpuPercent <= 100)
        #expect(host.addresses.contains { $0.interface == "lo" && $0.address == "127.0.0.1" && $0.prefixLength == 8 })
        #expect(snapshot.hostNetns != 0)
        #expect(collector.health.passes == 2)
        let me = snapshot.processes.first { $0.pid == getpid() }
        #expect(me?.startTime ?? 0 > 1_600_000_000)
        #expect(me?.rssBytes ?? 0 > 0)
        #expect(me?.openFDs ?? 0 >= 3)
        #expect(me?.threads ?? 0 >= 1)
        #expect(me?.netns == snapshot.hostNetns)
        if geteuid() == 0 { #expect(me?.user == "root") }
    }
}
