import PeriscopeFixtures
import Testing
@testable import PeriscopeTopology

@Suite struct ReportBuilderTests {
    /// (client process, server endpoint id) of every connection, from the connection nodes.
    static func pairs(_ report: Report) -> Set<String> {
        Set(report.connections.nodes.values.map { c in
            "\(c.latest[NodeKey.clientProcess] ?? "-") -> \(c.latest[NodeKey.server] ?? "?") @\(c.latest[NodeKey.serverProcess] ?? "-")"
        })
    }

    @Test func connectionsHaveTheRightDirectionAndIDs() {
        var builder = ReportBuilder(hostID: "h1")
        let report = builder.ingest(Fixtures.scenario())
        #expect(Self.pairs(report) == [
            "h1;200 -> h1/1;127.0.0.1;8080;tcp @h1;100",
            "h1;300 -> h1;10.200.0.1;8080;tcp @h1;100",
            "h1;301 -> h1;10.200.0.1;8080;tcp @h1;100",
            "- -> ;192.168.1.10;8080;tcp @h1;100",  // inbound from the Internet: the client is remote
            "h1;401 -> h1/1;127.0.0.1;5353;udp @h1;400",  // UDP server found through its unconnected socket
            "h1;501 -> h1/1;::1;9000;tcp @h1;500",
            "h1;600 -> ;192.168.1.20;5432;tcp @-",
            "h1;600 -> ;93.184.216.34;443;tcp @-",
            "h1;701 -> h1/1;127.0.0.1;60000;tcp @h1;700",  // the lower port is the client
        ])
        #expect(report.connections.count == 9)
        // Adjacency goes client endpoint → server endpoint.
        #expect(report.endpoints["h1/1;127.0.0.1;40001;tcp"]?.adjacency == ["h1/1;127.0.0.1;8080;tcp"])
        #expect(report.endpoints[";203.0.113.7;51000;tcp"]?.adjacency == [";192.168.1.10;8080;tcp"])
        #expect(report.endpoints["h1/1;127.0.0.1;8080;tcp"]?.adjacency == [])
        #expect(report.endpoints["h1;10.200.0.2;40002;tcp"]?.parents[.process] == ["h1;300"])
        #expect(report.processes["h1;100"]?.sets[NodeKey.listening] == ["tcp/0.0.0.0:8080"])
        #expect(report.processes["h1;500"]?.sets[NodeKey.listening] == ["tcp/[::]:9000"])
        #expect(report.processes.count == 12)
        #expect(report.hosts["h1"]?.latest[NodeKey.hostname] == "h1")
        #expect(report.processes["h1;300"]?.parents[.host] == ["h1"])
    }

    @Test func bytesAreNormalisedToTheClientSide() throws {
        var builder = ReportBuilder(hostID: "h1")
        let report = builder.ingest(Fixtures.scenario())
        let internet = try #require(report.connections[";203.0.113.7;51000;tcp->;192.168.1.10;8080;tcp"])
        // Server socket sent 5000 and received 700: the client sent 700 and received 5000.
        #expect(internet.metrics[MetricKey.clientBytesSent]?.last?.value == 700)
        #expect(internet.metrics[MetricKey.clientBytesReceived]?.last?.value == 5000)
        #expect(internet.metrics[MetricKey.rtt]?.last?.value == 0.5)
    }

    @Test func historiesCarryAcrossSnapshots() throws {
        var builder = ReportBuilder(hostID: "h1", connectionHistoryLength: 3)
        var report = Report()
        for i in 0..<5 {
            report = builder.ingest(Fixtures.scenario(t: 100 + Double(i), bytes: UInt64(1000 * (i + 1))))
        }
        #expect(report.processes["h1;100"]?.metrics[MetricKey.cpu]?.samples.count == 5)
        #expect(report.hosts["h1"]?.metrics[MetricKey.memory]?.last?.value == 3000)
        let curl = try #require(report.connections["h1/1;127.0.0.1;40001;tcp->h1/1;127.0.0.1;8080;tcp"])
        let sent = try #require(curl.metrics[MetricKey.clientBytesSent])
        #expect(sent.samples.count == 3)
        #expect(sent.ratePerSecond == 1000)
        #expect(curl.metrics[MetricKey.clientBytesReceived]?.ratePerSecond == 2000)
    }

    @Test func closedConnectionsAreRetainedThenDropped() throws {
        var builder = ReportBuilder(hostID: "h1", retention: 10)
        _ = builder.ingest(Fixtures.scenario(t: 100))
        #expect(builder.retainedUntil == nil)
        let id = "h1/1;127.0.0.1;40001;tcp->h1/1;127.0.0.1;8080;tcp"
        // curl (200) exits with its connection.
        var report = builder.ingest(Fixtures.scenario(t: 101, includeCurl: false))
        #expect(builder.retainedUntil == 111)  // the daemon schedules an update for then
        let closed = try #require(report.connections[id])
        #expect(closed.latest[NodeKey.closed] == "true")
        #expect(closed.latest[NodeKey.lastSeen] == "100.0")
        #expect(report.processes["h1;200"]?.latest[NodeKey.exited] == "true")
        #expect(report.processes["h1;100"]?.latest[NodeKey.exited] == nil)
        #expect(report.endpoints["h1/1;127.0.0.1;40001;tcp"]?.adjacency == ["h1/1;127.0.0.1;8080;tcp"])
        report = builder.ingest(Fixtures.scenario(t: 111, includeCurl: false))
        #expect(report.connections[id] != nil)
        report = builder.ingest(Fixtures.scenario(t: 111.5, includeCurl: false))
        #expect(report.connections[id] == nil)
        #expect(report.processes["h1;200"] == nil)
        #expect(report.endpoints["h1/1;127.0.0.1;40001;tcp"] == nil)
        #expect(report.connections.count == 8)
        #expect(builder.retainedUntil == nil)
    }

    /// An event-driven update with no socket change (what the daemon runs when the retention ends) drops the
    /// expired connection as a whole ingest would.
    @Test func retentionEndsInAnUpdateWithoutSocketChanges() throws {
        var incremental = ReportBuilder(hostID: "h1", retention: 10)
        var whole = ReportBuilder(hostID: "h1", retention: 10)
        for t in [100.0, 101] {
            _ = incremental.ingest(Fixtures.scenario(t: t, includeCurl: t == 100))
            _ = whole.ingest(Fixtures.scenario(t: t, includeCurl: t == 100))
        }
        let later = Fixtures.scenario(t: 111.5, includeCurl: false)
        let result = incremental.ingest(later, removing: [], adding: [])
        let updated = try #require(result)
        let expected = whole.ingest(later, metrics: false)
        #expect(updated.connections["h1/1;127.0.0.1;40001;tcp->h1/1;127.0.0.1;8080;tcp"] == nil)
        #expect(updated.processes["h1;200"] == nil)
        #expect(updated.endpoints["h1/1;127.0.0.1;40001;tcp"] == nil)
        #expect(Set(updated.connections.nodes.keys) == Set(expected.connections.nodes.keys))
        #expect(Set(updated.endpoints.nodes.keys) == Set(expected.endpoints.nodes.keys))
        #expect(Set(updated.processes.nodes.keys) == Set(expected.processes.nodes.keys))
        #expect(incremental.retainedUntil == nil)
    }

    @Test func reopenedConnectionIsOpenAgain() throws {
        var builder = ReportBuilder(hostID: "h1")
        _ = builder.ingest(Fixtures.scenario(t: 100))
        _ = builder.ingest(Fixtures.scenario(t: 101, includeCurl: false))
        let report = builder.ingest(Fixtures.scenario(t: 102))
        let c = try #require(report.connections["h1/1;127.0.0.1;40001;tcp->h1/1;127.0.0.1;8080;tcp"])
        #expect(c.latest[NodeKey.closed] == "false")
        #expect(report.processes["h1;200"]?.latest[NodeKey.exited] == nil)
    }

    @Test func twoHostsViewsOfOneConnectionMergeAndPrivateAddressesStayApart() {
        // h1 (10.0.0.1) calls h2 (10.0.0.2:80). Both run a container at 172.17.0.2 calling the host's 172.17.0.1:3000.
        func snapshot(_ name: String, own: String, peerSocket: SocketRecord, extra: [SocketRecord], pids: [Int32]) -> HostSnapshot {
            let addrs = [InterfaceAddress(interface: "eth0", address: own, prefixLength: 24, netns: 1),
                         InterfaceAddress(interface: "docker0", address: "172.17.0.1", prefixLength: 16, netns: 1),
                         InterfaceAddress(interface: "eth0", address: "172.17.0.2", prefixLength: 16, netns: 5)]
            let sockets = [peerSocket] + extra + [
                Fixtures.listen("0.0.0.0", 3000, pid: pids[1]),
                Fixtures.conn("172.17.0.2", 41000, "172.17.0.1", 3000, pid: pids[2], netns: 5),
                Fixtures.conn("172.17.0.1", 3000, "172.17.0.2", 41000, pid: pids[1]),
            ]
            return HostSnapshot(timestamp: 1, host: Fixtures.host(name, addresses: addrs),
                                processes: pids.map { Fixtures.process($0, "p\($0)") }, sockets: sockets, hostNetns: 1)
        }
        var b1 = ReportBuilder(hostID: "h1"), b2 = ReportBuilder(hostID: "h2")
        let r1 = b1.ingest(snapshot("h1", own: "10.0.0.1", peerSocket: Fixtures.conn("10.0.0.1", 5555, "10.0.0.2", 80, pid: 10),
                                    extra: [], pids: [10, 11, 12]))
        let r2 = b2.ingest(snapshot("h2", own: "10.0.0.2", peerSocket: Fixtures.conn("10.0.0.2", 80, "10.0.0.1", 5555, pid: 20),
                                    extra: [Fixtures.listen("0.0.0.0", 80, pid: 20)], pids: [20, 21, 22]))
        let merged = r1.merged(with: r2)
        let cross = ";10.0.0.1;5555;tcp->;10.0.0.2;80;tcp"
        #expect(r1.connections[cross] != nil && r2.connections[cross] != nil)
        let c = merged.connections[cross]
        #expect(c?.latest[NodeKey.clientProcess] == "h1;10")
        #expect(c?.latest[NodeKey.serverProcess] == "h2;20")
        #expect(Set(merged.connections.nodes.keys) == [
            cross,
            "h1;172.17.0.2;41000;tcp->h1;172.17.0.1;3000;tcp",
            "h2;172.17.0.2;41000;tcp->h2;172.17.0.1;3000;tcp",
        ])
    }
}
