/// Nodes built whole from each snapshot (host, processes, new connections), and the carrying of metric histories
/// from the previous report into them.
enum SnapshotNodes {
    static func host(_ hostID: String, _ h: HostRecord, at t: Double) -> Node {
        var node = Node(id: NodeID.host(hostID), topology: .host)
        node.set(NodeKey.hostname, h.hostname, at: t)
        node.set(NodeKey.os, h.os, at: t)
        node.set(NodeKey.kernel, h.kernel, at: t)
        node.set(NodeKey.uptime, String(h.uptimeSeconds), at: t)
        node.set(NodeKey.cpuCount, String(h.cpuCount), at: t)
        node.set(NodeKey.memoryTotal, String(h.memoryTotalBytes), at: t)
        node.set(NodeKey.memoryAvailable, String(h.memoryAvailableBytes), at: t)
        node.set(NodeKey.load1, String(h.load1), at: t)
        node.set(NodeKey.load5, String(h.load5), at: t)
        node.set(NodeKey.load15, String(h.load15), at: t)
        node.sets[NodeKey.localNetworks] = Set(h.addresses.map { "\($0.address)/\($0.prefixLength)" })
        node.record(MetricKey.cpu, h.cpuPercent, at: t)
        let used = h.memoryTotalBytes >= h.memoryAvailableBytes ? h.memoryTotalBytes - h.memoryAvailableBytes : 0
        node.record(MetricKey.memory, Double(used), at: t)
        node.record(MetricKey.load, h.load1, at: t)
        return node
    }

    static func process(_ hostID: String, _ p: ProcessRecord, at t: Double) -> Node {
        var node = Node(id: NodeID.process(hostID: hostID, pid: p.pid), topology: .process,
                        latest: LatestMap(minimumCapacity: 15))
        node.set(NodeKey.pid, String(p.pid), at: t)
        node.set(NodeKey.ppid, String(p.ppid), at: t)
        node.set(NodeKey.name, p.name, at: t)
        node.set(NodeKey.command, p.command, at: t)
        if let exe = p.executable { node.set(NodeKey.executable, exe, at: t) }
        if let cwd = p.cwd { node.set(NodeKey.cwd, cwd, at: t) }
        node.set(NodeKey.uid, String(p.uid), at: t)
        if let user = p.user { node.set(NodeKey.user, user, at: t) }
        node.set(NodeKey.threads, String(p.threads), at: t)
        node.set(NodeKey.startTime, String(p.startTime), at: t)
        node.set(NodeKey.state, p.state, at: t)
        node.set(NodeKey.openFDs, String(p.openFDs), at: t)
        node.set(NodeKey.cgroup, p.cgroup, at: t)
        node.set(NodeKey.netns, String(p.netns), at: t)
        node.record(MetricKey.cpu, p.cpuPercent, at: t)
        node.record(MetricKey.memory, Double(p.rssBytes), at: t)
        node.addParent(.host, NodeID.host(hostID))
        return node
    }

    /// `proto/address:port` of a listening socket, the form of ``NodeKey/listening``.
    static func listening(_ s: SocketRecord) -> String {
        let addr = s.localAddress.contains(":") ? "[\(s.localAddress)]" : s.localAddress
        return "\(s.proto.rawValue)/\(addr):\(s.localPort)"
    }

    /// The connection node of `conn` as written in one snapshot at `t`, without history. Its only parent is the
    /// host; `parents`, when given, is that map shared by the host's connection nodes (see ``SharedSets``), so a
    /// connection costs no parent storage of its own. Its endpoints are in `client` / `server` (and its sides).
    static func connection(_ conn: ConnectionState, _ shape: ConnectionState.Shape, hostID: String, at t: Double,
                           lastSeen: String, samples: Bool, parents: [TopologyKind: Set<String>]? = nil) -> Node {
        let hostNode = NodeID.host(hostID)
        var node = Node(id: conn.id, topology: .connection, latest: LatestMap(minimumCapacity: 9))
        node.set(NodeKey.proto, conn.proto.rawValue, at: t)
        node.set(NodeKey.client, conn.client, at: t)
        node.set(NodeKey.server, conn.server, at: t)
        node.sidesBox = conn.sidesBox
        node.set(NodeKey.state, shape.state, at: t)
        node.set(NodeKey.closed, "false", at: t)
        node.set(NodeKey.lastSeen, lastSeen, at: t)
        node.set(NodeKey.host, hostNode, at: t)
        if let p = shape.clientProcess { node.set(NodeKey.clientProcess, p, at: t) }
        if let p = shape.serverProcess { node.set(NodeKey.serverProcess, p, at: t) }
        node.parents = parents ?? [.host: [hostNode]]
        if samples {
            node.record(MetricKey.clientBytesSent, conn.sent, at: t)
            node.record(MetricKey.clientBytesReceived, conn.received, at: t)
            node.record(MetricKey.rtt, conn.rtt, at: t)
        }
        return node
    }

