import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

func randomView(_ rng: inout SplitMix64) -> RenderedView {
    var view = RenderedView(view: "processes")
    let ids = (0..<12).map { "n\($0)" }
    for id in ids where rng.int(3) > 0 {
        view.nodes[id] = NodeSummary(id: id, label: "l\(rng.int(3))", labelMinor: "", kind: .process, pseudo: rng.int(2) == 0,
                                     rank: "r", metadata: ["pid": .int(Int64(rng.int(3)))],
                                     metrics: NodeMetrics(cpu: Double(rng.int(3)), connectionsIn: rng.int(2)))
    }
    for _ in 0..<rng.int(15) {
        let s = ids[rng.int(ids.count)], t = ids[rng.int(ids.count)]
        let e = EdgeSummary(source: s, target: t, protocols: ["tcp"], ports: [rng.int(3)], connections: rng.int(3) + 1,
                            bytesPerSecond: rng.int(2) == 0 ? nil : Double(rng.int(4)), closed: rng.int(4) == 0)
        view.edges[e.id] = e
    }
    return view
}

@Suite struct DiffTests {
    @Test(arguments: Array(UInt64(1)...200)) func applyingTheDiffGivesTheNewView(seed: UInt64) {
        var rng = SplitMix64(seed: seed)
        let a = randomView(&rng), b = randomView(&rng)
        let diff = ViewDiff(from: a, to: b)
        #expect(diff.apply(to: a) == b)
        #expect(ViewDiff(from: a, to: a).isEmpty)
        #expect(ViewDiff(from: RenderedView(view: "processes"), to: b).addedNodes.count == b.nodes.count)
    }

    @Test func diffBetweenTwoRenders() throws {
        var builder = ReportBuilder(hostID: "h1", retention: 0)
        let before = try ViewRenderer.render(report: builder.ingest(Fixtures.scenario(t: 100)), view: "processes")
        _ = builder.ingest(Fixtures.scenario(t: 101, includeCurl: false))  // closed, retained 0 s
        let after = try ViewRenderer.render(report: builder.ingest(Fixtures.scenario(t: 102, includeCurl: false)),
                                            view: "processes")
        let diff = ViewDiff(from: before, to: after)
        #expect(diff.removedNodes == ["h1;200"])
        #expect(diff.removedEdges == ["h1;200->h1;100"])
        #expect(diff.addedNodes.isEmpty && diff.addedEdges.isEmpty)
        #expect(diff.updatedNodes.map(\.id) == ["h1;100"])  // one connection fewer
        #expect(diff.json["removed"]?["nodes"] == ["h1;200"])
        #expect(diff.json["added"]?["edges"] == [])
        #expect(diff.apply(to: before) == after)
    }
}

@Suite struct JSONShapeTests {
    @Test func nodeEdgeAndViewJSON() throws {
        let view = try ViewRenderer.render(report: scenarioReport(), view: "processes")
        let json = view.json(revision: 7)
        #expect(json["revision"] == 7 && json["view"] == "processes")
        #expect(json["nodes"]?.arrayValue?.count == 13)
        let node = try #require(json["nodes"]?.arrayValue?.first { $0["id"] == "h1;100" })
        #expect(Set(node.objectValue?.keys.map { $0 } ?? []) ==
                ["id", "label", "labelMinor", "kind", "pseudo", "rank", "metadata", "metrics", "parents"])
        #expect(node["metrics"] == ["cpu": 60.0, "memory": 1_000_000, "connectionsIn": 4, "connectionsOut": 0])
        #expect(node["parents"] == ["host": ["h1"]])
        let edge = try #require(json["edges"]?.arrayValue?.first { $0["id"] == "pseudo:internet->h1;100" })
        #expect(edge == ["id": "pseudo:internet->h1;100", "source": "pseudo:internet", "target": "h1;100",
                         "protocols": ["tcp"], "ports": [8080], "connections": 1, "closed": false, "rttMillis": 0.5])
        let details = try #require(ViewRenderer.details(report: scenarioReport(), view: "processes", id: "h1;200"))
        let row = try #require(details.json["outbound"]?.arrayValue?.first)
        #expect(row["localAddress"] == "127.0.0.1" && row["remotePort"] == 8080 && row["protocol"] == "tcp")
        #expect(row["bytesSent"] == 1000 && row["peer"] == "h1;100")
        #expect(details.json["metrics"]?["cpu"]?.arrayValue?.first == ["timestamp": 100.0, "value": 1.0])
    }

    @Test func reportJSON() throws {
        let json = scenarioReport().json
        let process = try #require(json["topologies"]?["process"]?["nodes"]?["h1;100"])
        #expect(process["latest"]?["name"] == ["timestamp": 100.0, "value": "server"])
        #expect(process["parents"] == ["host": ["h1"]])
        #expect(json["topologies"]?["container"]?["nodes"] == .object([:]))
    }
}
