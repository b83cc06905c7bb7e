import PeriscopeFixtures
import Testing
@testable import PeriscopeTopology

/// Connection nodes carry their client and server endpoints typed (``Node/sides``), equal to the text the report
/// writes for the wire, through fresh, incremental and retained (closed) connections, and merges keep them.
@Suite struct ConnectionSidesTests {
    /// Every connection node has sides naming its own id and its `client` / `server` texts.
    static func checkSides(_ report: Report) {
        #expect(!report.connections.nodes.isEmpty)
        for node in report.connections.nodes.values {
            guard let sides = node.sides else {
                Issue.record("connection \(node.id) has no typed sides")
                continue
            }
            #expect(sides.connectionID == node.id)
            #expect(sides.client.id == node.latest[NodeKey.client])
            #expect(sides.server.id == node.latest[NodeKey.server])
            #expect(sides.proto.rawValue == node.latest[NodeKey.proto])
        }
    }

    @Test func builtConnectionsHaveTypedSides() throws {
        var builder = ReportBuilder(hostID: "h1", retention: 10)
        let first = builder.ingest(Fixtures.scenario(t: 100))
        Self.checkSides(first)
        let internet = try #require(first.connections[";203.0.113.7;51000;tcp->;192.168.1.10;8080;tcp"]?.sides)
        #expect(internet.client == EndpointID(scope: "", address: "203.0.113.7", port: 51000, proto: .tcp))
        #expect(internet.server == EndpointID(scope: "", address: "192.168.1.10", port: 8080, proto: .tcp))
        let udp = try #require(first.connections["h1/1;127.0.0.1;50000;udp->h1/1;127.0.0.1;5353;udp"]?.sides)
        #expect(udp.client.scopeHost == "h1" && udp.server.port == 5353 && udp.proto == .udp)
        // In place (same members), then with curl gone: its connection is retained closed with its sides.
        Self.checkSides(builder.ingest(Fixtures.scenario(t: 101)))
        let closed = builder.ingest(Fixtures.scenario(t: 102, includeCurl: false))
        Self.checkSides(closed)
        let curl = try #require(closed.connections["h1/1;127.0.0.1;40001;tcp->h1/1;127.0.0.1;8080;tcp"])
        #expect(curl.latest[NodeKey.closed] == "true")
        #expect(curl.sides?.client.port == 40001)
    }

    @Test func mergeKeepsSidesWhateverTheOrder() {
        let a = ConnectionSides(client: EndpointID(scope: "", address: "10.0.0.1", port: 5, proto: .tcp),
                                server: EndpointID(scope: "", address: "10.0.0.2", port: 80, proto: .tcp))
        var b = a
        b.client.port = 6
        var x = Node(id: "c", topology: .connection), y = Node(id: "c", topology: .connection)
        let bare = Node(id: "c", topology: .connection)
        x.sides = a
        y.sides = b
        #expect(x.merged(with: bare).sides == a)
        #expect(bare.merged(with: x).sides == a, "a node without sides takes the other's")
        #expect(x.merged(with: y) == y.merged(with: x))
        #expect(x.merged(with: y).sides == a, "producers that disagree settle on the smaller")
    }
}
