import PeriscopeFixtures
import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews
import Testing
@testable import PeriscopeServer

/// The report codec between publisher and aggregator: exact round trips, bounded inflating, and the rule
/// that a publisher may only describe its own host.
@Suite struct ReportWireTests {
    static func report(host: String) -> Report {
        var report = Report()
        var hostNode = Node(id: host, topology: .host)
        hostNode.set("hostname", host, at: 1.5)
        hostNode.record("cpu", 12.5, at: 1.5)
        report.add(hostNode)
        var process = Node(id: "\(host);42", topology: .process)
        process.set("name", "db", at: 1.5)
        process.sets["listening"] = ["tcp/0.0.0.0:5432"]
        process.addParent(.host, host)
        report.add(process)
        var endpoint = Node(id: ";10.0.0.2;5432;tcp", topology: .endpoint)
        endpoint.addParent(.process, "\(host);42")
        endpoint.adjacency = [";10.0.0.1;40000;tcp"]
        report.add(endpoint)
        report.add(Node(id: "\(host)/1;127.0.0.1;80;tcp", topology: .endpoint))
        return report
    }

    @Test func roundTripIsExact() throws {
        let original = Self.report(host: "ph1")
        let compressed = ReportWire.compress(original)
        #expect(!compressed.isEmpty)
        #expect(try ReportWire.decompress(compressed) == original)
        #expect(ReportWire.claimViolation(original, host: "ph1") == nil)
    }

    @Test func decodedConnectionsGetTypedSidesAndRenderAsTheOriginal() throws {
        var builder = ReportBuilder(hostID: "h1")
        let original = builder.ingest(Fixtures.scenario())
        let decoded = try ReportWire.decompress(ReportWire.compress(original))
        #expect(decoded == original, "sides included")
        for node in decoded.connections.nodes.values { #expect(node.sides?.connectionID == node.id) }
        for view in ["processes", "processes-by-name", "hosts"] {
            let options = view == "hosts" ? ViewOptions() : ViewOptions(all: true)
            let before = try ViewRenderer.render(report: original, view: view, options: options)
            #expect(!before.edges.isEmpty)
            #expect(try ViewRenderer.render(report: decoded, view: view, options: options) == before, "\(view)")
        }
    }

    @Test func aStreamCarriesSuccessiveReportsAndRepeatsCostLittle() throws {
        let deflater = try #require(ZlibStream(deflating: true))
        let inflater = try #require(ZlibStream(deflating: false))
        var sizes: [Int] = []
        for host in ["ph1", "ph1", "ph2"] {
            let report = Self.report(host: host)
            let frame = try #require(ReportWire.compress(report, on: deflater))
            sizes.append(frame.count)
            let json = try #require(inflater.process(frame, limit: ReportWire.maxInflatedBytes))
            #expect(try ReportWire.parse(json) == report)
        }
        #expect(sizes[1] * 3 < sizes[0], "a repeated report is mostly back-references: \(sizes)")
        // A frame the inflater never saw the start of breaks the stream for good.
        let other = try #require(ZlibStream(deflating: false))
        #expect(other.process(try #require(ReportWire.compress(Self.report(host: "ph3"), on: deflater)), limit: 1 << 20) == nil)
        #expect(other.failed)
        // Inflating is bounded.
        let bomb = try #require(ZlibStream(deflating: true))
        let small = try #require(ZlibStream(deflating: false))
        #expect(small.process(try #require(bomb.process([UInt8](repeating: 0x20, count: 1 << 20), limit: 1 << 21)), limit: 1 << 16) == nil)
    }

    @Test func aPublisherCannotSpeakForAnotherHost() {
        let report = Self.report(host: "ph1")
        #expect(ReportWire.claimViolation(report, host: "ph2") != nil)
        var sneaky = Self.report(host: "ph2")
        sneaky.add(Node(id: "ph1;7", topology: .process))
        #expect(ReportWire.claimViolation(sneaky, host: "ph2") == "report names process ph1;7")
        var scoped = Self.report(host: "ph2")
        scoped.add(Node(id: "ph1/1;127.0.0.1;80;tcp", topology: .endpoint))
        #expect(ReportWire.claimViolation(scoped, host: "ph2") != nil)
        var adopted = Self.report(host: "ph2")
        var endpoint = Node(id: ";10.0.0.9;80;tcp", topology: .endpoint)
        endpoint.addParent(.process, "ph1;1")
        adopted.add(endpoint)
        #expect(ReportWire.claimViolation(adopted, host: "ph2") == "endpoint ;10.0.0.9;80;tcp names another host's parent")
    }

    @Test func garbageAndBombsAreRefused() {
        #expect(throws: ReportWireError.self) { try ReportWire.decompress(Array("not zlib".utf8)) }
        #expect(throws: ReportWireError.self) { try ReportWire.decompress([]) }
        // 65 MiB of spaces compress to ~64 KiB; inflating must stop at the 64 MiB bound.
        let compressed = ReportWire.deflate([UInt8](repeating: 0x20, count: 65 << 20))
        #expect(compressed.count < 1 << 20)
        #expect(throws: ReportWireError.self) { try ReportWire.decompress(compressed) }
    }
}
