import PeriscopeProtocol
import PeriscopeTopology

/// What the aggregator's loop knows of one publishing host: when it was last heard from, whether it is stale, and
/// its counters. Its report itself lives in the ``HostMerger`` on the merge queue. Plain value; owned by
/// ``ReportAggregator`` on the loop.
struct RemoteHost {
    let host: String
    /// The revision the merger holds (as of the last message it handled).
    var revision: Int64 = -1
    /// The publisher's refresh interval: the unit of "missed intervals".
    var refreshMillis: Int
    /// Monotonic ms of the last report, delta or heartbeat.
    var lastSeen: Double
    var connected = true
    var stale = false
    /// Full reports applied.
    var fullReports: UInt64 = 0
    /// Deltas applied.
    var deltas: UInt64 = 0
    /// Gaps detected (`report/resend` sent), and deltas ignored while waiting for the full report.
    var resends: UInt64 = 0
    var ignored: UInt64 = 0
    /// A gap was found and the host's deltas are ignored until its next full report (the bus; on a direct link
    /// the resend asked for follows at once).
    var awaitingFull = false
    var heartbeats: UInt64 = 0
    /// Nodes in the host's held report.
    var nodes = 0
    /// Wire bytes received (reports, deltas and heartbeats), and those of full reports and of deltas.
    var traffic = ByteRate()
    var fullBytes: UInt64 = 0
    var deltaBytes: UInt64 = 0

    init(host: String, refreshMillis: Int, now: Double) {
        self.host = host
        self.refreshMillis = refreshMillis
        lastSeen = now
    }

    /// `daemon/status` figures of this host.
    func json(now: Double) -> JSONValue {
        [
            "connected": .bool(connected), "stale": .bool(stale), "revision": .int(revision),
            "refreshMillis": .int(Int64(refreshMillis)), "silentMillis": .int(Int64(max(0, now - lastSeen))),
            "reports": .int(Int64(fullReports &+ deltas)), "fullReports": .int(Int64(fullReports)),
            "deltas": .int(Int64(deltas)), "resends": .int(Int64(resends)), "ignoredDeltas": .int(Int64(ignored)),
            "heartbeats": .int(Int64(heartbeats)),
            "bytesReceived": .int(Int64(traffic.total)), "bytesPerSecond": .double(traffic.perSecond(now: now)),
            "fullReportBytes": .int(Int64(fullBytes)), "deltaBytes": .int(Int64(deltaBytes)),
            "nodes": .int(Int64(nodes)), "awaitingFull": .bool(awaitingFull),
        ]
    }
}
