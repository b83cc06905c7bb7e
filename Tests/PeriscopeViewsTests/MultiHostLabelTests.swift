import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

/// Views of an aggregator's merged report (issue 11): two hosts each running a container of the same image and
/// processes of the same names. Containers say their host; groups spanning hosts say how many and which.
@Suite struct MultiHostLabelTests {
    static let c1 = String(repeating: "a", count: 64)
    static let c2 = String(repeating: "c", count: 64)

    func hostReport(_ host: String, container id: String) -> Report {
        var snapshot = Fixtures.scenario()
        snapshot.host.hostname = host
        snapshot.containers = [
            ContainerRecord(id: id, name: "web", image: "localhost/client:1", imageID: "sha256:1",
                            state: "running", hostname: "clients", initPID: 300, pids: [300, 301]),
        ]
        var builder = ReportBuilder(hostID: host)
        return builder.ingest(snapshot)
    }

    func merged() -> Report { hostReport("h1", container: Self.c1).merged(with: hostReport("h2", container: Self.c2)) }

    @Test func containersSayTheirHostWhenTheMapSpansHosts() throws {
        let view = try ViewRenderer.render(report: merged(), view: "containers")
        let first = try #require(view.nodes["container:\(Self.c1)"])
        let second = try #require(view.nodes["container:\(Self.c2)"])
        #expect(first.label == "web" && second.label == "web")
        #expect(first.labelMinor == "client:1 on h1" && second.labelMinor == "client:1 on h2")
        #expect(first.metadata["host"] == "h1" && second.metadata["host"] == "h2")
        // One host: no host in the label (nothing to tell apart).
        let single = try ViewRenderer.render(report: hostReport("h1", container: Self.c1), view: "containers")
        #expect(single.nodes["container:\(Self.c1)"]?.labelMinor == "client:1")
    }

    @Test func groupsSpanningHostsCountThem() throws {
        let byImage = try ViewRenderer.render(report: merged(), view: "containers-by-image")
        let group = try #require(byImage.nodes["image:localhost/client:1"])
        #expect(group.labelMinor == "2 containers on 2 hosts")
        #expect(group.metadata["hosts"] == ["h1", "h2"] && group.metadata["hostCount"] == 2)
        let byName = try ViewRenderer.render(report: merged(), view: "processes-by-name")
        let spanning = try #require(byName.nodes.values.first { $0.metadata["hostCount"] == 2 })
        #expect(spanning.labelMinor.hasSuffix(" on 2 hosts") && spanning.metadata["hosts"] == ["h1", "h2"])
        let single = try ViewRenderer.render(report: hostReport("h1", container: Self.c1), view: "processes-by-name")
        #expect(single.nodes.values.allSatisfy { !$0.labelMinor.contains(" hosts") && $0.metadata["hostCount"] != 2 })
    }
}
