import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

/// A killed client leaves its socket orphaned (`fin-wait-2`, no inode, no owner), and the kernel may hand the same
/// ephemeral port to the next client, which connects somewhere else. The orphan's connection must not be drawn
/// from that unrelated client: a fresh pass has no earlier owner to name, so the connection is unattributed, as it
/// is for the event-driven model that remembers the dead client.
@Suite struct OrphanedClientTests {
    @Test func anOrphanedClientSocketDoesNotBorrowThePortsNewOwner() throws {
        var orphan = Fixtures.conn("127.0.0.1", 58280, "127.0.0.1", 59331, pid: nil)
        orphan.inode = 0
        orphan.state = "fin-wait-2"
        let sockets = [
            Fixtures.listen("127.0.0.1", 59331, pid: 10),                    // old server
            Fixtures.conn("127.0.0.1", 59331, "127.0.0.1", 58280, pid: 10),  // its accepted side of the orphan
            orphan,                                                          // the dead client's socket
            Fixtures.listen("127.0.0.1", 48787, pid: 30),                    // another server
            Fixtures.conn("127.0.0.1", 58280, "127.0.0.1", 48787, pid: 20),  // a new client on the freed port
            Fixtures.conn("127.0.0.1", 48787, "127.0.0.1", 58280, pid: 30),
        ]
        let snapshot = HostSnapshot(timestamp: 1, host: Fixtures.host("h1", addresses: Fixtures.h1Addresses),
                                    processes: [10, 20, 30].map { Fixtures.process($0, "p\($0)") },
                                    sockets: sockets, hostNetns: Fixtures.rootNS)
        var builder = ReportBuilder(hostID: "h1")
        let report = builder.ingest(snapshot)
        let view = try ViewRenderer.render(report: report, view: "processes", options: ViewOptions(all: true))
        #expect(view.edges["h1;20->h1;30"] != nil, "the new client's own connection")
        #expect(view.edges["h1;20->h1;10"] == nil, "the orphan is not the new client's")
        #expect(view.edges.keys.contains { $0.hasSuffix("->h1;10") }, "the orphan's connection is still drawn")
    }
}
