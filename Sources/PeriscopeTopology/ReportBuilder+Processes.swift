extension ReportBuilder {
    /// The process nodes of `snapshot` with their listeners. With `metrics: false`, a process whose record is
    /// the one of the last ingest keeps its node from `previous` (no new sample, no string work).
    ///
    /// The table is `previous` patched: an unchanged process keeps its node (the same storage), so the table
    /// shares every shard without a change with the last report and whatever compares the two (deltas, renders)
    /// looks only at those that changed.
    mutating func processNodes(_ snapshot: HostSnapshot, previous: Topology, listeners: [SocketRecord],
                               metrics: Bool) -> Topology {
        let t = snapshot.timestamp
        var processes = previous
        var listening: [String: Set<String>] = [:]
        for s in listeners {
            guard let pid = s.pid else { continue }
            listening[NodeID.process(hostID: hostID, pid: pid), default: []].insert(SnapshotNodes.listening(s))
        }
        var records: [Int32: ProcessRecord] = [:]
        records.reserveCapacity(snapshot.processes.count)
        var present: Set<String> = []
        present.reserveCapacity(snapshot.processes.count)
        for p in snapshot.processes {
            let id = NodeID.process(hostID: hostID, pid: p.pid)
            let old = previous.nodes[id]
            var node: Node
            if !metrics, processRecords[p.pid] == p, let old, old.latest[NodeKey.exited] == nil {
                node = old
            } else {
                node = SnapshotNodes.process(hostID, p, at: t)
                SnapshotNodes.carry(from: old, into: &node, limit: MetricHistory.capacity)
            }
            // Listeners as now (only for processes in the snapshot: a listener whose owner exited mid-scan adds no
            // phantom process); containers are written after. A node that already says so is left as it is.
            if node.sets[NodeKey.listening] != listening[id] { node.sets[NodeKey.listening] = listening[id] }
            if node.parents[.container] != nil { node.parents[.container] = nil }
            if old.map({ !$0.isIdentical(to: node) }) ?? true { processes.nodes[id] = node }
            records[p.pid] = p
            present.insert(id)
        }
        processRecords = records
        for id in previous.nodes.keys where !present.contains(id) { processes.nodes[id] = nil }
        return processes
    }

    /// An event-driven update in which only processes changed — none of them owns a socket of the last
    /// ingest, and no socket came or went: the process nodes are written again (unchanged ones kept, see
    /// ``processNodes(_:previous:listeners:metrics:)``) and everything else of the current report stays as it
    /// is, so the cost follows the processes that changed, not the sockets of the host. Retained connections
    /// expire on the next full ``ingest(_:metrics:)``.
    public mutating func updateProcesses(_ snapshot: HostSnapshot) -> Report {
        guard let box = engine, box.engine.context == HostContext(snapshot) else {
            return ingest(snapshot, metrics: false)
        }
        var report = current
        let previous = report.take(.process)
        var processes = processNodes(snapshot, previous: previous, listeners: box.engine.listenerSockets, metrics: false)
        for entry in retained.values {
            for node in entry.nodes where node.topology == .process && processes.nodes[node.id] == nil {
                var exited = node
                exited.set(NodeKey.exited, "true", at: entry.closedAt)
                processes.add(exited)
            }
        }
        report[.process] = processes
        ContainerNodes.apply(snapshot, hostID: hostID, to: &report)
        current = report
        return report
    }
}
