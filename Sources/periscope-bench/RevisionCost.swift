import ArgumentParser
import PeriscopeSystem
import PeriscopeTopology

/// What one new revision costs while the previous one is still referenced (the loop holds it for views,
/// history and the publisher), in-process:
/// - at the aggregator: `hosts` synthetic host reports merged into one composition, then a small change of one
///   host applied the way the merge queue applies it (each touched node replaced in its topology);
/// - at a host with `connections` connections: the report builder's event path (one new connection) after a
///   full ingest.
/// Uses only `Report`/`Topology`/`ReportBuilder` API that predates the sharded node table, so the same file
/// builds on an older tree for the figures before it.
struct RevisionCost: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revision-cost",
        abstract: "Time per revision at the aggregator and at a host, with the previous revision referenced."
    )

    @Option(help: "Hosts merged at the aggregator.") var hosts = 200
    @Option(help: "Nodes per host report (about: 10 % processes, 60 % endpoints, 30 % connections).") var nodesPerHost = 500
    @Option(help: "Nodes replaced per topology kind in each aggregator revision.") var changed = 2
    @Option(help: "Connections of the host report.") var connections = 10_000
    @Option(help: "Revisions timed in each part.") var revisions = 300

    func run() throws {
        aggregator()
        host()
    }

    /// Per-revision figures: median, p90 and mean, µs.
    private func summary(_ nanos: [UInt64]) -> String {
        let sorted = nanos.sorted()
        func at(_ q: Double) -> Double { Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]) / 1000 }
        let mean = Double(sorted.reduce(0, +)) / Double(max(1, sorted.count)) / 1000
        return "p50 \(String(format2: at(0.5))) us, p90 \(String(format2: at(0.9))) us, mean \(String(format2: mean)) us"
    }

    private func aggregator() {
        let processes = max(1, nodesPerHost / 10), endpoints = nodesPerHost * 6 / 10, conns = nodesPerHost * 3 / 10
        func report(_ h: Int) -> Report {
            var r = Report()
            let host = "host\(h)"
            r.add(Self.node(host, .host, 0))
            for p in 0..<processes { r.add(Self.node("\(host);\(1000 + p)", .process, 0)) }
            for e in 0..<endpoints { r.add(Self.node("\(host);10.\(h / 250).\(h % 250).1;\(20000 + e)", .endpoint, 0)) }
            for c in 0..<conns { r.add(Self.node("\(host);conn\(c)", .connection, 0)) }
            return r
        }
        var composed = Report()
        for h in 0..<hosts { composed.merge(report(h)) }
        print("aggregator: \(hosts) hosts, \(composed.nodeCount) nodes merged; \(changed) nodes replaced per kind per revision")
        for holding in [true, false] {
            var times: [UInt64] = []
            var previous: Report?
            for r in 0..<revisions {
                let h = r % hosts, host = "host\(h)"
                let updates: [(TopologyKind, [Node])] = [
                    (.process, (0..<changed).map { Self.node("\(host);\(1000 + $0 % processes)", .process, r + 1) }),
                    (.endpoint, (0..<changed).map { Self.node("\(host);10.\(h / 250).\(h % 250).1;\(20000 + $0 % endpoints)", .endpoint, r + 1) }),
                    (.connection, (0..<changed).map { Self.node("\(host);conn\($0 % conns)", .connection, r + 1) }),
                ]
                previous = holding ? composed : nil  // the delivered revision the loop still holds
                let start = SystemClock.monotonicNanos()
                for (kind, nodes) in updates {
                    var topology = composed[kind]
                    composed[kind] = Topology(kind: kind)  // as the merge queue does: the only reference it keeps
                    for node in nodes where topology.nodes[node.id] != node { topology.nodes[node.id] = node }
                    composed[kind] = topology
                }
                times.append(SystemClock.monotonicNanos() &- start)
            }
            withExtendedLifetime(previous) {}
            print("  revision, previous \(holding ? "held" : "released"): \(summary(times))")
        }
    }

    private func host() {
        let netns: UInt64 = 4_026_531_840
        let addresses = [InterfaceAddress(interface: "lo", address: "127.0.0.1", prefixLength: 8, netns: netns),
                         InterfaceAddress(interface: "eth0", address: "10.1.0.1", prefixLength: 24, netns: netns)]
        let hostRecord = HostRecord(hostname: "bench", cpuCount: 2, memoryTotalBytes: 4_000_000, addresses: addresses)
        let processes = (0..<200).map { i in
            ProcessRecord(pid: Int32(1000 + i), ppid: 1, name: "p\(i)", command: "p\(i) --serve", uid: 1000,
                          cpuPercent: 1, rssBytes: 1_000_000, netns: netns)
        }
        func socket(_ i: Int) -> SocketRecord {
            SocketRecord(proto: .tcp, family: .ipv4, state: "established", localAddress: "10.1.0.1",
                         localPort: UInt16(10_000 + i % 50_000), remoteAddress: "10.9.\(i / 250 % 250).\(i % 250 + 1)",
                         remotePort: UInt16(443 + i / 62_500), inode: UInt64(100_000 + i), uid: 1000, netns: netns,
                         pid: Int32(1000 + i % 200),
                         tcpInfo: TCPInfoRecord(rttMicros: 500, rttVarMicros: 10, bytesSent: 1000, bytesReceived: 1000, retransmits: 0))
        }
        let snapshot = HostSnapshot(timestamp: 1, host: hostRecord, processes: processes,
                                    sockets: (0..<connections).map(socket), hostNetns: netns)
        for holding in [true, false] {
            var builder = ReportBuilder(hostID: "bench")
            var previous = builder.ingest(snapshot)
            if holding {
                print("host: \(connections) connections, \(previous.nodeCount) nodes; one new connection per revision")
            }
            var times: [UInt64] = []
            for r in 0..<revisions {
                let added = socket(connections + r)
                var next = snapshot
                next.timestamp = 2 + Double(r) / 100
                if !holding { previous = Report() }
                let start = SystemClock.monotonicNanos()
                guard let report = builder.ingest(next, removing: [], adding: [added]) else {
                    print("  the builder refused the event path")
                    return
                }
                times.append(SystemClock.monotonicNanos() &- start)
                if holding { previous = report }  // what the daemon publishes and the loop keeps
            }
            withExtendedLifetime(previous) {}
            print("  revision, previous \(holding ? "held" : "released"): \(summary(times))")
        }
    }

    private static func node(_ id: String, _ kind: TopologyKind, _ revision: Int) -> Node {
        var node = Node(id: id, topology: kind)
        node.set("name", id, at: 0)
        node.set("revision", String(revision), at: Double(revision))
        return node
    }
}
