import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

func scenarioReport(t: Double = 100) -> Report {
    var builder = ReportBuilder(hostID: "h1")
    return builder.ingest(Fixtures.scenario(t: t))
}

@Suite struct ProcessesViewTests {
    static let expectedEdges: Set<String> = [
        "h1;200->h1;100", "h1;300->h1;100", "h1;301->h1;100", "pseudo:internet->h1;100",
        "h1;401->h1;400", "h1;501->h1;500", "h1;600->pseudo:remote;192.168.1.20", "h1;600->pseudo:internet",
        "h1;701->h1;700",
    ]

    @Test func nodesAndEdgesAreExact() throws {
        let view = try ViewRenderer.render(report: scenarioReport(), view: "processes", names: ["192.168.1.20": "db.lan"])
        #expect(Set(view.edges.keys) == Self.expectedEdges)
        #expect(Set(view.nodes.keys) == [
            "h1;100", "h1;200", "h1;300", "h1;301", "h1;400", "h1;401", "h1;500", "h1;501", "h1;600", "h1;700",
            "h1;701", "pseudo:internet", "pseudo:remote;192.168.1.20",
        ])
        let udp = try #require(view.edges["h1;401->h1;400"])
        #expect(udp.source == "h1;401" && udp.target == "h1;400")
        #expect(udp.protocols == ["udp"] && udp.ports == [5353] && udp.connections == 1 && !udp.closed)
        #expect(view.edges["h1;701->h1;700"]?.ports == [60000])
        #expect(view.edges["h1;501->h1;500"]?.ports == [9000])
        let internetIn = try #require(view.edges["pseudo:internet->h1;100"])
        #expect(internetIn.rttMillis == 0.5)
        let server = try #require(view.nodes["h1;100"])
        #expect(server.label == "server" && server.labelMinor == "pid 100 on h1" && server.kind == .process)
        #expect(server.metrics.connectionsIn == 4 && server.metrics.connectionsOut == 0)
        #expect(server.metrics.cpu == 60 && server.metrics.memory == 1_000_000)
        #expect(server.metadata["pid"] == .int(100))
        #expect(server.metadata["command"] == .string("server --serve"))
        #expect(server.metadata["ports"] == [8080])
        #expect(server.parents == ["host": ["h1"]])
        let remote = try #require(view.nodes["pseudo:remote;192.168.1.20"])
        #expect(remote.label == "db.lan" && remote.labelMinor == "192.168.1.20" && remote.pseudo && remote.kind == .remote)
        let internet = try #require(view.nodes["pseudo:internet"])
        #expect(internet.label == "The Internet" && internet.kind == .internet && internet.pseudo)
        #expect(internet.metrics.connectionsIn == 1 && internet.metrics.connectionsOut == 1)
    }

    @Test func allIncludesIdleProcesses() throws {
        let view = try ViewRenderer.render(report: scenarioReport(), view: "processes", options: ViewOptions(all: true))
        #expect(view.nodes["h1;800"] != nil)
        // Explicit hideUnconnected wins over all's default.
        let hidden = try ViewRenderer.render(report: scenarioReport(), view: "processes",
                                             options: ViewOptions(all: true, hideUnconnected: true))
        #expect(hidden.nodes["h1;800"] == nil)
        #expect(hidden.nodes.count == 13)
    }

    @Test func unnamedRemoteIsLabelledByAddressAndPseudoCanBeHidden() throws {
        let view = try ViewRenderer.render(report: scenarioReport(), view: "processes")
        #expect(view.nodes["pseudo:remote;192.168.1.20"]?.label == "192.168.1.20")
        #expect(view.nodes["pseudo:remote;192.168.1.20"]?.labelMinor == "private network")
        let noPseudo = try ViewRenderer.render(report: scenarioReport(), view: "processes",
                                               options: ViewOptions(hidePseudo: true))
        #expect(!noPseudo.nodes.values.contains { $0.pseudo })
        #expect(Set(noPseudo.edges.keys) == Self.expectedEdges.filter { !$0.contains("pseudo") })
        // app only talks to pseudo nodes but has connections, so it stays.
        #expect(noPseudo.nodes["h1;600"] != nil)
    }

    @Test func closedConnectionsShowAsClosedEdges() throws {
        var builder = ReportBuilder(hostID: "h1")
        _ = builder.ingest(Fixtures.scenario(t: 100))
        let report = builder.ingest(Fixtures.scenario(t: 101, includeCurl: false))
        let view = try ViewRenderer.render(report: report, view: "processes")
        let edge = try #require(view.edges["h1;200->h1;100"])
        #expect(edge.closed && edge.lastSeen == 100)
        #expect(view.nodes["h1;200"]?.metadata["exited"] == .bool(true))
        #expect(view.edges["h1;300->h1;100"]?.closed == false)
        let open = try ViewRenderer.render(report: report, view: "processes", options: ViewOptions(includeClosed: false))
        #expect(open.edges["h1;200->h1;100"] == nil && open.nodes["h1;200"] == nil)
    }

    @Test func bytesPerSecondFromSuccessiveSamples() throws {
        var builder = ReportBuilder(hostID: "h1")
        _ = builder.ingest(Fixtures.scenario(t: 100, bytes: 1_000))
        let report = builder.ingest(Fixtures.scenario(t: 102, bytes: 5_000))
        let view = try ViewRenderer.render(report: report, view: "processes")
        // Client sent 1000→5000 and received 2000→10000 over 2 s.
        #expect(view.edges["h1;200->h1;100"]?.bytesPerSecond == 6_000)
        #expect(view.edges["h1;300->h1;100"]?.bytesPerSecond == nil)
    }

    @Test func unattributedSocketsBecomeAHostPseudoNode() throws {
        let snapshot = HostSnapshot(
            timestamp: 1, host: Fixtures.host(addresses: Fixtures.h1Addresses), processes: [Fixtures.process(1, "a")],
            sockets: [Fixtures.conn("192.168.1.10", 40000, "192.168.1.30", 22, pid: nil),
                      Fixtures.conn("192.168.1.10", 40001, "192.168.1.30", 22, pid: 1)], hostNetns: 1)
        var builder = ReportBuilder(hostID: "h1")
        let view = try ViewRenderer.render(report: builder.ingest(snapshot), view: "processes")
        #expect(Set(view.edges.keys) == ["pseudo:unknown;h1->pseudo:remote;192.168.1.30", "h1;1->pseudo:remote;192.168.1.30"])
        #expect(view.nodes["pseudo:unknown;h1"]?.kind == .unknown)
    }

    @Test func twoHostsBecomeOneEdgeAcrossHosts() throws {
        func snap(_ name: String, own: String, socket: SocketRecord, listen: [SocketRecord], pid: Int32) -> HostSnapshot {
            HostSnapshot(timestamp: 1, host: Fixtures.host(name, addresses: [
                InterfaceAddress(interface: "eth0", address: own, prefixLength: 24, netns: 1)]),
                processes: [Fixtures.process(pid, "p\(pid)")], sockets: [socket] + listen, hostNetns: 1)
        }
        var b1 = ReportBuilder(hostID: "h1"), b2 = ReportBuilder(hostID: "h2")
        let r1 = b1.ingest(snap("h1", own: "10.0.0.1", socket: Fixtures.conn("10.0.0.1", 5555, "10.0.0.2", 80, pid: 10),
                                listen: [], pid: 10))
        let r2 = b2.ingest(snap("h2", own: "10.0.0.2", socket: Fixtures.conn("10.0.0.2", 80, "10.0.0.1", 5555, pid: 20),
                                listen: [Fixtures.listen("0.0.0.0", 80, pid: 20)], pid: 20))
        let merged = r1.merged(with: r2)
        let view = try ViewRenderer.render(report: merged, view: "processes")
        #expect(Set(view.edges.keys) == ["h1;10->h2;20"])
        #expect(Set(view.nodes.keys) == ["h1;10", "h2;20"])
        let hosts = try ViewRenderer.render(report: merged, view: "hosts")
        #expect(Set(hosts.edges.keys) == ["h1->h2"])
    }
}
