import PeriscopeFixtures
import PeriscopeTopology
import Testing

@Suite("Connection direction")
struct DirectionTests {
    /// Linux may give a connecting socket an ephemeral port equal to another process's listening port
    /// (seen here with 10,000 loopback connections). The client must stay the client.
    @Test func ephemeralPortEqualToAnotherListenerDoesNotFlipTheDirection() {
        let sockets = [
            Fixtures.listen("127.0.0.1", 40000, pid: 10),               // unrelated server A on :40000
            Fixtures.listen("127.0.0.1", 6000, pid: 30),                // server B on :6000
            Fixtures.conn("127.0.0.1", 40000, "127.0.0.1", 6000, pid: 20),  // client C got ephemeral :40000
            Fixtures.conn("127.0.0.1", 6000, "127.0.0.1", 40000, pid: 30),  // B's accepted socket
        ]
        let snapshot = HostSnapshot(timestamp: 1, host: Fixtures.host("h1", addresses: []),
                                    processes: [10, 20, 30].map { Fixtures.process($0, "p\($0)") },
                                    sockets: sockets, hostNetns: Fixtures.rootNS)
        var builder = ReportBuilder(hostID: "h1")
        let report = builder.ingest(snapshot)
        let connections = report.connections.nodes.values
        #expect(connections.count == 1)
        let connection = connections.first
        #expect(connection?.latest[NodeKey.clientProcess] == "h1;20")
        #expect(connection?.latest[NodeKey.serverProcess] == "h1;30")
        #expect(connections.allSatisfy { $0.latest[NodeKey.serverProcess] != "h1;10" && $0.latest[NodeKey.clientProcess] != "h1;10" })
    }

    /// A pre-fork server: the listener belongs to the master, accepted sockets to a worker; the peer is
    /// remote, so there is nothing to contradict the listener match.
    @Test func acceptedSocketOfAWorkerIsInbound() {
        let sockets = [
            Fixtures.listen("0.0.0.0", 80, pid: 100),
            Fixtures.conn("192.168.1.10", 80, "198.51.100.7", 51000, pid: 101),
        ]
        let snapshot = HostSnapshot(timestamp: 1, host: Fixtures.host("h1", addresses: [
            InterfaceAddress(interface: "eth0", address: "192.168.1.10", prefixLength: 24, netns: Fixtures.rootNS)]),
            processes: [100, 101].map { Fixtures.process($0, "nginx") }, sockets: sockets, hostNetns: Fixtures.rootNS)
        var builder = ReportBuilder(hostID: "h1")
        let report = builder.ingest(snapshot)
        let connection = report.connections.nodes.values.first
        #expect(connection?.latest[NodeKey.serverProcess] == "h1;101")
        #expect(connection?.latest[NodeKey.clientProcess] == nil)
    }
}
