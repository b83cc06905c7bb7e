import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

@Suite struct GroupedViewTests {
    @Test func processesByNameMergesEdges() throws {
        let view = try ViewRenderer.render(report: scenarioReport(), view: "processes-by-name")
        #expect(Set(view.edges.keys) == [
            "group:curl->group:server", "group:client->group:server", "pseudo:internet->group:server",
            "group:resolver->group:dns", "group:v6cli->group:v6srv", "group:app->pseudo:remote;192.168.1.20",
            "group:app->pseudo:internet", "group:lowcli->group:highsrv",
        ])
        let clients = try #require(view.nodes["group:client"])
        #expect(clients.kind == .processGroup && clients.labelMinor == "2 processes")
        #expect(clients.metadata["pids"] == [300, 301])
        #expect(clients.metrics.cpu == 2 && clients.metrics.connectionsOut == 2)
        #expect(view.edges["group:client->group:server"]?.connections == 2)
        #expect(view.nodes["group:idle"] == nil)
        let all = try ViewRenderer.render(report: scenarioReport(), view: "processes-by-name", options: ViewOptions(all: true))
        #expect(all.nodes["group:idle"] != nil)
    }

    @Test func hostsViewHasTheHostAndItsPeers() throws {
        let view = try ViewRenderer.render(report: scenarioReport(), view: "hosts")
        #expect(Set(view.nodes.keys) == ["h1", "pseudo:internet", "pseudo:remote;192.168.1.20"])
        #expect(Set(view.edges.keys) == ["h1->pseudo:internet", "pseudo:internet->h1", "h1->pseudo:remote;192.168.1.20"])
        let host = try #require(view.nodes["h1"])
        #expect(host.kind == .host && host.label == "h1" && host.metadata["os"] == "Debian")
        #expect(host.metrics.memory == 3_000 && host.metrics.cpu == 12)
        #expect(view.edges["pseudo:internet->h1"]?.ports == [8080])
        #expect(throws: ViewError.self) {
            try ViewRenderer.render(report: scenarioReport(), view: "hosts", options: ViewOptions(all: true))
        }
    }

    @Test func detailsOfAServer() throws {
        let details = try #require(ViewRenderer.details(report: scenarioReport(), view: "processes", id: "h1;100"))
        #expect(details.outbound.isEmpty)
        #expect(details.inbound.map(\.peer).sorted() == ["h1;200", "h1;300", "h1;301", "pseudo:internet"])
        let internet = try #require(details.inbound.first { $0.peer == "pseudo:internet" })
        #expect(internet.localAddress == "192.168.1.10" && internet.localPort == 8080)
        #expect(internet.remoteAddress == "203.0.113.7" && internet.remotePort == 51000)
        #expect(internet.bytesSent == 5000 && internet.bytesReceived == 700 && internet.rttMillis == 0.5)
        #expect(internet.state == "established" && internet.proto == "tcp" && internet.localProcess == "h1;100")
        #expect(details.metadata["listening"] == ["tcp/0.0.0.0:8080"])
        #expect(details.metadata["cwd"] == "/")
        #expect(details.metrics["cpu"]?.count == 1)
        #expect(details.parents == [ParentRef(topology: "host", id: "h1", label: "h1")])
        #expect(ViewRenderer.details(report: scenarioReport(), view: "processes", id: "nope") == nil)
        #expect(ViewRenderer.details(report: scenarioReport(), view: "nope", id: "h1;100") == nil)
    }

    @Test func detailsOfAGroupAndAClient() throws {
        let group = try #require(ViewRenderer.details(report: scenarioReport(), view: "processes-by-name", id: "group:client"))
        #expect(group.children.map(\.id) == ["h1;300", "h1;301"])
        #expect(group.outbound.count == 2 && group.outbound.allSatisfy { $0.peer == "group:server" && $0.remotePort == 8080 })
        let curl = try #require(ViewRenderer.details(report: scenarioReport(), view: "processes", id: "h1;200"))
        #expect(curl.outbound.count == 1)
        #expect(curl.outbound.first?.bytesSent == 1000 && curl.outbound.first?.bytesReceived == 2000)
        #expect(curl.outbound.first?.peerLabel == "server")
        let host = try #require(ViewRenderer.details(report: scenarioReport(), view: "hosts", id: "h1"))
        #expect(host.children.count == 12)
        #expect(host.metadata["localNetworks"]?.arrayValue?.count == 5)  // 127.0.0.1/8 is in two namespaces
    }

    @Test func catalogAndListing() throws {
        #expect(ViewCatalog.all.map(\.name) == ["processes", "processes-by-name", "hosts", "containers",
                                                "containers-by-image", "containers-by-hostname"])
        let listing = ViewCatalog.listing(report: scenarioReport())
        #expect(listing.map(\.nodeCount) == [13, 12, 3, 0, 0, 0])  // no containers: container views are empty
        #expect(listing.map(\.edgeCount) == [9, 8, 3, 0, 0, 0])
        #expect(listing[0].json["options"]?.arrayValue?.count == 4)
        #expect(listing[0].json["nodeCount"] == 13)
        #expect(throws: ViewError(.unknownView, "unknown view 'pods'; known views: processes, processes-by-name, hosts, containers, containers-by-image, containers-by-hostname")) {
            try ViewRenderer.render(report: Report(), view: "pods")
        }
    }
}
