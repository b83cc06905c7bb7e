import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

/// Two hosts' reports merged as an aggregator merges them (issue 11): a connection between a process on `ha`
/// and a server on `hb` over routable addresses is one edge between the two processes, directed from the
/// listening side; both hosts run a container network 172.17.0.0/16 with the same addresses, whose
/// connections must stay on their own host.
@Suite struct MultiHostMapTests {
    static let containerNS: UInt64 = 7

    /// A host on `address` with a container network (172.17.0.1 on the host's bridge, 172.17.0.2 in netns 7):
    /// `redis` (pid base+2) in the container, `cli` (pid base+3) on the host talking to it.
    static func host(_ name: String, address: String, base: Int32, processes: [ProcessRecord], sockets: [SocketRecord]) -> Report {
        let addresses = [
            InterfaceAddress(interface: "lo", address: "127.0.0.1", prefixLength: 8, netns: Fixtures.rootNS),
            InterfaceAddress(interface: "eth0", address: address, prefixLength: 24, netns: Fixtures.rootNS),
            InterfaceAddress(interface: "docker0", address: "172.17.0.1", prefixLength: 16, netns: Fixtures.rootNS),
            InterfaceAddress(interface: "eth0", address: "172.17.0.2", prefixLength: 16, netns: containerNS),
        ]
        let container = [
            Fixtures.process(base + 2, "redis", netns: containerNS), Fixtures.process(base + 3, "cli"),
        ]
        let containerSockets = [
            Fixtures.listen("0.0.0.0", 6379, pid: base + 2, netns: containerNS),
            Fixtures.conn("172.17.0.2", 6379, "172.17.0.1", 50000, pid: base + 2, netns: containerNS),
            Fixtures.conn("172.17.0.1", 50000, "172.17.0.2", 6379, pid: base + 3),
        ]
        let snapshot = HostSnapshot(timestamp: 100, host: Fixtures.host(name, addresses: addresses),
                                    processes: processes + container, sockets: sockets + containerSockets,
                                    hostNetns: Fixtures.rootNS)
        var builder = ReportBuilder(hostID: name)
        return builder.ingest(snapshot)
    }

    static func merged() -> Report {
        let a = host("ha", address: "10.0.0.1", base: 10, processes: [Fixtures.process(10, "web")],
                     sockets: [Fixtures.conn("10.0.0.1", 40000, "10.0.0.2", 5432, pid: 10)])
        let b = host("hb", address: "10.0.0.2", base: 20, processes: [Fixtures.process(20, "db")],
                     sockets: [Fixtures.listen("0.0.0.0", 5432, pid: 20),
                               Fixtures.conn("10.0.0.2", 5432, "10.0.0.1", 40000, pid: 20)])
        return a.merged(with: b)
    }

    @Test func oneEdgePerConnectionFromTheListeningSideAndPrivateNetworksStayApart() throws {
        let view = try ViewRenderer.render(report: Self.merged(), view: "processes")
        #expect(Set(view.edges.keys) == ["ha;10->hb;20", "ha;13->ha;12", "hb;23->hb;22"])
        #expect(view.nodes.values.allSatisfy { !$0.pseudo })
        #expect(view.edges["ha;10->hb;20"]?.ports == [5432])
    }

    @Test func hostsViewHasOneNodePerHostAndTheCrossHostEdge() throws {
        let view = try ViewRenderer.render(report: Self.merged(), view: "hosts")
        #expect(Set(view.nodes.keys) == ["ha", "hb"])
        #expect(view.edges["ha->hb"] != nil && view.edges["hb->ha"] == nil)
    }

    @Test func staleNodesSayStale() throws {
        var report = Self.merged()
        var process = try #require(report.node(.process, "hb;20"))
        process.set(NodeKey.stale, "true", at: 200)
        report.add(process)
        let view = try ViewRenderer.render(report: report, view: "processes")
        #expect(view.nodes["hb;20"]?.metadata["stale"] == .bool(true))
        #expect(view.nodes["ha;10"]?.metadata["stale"] == nil)
    }
}
