import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

/// The container views over the shared scenario, with the two `client` processes (netns 2) in one running
/// container and a second, stopped container of the same image.
@Suite struct ContainerViewTests {
    static let c1 = String(repeating: "a", count: 64)
    static let c2 = String(repeating: "b", count: 64)

    func report() -> Report {
        var snapshot = Fixtures.scenario()
        snapshot.containers = [
            ContainerRecord(id: Self.c1, name: "client-1", image: "localhost/client:1", imageID: "sha256:1",
                            labels: ["tier": "client"], state: "running", hostname: "clients",
                            ipAddresses: ["10.200.0.2"], initPID: 300, pids: [300, 301], cpuPercent: 3,
                            memoryBytes: 4096),
            ContainerRecord(id: Self.c2, name: "client-2", image: "localhost/client:1", imageID: "sha256:1",
                            state: "exited", hostname: "clients"),
        ]
        var builder = ReportBuilder(hostID: "h1")
        return builder.ingest(snapshot)
    }

    @Test func containersViewDrawsContainersAndUncontained() throws {
        let view = try ViewRenderer.render(report: report(), view: "containers")
        let container = try #require(view.nodes["container:\(Self.c1)"])
        #expect(container.kind == .container && container.label == "client-1")
        #expect(container.metadata["image"] == "localhost/client:1" && container.metadata["stopped"] == false)
        #expect(container.metadata["ips"] == ["10.200.0.2"])
        #expect(container.metrics.cpu == 3 && container.metrics.memory == 4096)
        #expect(view.nodes["container:\(Self.c2)"] == nil)
        let uncontained = try #require(view.nodes["pseudo:uncontained;h1"])
        #expect(uncontained.label == "Uncontained" && uncontained.pseudo)
        let edge = try #require(view.edges["container:\(Self.c1)->pseudo:uncontained;h1"])
        #expect(edge.connections == 2 && edge.ports == [8080])
        #expect(view.edges.keys.contains("pseudo:internet->pseudo:uncontained;h1"))

        let all = try ViewRenderer.render(report: report(), view: "containers", options: ViewOptions(all: true))
        let stopped = try #require(all.nodes["container:\(Self.c2)"])
        #expect(stopped.metadata["stopped"] == true && stopped.labelMinor.hasPrefix("stopped"))
    }

    @Test func byImageAndHostnameMerge() throws {
        let byImage = try ViewRenderer.render(report: report(), view: "containers-by-image",
                                              options: ViewOptions(all: true))
        let group = try #require(byImage.nodes["image:localhost/client:1"])
        #expect(group.kind == .containerGroup && group.label == "client:1" && group.labelMinor == "2 containers")
        #expect(byImage.edges["image:localhost/client:1->pseudo:uncontained;h1"]?.connections == 2)
        let byHost = try ViewRenderer.render(report: report(), view: "containers-by-hostname")
        #expect(byHost.nodes["hostname:clients"]?.metadata["containerCount"] == 1)
    }

    @Test func detailsListTheProcessesInside() throws {
        let details = try #require(ViewRenderer.details(report: report(), view: "containers",
                                                        id: "container:\(Self.c1)"))
        #expect(details.children.map(\.id) == ["h1;300", "h1;301"])
        #expect(details.outbound.count == 2)
        #expect(details.metadata["controls"] == ["stop", "restart", "pause", "remove"])
        let group = try #require(ViewRenderer.details(report: report(), view: "containers-by-image",
                                                      id: "image:localhost/client:1"))
        #expect(group.children.map(\.id) == ["container:\(Self.c1)", "container:\(Self.c2)"])
    }
}
