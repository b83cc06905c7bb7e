import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeServer
import PeriscopeServerTesting
import PeriscopeTopology
import PeriscopeViews
import Testing

/// `topology/get` keeps an incremental renderer per view and options between revisions: each answer is the whole
/// render of the report at its revision, whatever changed in between (connections coming and going, counters,
/// processes), with and without a filter.
@Suite("topology/get across revisions", .serialized)
struct TopologyGetRenderTests {
    @Test func everyAnswerIsTheWholeRenderOfItsRevision() throws {
        let embedded = try EmbeddedDaemon { $0.injectedReports = true }
        let topology = try #require(embedded.topology)
        let client = embedded.connect()
        var builder = ReportBuilder(hostID: "h1")
        let queries: [(JSONValue, String, ViewOptions, String)] = [
            (["view": "processes"], ViewCatalog.processes, ViewOptions(), ""),
            (["view": "processes", "filter": "name:curl"], ViewCatalog.processes, ViewOptions(), "name:curl"),
            (["view": "processes-by-name", "options": ["all": true]], ViewCatalog.processesByName, ViewOptions(all: true), ""),
        ]
        var id: Int64 = 1
        for step in 0..<12 {
            var snapshot = Fixtures.scenario(t: 100 + Double(step), includeCurl: step % 3 != 1, bytes: UInt64(1_000 * (step + 1)))
            if step % 4 == 2 {
                snapshot.processes.append(Fixtures.process(900, "newcli"))
                snapshot.sockets += [Fixtures.conn("127.0.0.1", 41000, "127.0.0.1", 8080, pid: 900),
                                     Fixtures.conn("127.0.0.1", 8080, "127.0.0.1", 41000, pid: 100)]
            }
            let report = builder.ingest(snapshot, metrics: step % 2 == 0)
            topology.install(report)
            let revision = topology.revision
            for (params, view, options, filter) in queries {
                id += 1
                let got = try #require(client.call("topology/get", params, id: id, lines: true, timeoutMillis: 10_000)?["result"])
                let spec = try ViewSpec(view: view, options: options)
                let expected = ViewRenderer.render(report: report, spec: spec,
                                                   filter: filter.isEmpty ? nil : try FilterExpression.parse(filter))
                // Through the wire's writer and parser, as the answer came (a double like 1.0 reads back as 1).
                let wire = try JSONParser().parse(JSONWriter.bytes(expected.json(revision: revision)))
                #expect(got == wire, "step \(step), \(params)")
            }
        }
    }
}
