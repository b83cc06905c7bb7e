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

    /// `nc -ll -e cat` in one namespace, its client in another: the listener belongs to `nc`, each accepted socket
    /// to a `cat` that `nc` forked. The client's side only knows the listener, so the connection's server is the
    /// accepted socket's owner whichever pid sorts first as text (a 4-digit listener pid such as "9876" sorts
    /// after a 5-digit worker's "10213", which once handed every connection to the listener).
    @Test(arguments: [(Int32(9876), Int32(10213)), (Int32(100), Int32(101)), (Int32(30000), Int32(2019))])
    func acceptedSocketsOwnerIsTheServerNotThePeersListenerGuess(listener: Int32, worker: Int32) {
        let client: Int32 = 555
        let sockets = [
            Fixtures.listen("::", 5432, pid: listener, netns: Fixtures.otherNS),
            Fixtures.conn("10.200.0.2", 5432, "10.200.0.1", 47542, pid: worker, netns: Fixtures.otherNS),
            Fixtures.conn("10.200.0.1", 47542, "10.200.0.2", 5432, pid: client),
        ]
        let processes = [Fixtures.process(listener, "nc", netns: Fixtures.otherNS),
                         Fixtures.process(worker, "cat", netns: Fixtures.otherNS), Fixtures.process(client, "nc")]
        let snapshot = HostSnapshot(timestamp: 1, host: Fixtures.host("h1", addresses: Fixtures.h1Addresses),
                                    processes: processes, sockets: sockets, hostNetns: Fixtures.rootNS)
        var builder = ReportBuilder(hostID: "h1")
        let report = builder.ingest(snapshot)
        let connections = Array(report.connections.nodes.values)
        #expect(connections.count == 1)
        #expect(connections.first?.latest[NodeKey.serverProcess] == "h1;\(worker)")
        #expect(connections.first?.latest[NodeKey.clientProcess] == "h1;\(client)")
    }
}