    /// Merges the histories of `old` (the node's previous version) into `node`, keeping the newest `limit`
    /// samples of each.
    static func carry(from old: Node?, into node: inout Node, limit: Int) {
        guard let old, !old.metrics.isEmpty else { return }
        for (key, history) in old.metrics {
            var merged = history
            if let fresh = node.metrics[key] { merged.merge(fresh) }
            node.metrics[key] = merged.samples.count > limit ? merged.suffix(limit) : merged
        }
    }
}

extension Node {
    /// Whether this connection node, written with the members `conn` has now, needs no new write this pass: there
    /// are no counters this pass, or each counter's last two samples equal this pass's value (it did not move, and
    /// the rate the node gives is already 0).
    func isIdleConnection(_ conn: ConnectionState, samples: Bool) -> Bool {
        guard samples else { return true }
        for (key, value) in [(MetricKey.clientBytesSent, conn.sent), (MetricKey.clientBytesReceived, conn.received),
                             (MetricKey.rtt, conn.rtt)] {
            guard let history = metrics[key]?.samples, history.count >= 2, history[history.count - 1].value == value,
                  history[history.count - 2].value == value else { return false }
        }
        return true
    }

    /// Whether this node is an open connection node with the member-dependent values of `shape`.
    func isConnection(_ shape: ConnectionState.Shape) -> Bool {
        latest[NodeKey.closed] == "false" && latest[NodeKey.state] == shape.state
            && latest[NodeKey.clientProcess] == shape.clientProcess && latest[NodeKey.serverProcess] == shape.serverProcess
    }

    /// Brings the connection node written by the previous pass (same members, so same keys) to time `t`:
    /// what ``SnapshotNodes/connection(_:_:hostID:at:lastSeen:samples:)`` followed by
    /// ``SnapshotNodes/carry(from:into:limit:)`` would give, done in place.
    mutating func refreshConnection(_ conn: ConnectionState, at t: Double, lastSeen: String, samples: Bool,
                                    limit: Int) {
        latest.touch(at: t, setting: NodeKey.lastSeen, to: lastSeen)
        var pushed = 0
        var i = metrics.startIndex
        while i != metrics.endIndex {
            let key = metrics.keys[i]
            let length = key.utf8.count
            if samples, length == MetricKey.clientBytesSent.utf8.count, key == MetricKey.clientBytesSent {
                metrics.values[i].push(MetricSample(timestamp: t, value: conn.sent), keeping: limit)
                pushed += 1
            } else if samples, length == MetricKey.clientBytesReceived.utf8.count, key == MetricKey.clientBytesReceived {
                metrics.values[i].push(MetricSample(timestamp: t, value: conn.received), keeping: limit)
                pushed += 1
            } else if samples, length == MetricKey.rtt.utf8.count, key == MetricKey.rtt {
                metrics.values[i].push(MetricSample(timestamp: t, value: conn.rtt), keeping: limit)
                pushed += 1
            } else {
                metrics.values[i].keepLast(limit)
            }
            metrics.formIndex(after: &i)
        }
        if samples && pushed < 3 {
            // A history that did not exist yet: a fresh one-sample history, as a fresh node would have.
            for (key, value) in [(MetricKey.clientBytesSent, conn.sent), (MetricKey.clientBytesReceived, conn.received),
                                 (MetricKey.rtt, conn.rtt)] where metrics[key] == nil {
                metrics[key] = MetricHistory(timestamp: t, value: value)
            }
        }
    }
}
