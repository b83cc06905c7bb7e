import PeriscopeFixtures
import Testing
@testable import PeriscopeTopology

/// The builder updates its previous report in place; a copy of a builder rebuilds from its report instead.
/// Both must give the same report for every snapshot of a sequence that opens, closes and reopens
/// connections, changes listeners and namespace addresses, and lets retention expire.
@Suite struct IncrementalBuilderTests {
    static func sequence() -> [HostSnapshot] {
        var out: [HostSnapshot] = []
        for i in 0..<14 {
            var s = Fixtures.scenario(t: 100 + Double(i) * (i == 9 ? 20 : 1), includeCurl: i % 4 != 2,
                                      bytes: UInt64(1000 * (i + 1)))
            if i % 3 == 1 {  // a new listener makes 701's connection to 60000's peer port inbound-capable
                s.sockets.append(Fixtures.listen("127.0.0.1", 1000, pid: 701))
            }
            if i % 5 == 3 {  // a socket in the other namespace on a new address
                s.sockets.append(Fixtures.conn("10.200.0.9", 40100, "10.200.0.1", 8080, pid: 300, netns: Fixtures.otherNS))
            }
            if i >= 6 { s.sockets.removeAll { $0.pid == 600 } }  // app's connections close
            if i == 11 { s.processes.removeAll { $0.pid == 200 } }  // curl exits
            out.append(s)
        }
        return out
    }

    @Test func incrementalEqualsRebuild() {
        var builder = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 3)
        for (i, snapshot) in Self.sequence().enumerated() {
            var copy = builder  // shares the incremental state, so its ingest starts over
            let rebuilt = copy.ingest(snapshot)
            let incremental = builder.ingest(snapshot)
            var differing: [String] = []
            for kind in TopologyKind.allCases {
                let ids = Set(incremental[kind].nodes.keys).union(rebuilt[kind].nodes.keys)
                for id in ids where incremental[kind][id] != rebuilt[kind][id] { differing.append("\(kind) \(id)") }
            }
            #expect(differing.isEmpty, "snapshot \(i): \(differing.sorted())")
        }
        #expect(builder.current.connections.count > 0)
    }

    /// A process-only update (no socket came or went) gives the nodes a full ingest gives.
    @Test func processOnlyUpdateEqualsFullIngest() {
        let first = Self.sequence()[0]
        var events = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 3)
        _ = events.ingest(first)
        var next = first
        next.timestamp += 0.5
        let owners = Set(first.sockets.compactMap(\.pid))
        next.processes.removeAll { !owners.contains($0.pid) && $0.pid != 1 }
        next.processes.append(ProcessRecord(pid: 9999, ppid: 1, name: "new", command: "new --flag"))
        let a = events.updateProcesses(next)
        var full = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 3)
        _ = full.ingest(first)
        let b = full.ingest(next)
        for kind in TopologyKind.allCases {
            #expect(Set(a[kind].nodes.keys) == Set(b[kind].nodes.keys), "\(kind)")
        }
        #expect(a[.process].nodes[NodeID.process(hostID: "h1", pid: 9999)]?.latest[NodeKey.command] == "new --flag")
        for (id, node) in b[.process].nodes {
            #expect(a[.process].nodes[id]?.sets == node.sets, "\(id): listeners")
        }
    }

    /// Event-driven ingests (`metrics: false`) keep unchanged process nodes as they were: apart from metric
    /// samples and timestamps, the report is the one a full ingest gives (listeners and exits included).
    @Test func ingestWithoutMetricsEqualsFullIngestButForSamples() {
        var events = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 3)
        var full = ReportBuilder(hostID: "h1", retention: 5, connectionHistoryLength: 3)
        for (i, snapshot) in Self.sequence().enumerated() {
            let a = events.ingest(snapshot, metrics: i % 3 == 0)
            let b = full.ingest(snapshot)
            for kind in TopologyKind.allCases {
                #expect(Set(a[kind].nodes.keys) == Set(b[kind].nodes.keys), "snapshot \(i) \(kind)")
            }
            for (id, node) in b[.process].nodes {
                let other = a[.process].nodes[id]
                #expect(other?.latest.entries.keys.sorted() == node.latest.entries.keys.sorted(), "snapshot \(i) \(id)")
                for key in node.latest.entries.keys where key != NodeKey.lastSeen {
                    #expect(other?.latest[key] == node.latest[key], "snapshot \(i) \(id) \(key)")
                }
                #expect(other?.sets == node.sets, "snapshot \(i) \(id): listeners")
                #expect(other?.parents == node.parents, "snapshot \(i) \(id)")
            }
        }
    }
}
