extension ReportBuilder {
    /// The process nodes of `snapshot` with their listeners. With `metrics: false`, a process whose record is
    /// the one of the last ingest keeps its node from `previous` (no new sample, no string work).
    mutating func processNodes(_ snapshot: HostSnapshot, previous: Topology, listeners: [SocketRecord],
                               metrics: Bool) -> Topology {
        let t = snapshot.timestamp
        var processes = Topology(kind: .process)
        processes.nodes.reserveCapacity(snapshot.processes.count)
        var records: [Int32: ProcessRecord] = [:]
        records.reserveCapacity(snapshot.processes.count)
        for p in snapshot.processes {
            let id = NodeID.process(hostID: hostID, pid: p.pid)
            if !metrics, processRecords[p.pid] == p, var kept = previous.nodes[id], kept.latest[NodeKey.exited] == nil {
                kept.sets[NodeKey.listening] = nil  // listeners are written below, containers after
                kept.parents[.container] = nil
                processes.nodes[id] = kept
            } else {
                var node = SnapshotNodes.process(hostID, p, at: t)
                SnapshotNodes.carry(from: previous.nodes[id], into: &node, limit: MetricHistory.capacity)
                processes.nodes[id] = node
            }
            records[p.pid] = p
        }
        processRecords = records
        for s in listeners {
            guard let pid = s.pid else { continue }
            // Only for processes in the snapshot: a listener whose owner exited mid-scan adds no phantom process.
            processes.nodes[NodeID.process(hostID: hostID, pid: pid)]?.sets[NodeKey.listening, default: []]
                .insert(SnapshotNodes.listening(s))
        }
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
