extension ReportBuilder {
    /// Connection `id`, open in the previous report and absent now, becomes a retained closed connection (with
    /// its endpoints and processes as they were), last seen open at `lastSeen` (the previous ingest: an idle
    /// connection's node is not rewritten by every pass).
    mutating func noteClosed(_ id: String, _ connections: NodeTable, _ endpoints: NodeTable,
                             _ processes: NodeTable, at t: Double, lastSeen: Double) {
        guard let old = connections[id], old.latest[NodeKey.closed] != "true" else { return }
        var conn = old
        conn.set(NodeKey.closed, "true", at: t)
        conn.set(NodeKey.lastSeen, String(lastSeen), at: t)
        var nodes = [conn]
        let client = old.latest[NodeKey.client], server = old.latest[NodeKey.server]
        if let client, var node = endpoints[client] {
            node.adjacency = server.map { [$0] } ?? []
            nodes.append(node)
        }
        if let server, var node = endpoints[server] {
            node.adjacency = []
            nodes.append(node)
        }
        for key in [NodeKey.clientProcess, NodeKey.serverProcess] {
            if let pid = old.latest[key], let process = processes[pid] { nodes.append(process) }
        }
        retained[id] = Retained(closedAt: t, nodes: nodes)
    }

    /// When the first retained closed connection expires (seconds, the snapshots' clock); `nil` when none is kept.
    /// An ingest after it takes that connection out of the report.
    public var retainedUntil: Double? {
        retained.values.lazy.map(\.closedAt).min().map { $0 + retention }
    }

    /// Forgets the retained connections that reopened or expired, and returns their ids.
    mutating func expireRetained(_ state: TopologyEngine, at t: Double) -> Set<String> {
        var expired: Set<String> = []
        for (id, entry) in retained where state.connections[id] != nil || t - entry.closedAt > retention {
            expired.insert(id)
        }
        for id in expired { retained[id] = nil }
        return expired
    }

    /// Adds the retained connections to the report: their processes (marked exited) unless alive, their
    /// connection nodes, and the endpoints of connections not merged before.
    ///
    /// The engine notes what was merged: a retained connection node never changes, so one already in place
    /// stays; an endpoint that retained nodes were merged into is rebuilt only when it changes (see
    /// `updateEndpoints`).
    mutating func addRetained(_ endpoints: inout Topology, _ connections: inout Topology, _ processes: inout Topology,
                              _ state: TopologyEngine, at t: Double) {
        let inPlace = state.overlayConnections
        var overlayConnections: Set<String> = []
        overlayConnections.reserveCapacity(retained.count)
        for (id, entry) in retained {
            let merged = inPlace.contains(id)
            for node in entry.nodes {
                switch node.topology {
                case .process:
                    if processes.nodes[node.id] != nil { continue }  // still alive: the live node wins
                    var exited = node
                    exited.set(NodeKey.exited, "true", at: entry.closedAt)
                    processes.add(exited)
                case .endpoint:
                    if merged { continue }
                    endpoints.add(node)
                    state.overlayEndpoints[node.id, default: []].append(id)
                case .connection:
                    if !merged { connections.add(node) }
                default:
                    continue  // the builder retains no other kinds
                }
            }
            overlayConnections.insert(id)
        }
        for id in inPlace where !overlayConnections.contains(id) && state.connections[id] == nil {
            connections.nodes[id] = nil
        }
        state.overlayConnections = overlayConnections
    }
}
