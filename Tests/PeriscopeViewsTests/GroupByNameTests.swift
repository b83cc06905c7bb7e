import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

/// `processes-by-name` groups by process name (issue 12): one busybox executable, several names; a group whose
/// connections are all internal stays in the hide-unconnected default.
@Suite struct GroupByNameTests {
    private func report() -> Report {
        let busybox = "/bin/busybox"
        let processes = [
            Fixtures.process(10, "nc", exe: busybox), Fixtures.process(11, "cat", exe: busybox),
            Fixtures.process(12, "sleep", exe: busybox),
            Fixtures.process(20, "worker"), Fixtures.process(21, "worker"),
        ]
        let sockets = [
            Fixtures.listen("0.0.0.0", 5432, pid: 11),
            Fixtures.conn("127.0.0.1", 40000, "127.0.0.1", 5432, pid: 10),
            Fixtures.conn("127.0.0.1", 5432, "127.0.0.1", 40000, pid: 11),
            // Two workers talking only to each other.
            Fixtures.listen("0.0.0.0", 7000, pid: 20),
            Fixtures.conn("127.0.0.1", 41000, "127.0.0.1", 7000, pid: 21),
            Fixtures.conn("127.0.0.1", 7000, "127.0.0.1", 41000, pid: 20),
        ]
        var builder = ReportBuilder(hostID: "h1", retention: 60)
        return builder.ingest(HostSnapshot(timestamp: 100, host: Fixtures.host(addresses: Fixtures.h1Addresses),
                                           processes: processes, sockets: sockets, hostNetns: Fixtures.rootNS))
    }

    @Test func groupsByProcessNameWithTheExecutables() throws {
        let view = try ViewRenderer.render(report: report(), view: "processes-by-name")
        #expect(view.nodes["group:busybox"] == nil)
        #expect(Set(view.edges.keys) == ["group:nc->group:cat"])
        let nc = try #require(view.nodes["group:nc"])
        #expect(nc.metadata["executables"] == ["busybox"])
        let details = try #require(ViewRenderer.details(report: report(), view: "processes-by-name", id: "group:cat"))
        #expect(details.metadata["executables"] == ["/bin/busybox"])
        #expect(details.inbound.first?.peerLabel == "nc")
    }

    @Test func internallyConnectedGroupStays() throws {
        let view = try ViewRenderer.render(report: report(), view: "processes-by-name")
        let workers = try #require(view.nodes["group:worker"])
        #expect(workers.labelMinor == "2 processes")
        #expect(view.nodes["group:sleep"] == nil)  // no connection at all: hidden
        let hidden = try ViewRenderer.render(report: report(), view: "processes-by-name",
                                             options: ViewOptions(hidePseudo: true))
        #expect(hidden.nodes["group:worker"] != nil)
    }

    @Test func closedRowsSayClosed() throws {
        var builder = ReportBuilder(hostID: "h1", retention: 60)
        let host = Fixtures.host(addresses: Fixtures.h1Addresses)
        let processes = [Fixtures.process(10, "nc"), Fixtures.process(11, "cat")]
        _ = builder.ingest(HostSnapshot(timestamp: 100, host: host, processes: processes, sockets: [
            Fixtures.listen("0.0.0.0", 5432, pid: 11),
            Fixtures.conn("127.0.0.1", 40000, "127.0.0.1", 5432, pid: 10),
            Fixtures.conn("127.0.0.1", 5432, "127.0.0.1", 40000, pid: 11),
        ], hostNetns: Fixtures.rootNS))
        let later = builder.ingest(HostSnapshot(timestamp: 101, host: host, processes: processes,
                                                sockets: [Fixtures.listen("0.0.0.0", 5432, pid: 11)],
                                                hostNetns: Fixtures.rootNS))
        let details = try #require(ViewRenderer.details(report: later, view: "processes", id: "h1;11"))
        let row = try #require(details.inbound.first)
        #expect(row.closed && row.state == "closed")
    }
}
