import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import Testing
@testable import PeriscopeViews

/// The L7 figures (issue 14) from their text form on report nodes to edges, node details, filters and the
/// Prometheus exposition; the histogram the BPF programs fill.
@Suite struct L7Tests {
    static func figures(_ name: String = "http", requests: Int, errors: Int, micros: UInt64, seconds: Double = 2) -> L7Figures {
        var f = L7Figures(protocolName: name, seconds: seconds)
        f.requests = requests
        f.responses = requests
        f.serverErrors = errors
        f.histogram[L7Histogram.bucket(micros: micros)] = requests
        f.totalRequests = requests * 3
        f.totalResponses = requests * 3
        f.totalErrors = errors * 3
        f.totalHistogram[L7Histogram.bucket(micros: micros)] = requests * 3
        return f
    }

    /// The scenario's report, with `server` figures on its first connection between two processes.
    static func annotated(server: L7Figures?, client: L7Figures?) throws -> (Report, Node) {
        var builder = ReportBuilder(hostID: "h1")
        var report = builder.ingest(Fixtures.scenario())
        let connection = try #require(report.connections.nodes.values.sorted { $0.id < $1.id }.first {
            $0.latest[NodeKey.clientProcess] != nil && $0.latest[NodeKey.serverProcess] != nil
                && $0.latest[NodeKey.clientProcess] != $0.latest[NodeKey.serverProcess]
        })
        var latest = LatestMap()
        if let server { latest.set(NodeKey.l7Server, server.text, at: 1) }
        if let client { latest.set(NodeKey.l7Client, client.text, at: 1) }
        report.add(Node(id: connection.id, topology: .connection, latest: latest))
        if let server, let pid = connection.latest[NodeKey.serverProcess] {
            var p = LatestMap()
            p.set(NodeKey.l7Prefix + "http:server", server.text, at: 1)
            report.add(Node(id: pid, topology: .process, latest: p))
        }
        return (report, connection)
    }

    @Test func textRoundTrips() throws {
        var f = Self.figures(requests: 10, errors: 2, micros: 1500)
        f.sni = "example.com"
        f.bytesIn = 7
        f.clientErrors = 1
        let back = try #require(L7Figures(text: f.text))
        #expect(back == f)
        #expect(L7Figures(text: "s=1 rq=2") == nil)            // no protocol
        #expect(L7Figures(text: "p=http s=0 rq=2") == nil)     // no window
        #expect(L7Figures(text: "p=http s=1 h=9999:1,x:2")?.histogram.isEmpty == true)
    }

    @Test func histogramBucketsHoldTheirValuesAndAreNarrow() {
        var previous = -1
        for micros in [0, 1, 7, 8, 9, 15, 16, 100, 1000, 20_000, 123_456, 10_000_000] as [UInt64] {
            let b = L7Histogram.bucket(micros: micros)
            let r = L7Histogram.range(b)
            #expect(r.lower <= Double(micros) && Double(micros) < r.upper, "\(micros) → \(b) \(r)")
            if b >= 8 { #expect((r.upper - r.lower) / r.lower <= 0.125) }
            #expect(b >= previous)
            previous = b
        }
        let p50 = L7Histogram.quantileMillis([L7Histogram.bucket(micros: 20_000): 100], 0.5)
        #expect(p50.map { abs($0 - 20) / 20 < 0.07 } == true)
        #expect(L7Histogram.quantileMillis([:], 0.5) == nil)
    }

    @Test func edgeCarriesTheServerSideFigures() throws {
        let server = Self.figures(requests: 100, errors: 10, micros: 20_000)
        let client = Self.figures(requests: 1, errors: 0, micros: 5)
        let (report, connection) = try Self.annotated(server: server, client: client)
        let view = try ViewRenderer.render(report: report, view: "processes")
        let source = try #require(connection.latest[NodeKey.clientProcess])
        let target = try #require(connection.latest[NodeKey.serverProcess])
        let edge = try #require(view.edges[EdgeSummary.id(source: source, target: target)])
        let l7 = try #require(edge.l7)
        #expect(l7.protocolName == "http")
        #expect(l7.requestsPerSecond == 50 && l7.errorsPerSecond == 5)
        #expect(l7.requests == 300 && l7.errors == 30)
        #expect(l7.latencyP50Ms.map { abs($0 - 20) < 1.5 } == true)
        #expect(view.edges.values.filter { $0.l7 != nil }.count == 1)
        #expect(edge.json.objectValue?["l7"]?.objectValue?["protocol"] == .string("http"))
    }

    @Test func clientSideIsUsedWhenTheServerIsNotWatched() throws {
        let (report, connection) = try Self.annotated(server: nil, client: Self.figures(requests: 4, errors: 0, micros: 300))
        let view = try ViewRenderer.render(report: report, view: "processes")
        let id = EdgeSummary.id(source: connection.latest[NodeKey.clientProcess] ?? "",
                                target: connection.latest[NodeKey.serverProcess] ?? "")
        #expect(view.edges[id]?.l7?.requestsPerSecond == 2)
    }

    @Test func detailsFiltersAndMetricsReadTheProcessFigures() throws {
        let (report, connection) = try Self.annotated(server: Self.figures(requests: 100, errors: 10, micros: 20_000),
                                                      client: nil)
        let target = try #require(connection.latest[NodeKey.serverProcess])
        let details = try #require(ViewRenderer.details(report: report, view: "processes", id: target))
        #expect(details.l7.map(\.protocolName) == ["http"] && details.l7.first?.side == "server")
        #expect(details.metadata.keys.allSatisfy { !$0.hasPrefix("l7:") })
        for (filter, kept) in [("protocol:http", true), ("protocol:redis", false), ("errors>0", true),
                               ("latency>10", true), ("latency>100", false), ("requests>=50", true)] {
            let f = try FilterExpression.parse(filter)
            let view = try ViewRenderer.render(report: report, view: "processes", filter: f)
            #expect((view.nodes[target] != nil) == kept, "\(filter)")
        }
        let text = MetricsExposition.render(report: report)
        #expect(text.contains("# TYPE periscope_edge_l7_request_duration_seconds histogram"))
        let count = text.split(separator: "\n").first {
            $0.hasPrefix("periscope_edge_l7_requests_total{") && $0.contains("target=\"\(target)\"")
        }
        #expect(count?.hasSuffix(" 300") == true)
        #expect(text.contains("periscope_node_l7_errors_total{node=\"\(target)\""))
    }
}
