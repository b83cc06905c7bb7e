import PeriscopeProtocol
import PeriscopeTopology

/// What the aggregator holds for one publishing host: its newest report, when it was last heard from, and
/// its traffic. Plain value; owned by ``ReportAggregator`` on the loop.
struct RemoteHost {
    let host: String
    var report: Report
    var revision: Int64
    /// The publisher's refresh interval: the unit of "missed intervals".
    var refreshMillis: Int
    /// Monotonic ms of the last report or heartbeat.
    var lastSeen: Double
    var connected: Bool
    var stale = false
    var reports: UInt64 = 0
    var heartbeats: UInt64 = 0
    /// Wire bytes received (reports and heartbeats).
    var traffic = ByteRate()

    init(host: String, report: Report, revision: Int64, refreshMillis: Int, now: Double) {
        self.host = host
        self.report = report
        self.revision = revision
        self.refreshMillis = refreshMillis
        lastSeen = now
        connected = true
    }

    /// The report with every process, host and container node marked `stale` (endpoints and connections are
    /// shared with other hosts' views, so they are left alone).
    func staleReport(at timestamp: Double) -> Report {
        var marked = Report()
        for kind in TopologyKind.allCases {
            var topology = report[kind]
            if kind == .process || kind == .host || kind == .container {
                for id in Array(topology.nodes.keys) { topology.nodes[id]?.set(NodeKey.stale, "true", at: timestamp) }
            }
            marked[kind] = topology
        }
        return marked
    }

    /// `daemon/status` figures of this host.
    func json(now: Double) -> JSONValue {
        [
            "connected": .bool(connected), "stale": .bool(stale), "revision": .int(revision),
            "refreshMillis": .int(Int64(refreshMillis)), "silentMillis": .int(Int64(max(0, now - lastSeen))),
            "reports": .int(Int64(reports)), "heartbeats": .int(Int64(heartbeats)),
            "bytesReceived": .int(Int64(traffic.total)), "bytesPerSecond": .double(traffic.perSecond(now: now)),
            "nodes": .int(Int64(report.nodeCount)),
        ]
    }
}
