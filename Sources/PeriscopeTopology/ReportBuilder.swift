/// Turns the successive ``HostSnapshot``s of one host into its current ``Report``.
///
/// Each ``ingest(_:)`` returns the full current state of the host (not a delta):
/// - a host node, one process node per process, and for each connected socket its two endpoint nodes
///   (adjacency client → server) and a connection node (see ``TopologyKind/connection``);
/// - **direction** comes from listening sockets only: a socket is the server side of its connection when its
///   local address/port matches a listener of the same namespace and protocol (wildcards match, see
///   ``ListenerIndex``); otherwise it is the client side. Port numbers are never compared;
/// - metric histories (process CPU and RSS, host CPU/memory/load, per-connection byte counters and RTT)
///   are carried from one snapshot to the next;
/// - nodes missing from the snapshot are dropped, except connections that closed: they stay for
///   ``retention`` seconds with `closed = "true"` (with their endpoints, and their processes marked
///   `exited = "true"` if those have gone).
///
/// A value type with no shared state: keep one per host and call it from one place.
public struct ReportBuilder: Sendable {
    /// The id of the host node, also the prefix of process ids and the scope of host-internal endpoints.
    public let hostID: String
    /// Seconds a closed connection stays in the report after it was last seen open.
    public var retention: Double
    /// Samples kept per connection metric (byte counters, RTT); histories of processes and hosts keep
    /// ``MetricHistory/capacity``. Short per-connection histories keep memory flat at 10,000 connections.
    public var connectionHistoryLength: Int

    /// The report returned by the last ``ingest(_:)``.
    public private(set) var current = Report()

    struct Retained: Sendable {
        var closedAt: Double
        var nodes: [Node]
    }

    private var retained: [String: Retained] = [:]

    /// A builder for host `hostID`, keeping closed connections for `retention` seconds (default 10).
    public init(hostID: String, retention: Double = 10, connectionHistoryLength: Int = 8) {
        self.hostID = hostID
        self.retention = retention
        self.connectionHistoryLength = max(2, connectionHistoryLength)
    }

    /// Folds `snapshot` into the state and returns the host's current report.
    public mutating func ingest(_ snapshot: HostSnapshot) -> Report {
        let t = snapshot.timestamp
        var assembly = ReportAssembly(hostID: hostID, snapshot: snapshot)
        assembly.build()
        var report = assembly.report

        carryMetrics(into: &report)
        noteClosedConnections(in: report, at: t)
        addRetained(to: &report, at: t)

        current = report
        return report
    }

    /// Merges the metric histories of the previous report into the nodes that are still present.
    private func carryMetrics(into report: inout Report) {
        for kind in [TopologyKind.process, .host, .connection] {
            var topology = report[kind]
            let previous = current[kind]
            let limit = kind == .connection ? connectionHistoryLength : MetricHistory.capacity
            for (id, var node) in topology.nodes {
                guard let old = previous.nodes[id], !old.metrics.isEmpty else { continue }
                for (key, history) in old.metrics {
                    var merged = history
                    if let fresh = node.metrics[key] { merged.merge(fresh) }
                    node.metrics[key] = merged.samples.count > limit ? merged.suffix(limit) : merged
                }
                topology.nodes[id] = node
            }
            report[kind] = topology
        }
    }

    /// Connections open in the previous report and absent now become retained closed connections.
    private mutating func noteClosedConnections(in report: Report, at t: Double) {
        for (id, old) in current.connections.nodes where old.latest[NodeKey.closed] != "true" {
            if report.connections.nodes[id] != nil { continue }
            var conn = old
            conn.set(NodeKey.closed, "true", at: t)
            var nodes = [conn]
            let client = old.latest[NodeKey.client], server = old.latest[NodeKey.server]
            if let client, var node = current.endpoints.nodes[client] {
                node.adjacency = server.map { [$0] } ?? []
                nodes.append(node)
            }
            if let server, var node = current.endpoints.nodes[server] {
                node.adjacency = []
                nodes.append(node)
            }
            for key in [NodeKey.clientProcess, NodeKey.serverProcess] {
                if let pid = old.latest[key], let process = current.processes.nodes[pid] { nodes.append(process) }
            }
            retained[id] = Retained(closedAt: t, nodes: nodes)
        }
    }

    /// Adds unexpired retained connections to `report` and forgets expired or reopened ones.
    private mutating func addRetained(to report: inout Report, at t: Double) {
        for (id, entry) in retained {
            if report.connections.nodes[id] != nil || t - entry.closedAt > retention {
                retained[id] = nil
                continue
            }
            for var node in entry.nodes {
                if node.topology == .process {
                    if report.processes.nodes[node.id] != nil { continue }  // still alive: the live node wins
                    node.set(NodeKey.exited, "true", at: entry.closedAt)
                }
                report.add(node)
            }
        }
    }
}
