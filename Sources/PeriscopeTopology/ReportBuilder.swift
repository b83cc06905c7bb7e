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
/// The work is incremental: the builder remembers each socket with what was derived from it, so a socket that
/// is unchanged since the last snapshot (only its `tcp_info` counters moved) costs a lookup, and the nodes of
/// the previous report are updated in place. The result is the same as building every node afresh.
///
/// A value type: keep one per host and call it from one place. A copy works too, but its first ingest rebuilds
/// the incremental state (it is shared with the original until then).
public struct ReportBuilder: Sendable {
    /// The id of the host node, also the prefix of process ids and the scope of host-internal endpoints.
    public let hostID: String
    /// Seconds a closed connection stays in the report after it was last seen open.
    public var retention: Double
    /// Samples kept per connection metric (byte counters, RTT); histories of processes and hosts keep
    /// ``MetricHistory/capacity``. A connection's figures are its counters' last values and the rate between
    /// its last two samples, so two are all it needs; at 10,000 connections each extra sample costs ~0.5 MB
    /// per report generation.
    public var connectionHistoryLength: Int

    /// The report returned by the last ``ingest(_:)``.
    public internal(set) var current = Report()

    struct Retained: Sendable {
        var closedAt: Double
        var nodes: [Node]
    }

    var retained: [String: Retained] = [:]
    /// The process records of the last ingest, by pid: an unchanged one keeps its node on a `metrics: false`
    /// ingest.
    var processRecords: [Int32: ProcessRecord] = [:]
    /// The incremental state that matches ``current``; `nil` before the first ingest.
    var engine: EngineBox?
    /// The timestamp of the last ingest: when a connection that is gone now was last seen open.
    var lastIngest: Double?

    /// A builder for host `hostID`, keeping closed connections for `retention` seconds (default 10).
    public init(hostID: String, retention: Double = 10, connectionHistoryLength: Int = 2) {
        self.hostID = hostID
        self.retention = retention
        self.connectionHistoryLength = max(2, connectionHistoryLength)
    }

    /// Folds `snapshot` into the state and returns the host's current report. With `metrics: false` (an
    /// event-driven update between full passes) a process whose record is unchanged keeps its node as it was,
    /// without a new metric sample; only what changed costs work.
    public mutating func ingest(_ snapshot: HostSnapshot, metrics: Bool = true) -> Report {
        let context = HostContext(snapshot)
        // Start over on new interfaces, or when a copy of this builder shares the state.
        let incremental = engine?.engine.context == context && isKnownUniquelyReferenced(&engine)
        let box = incremental ? engine ?? EngineBox(hostID: hostID, context: context)
            : EngineBox(hostID: hostID, context: context)
        engine = box
        let state = box.engine
        state.apply(snapshot)
        return finish(snapshot, state, incremental: incremental, metrics: metrics, touchedOnly: false)
    }

    /// An event-driven update in which a few sockets changed (flows seen through socket-state events): the
    /// state of the last ingest with `removed` taken out and `added` put in, the other sockets of `snapshot` not
    /// looked at. `snapshot` gives the processes, the host and the containers; its sockets are not read.
    /// Only the connections whose members changed are written again (unchanged ones keep their node as it was:
    /// no new sample, no new `last_seen`), so the cost follows the change, not the host. `nil`, having changed
    /// nothing, when the change cannot be applied this way (no state yet, new interfaces, a listener came or
    /// went, a removed socket unknown): ingest the whole snapshot with `metrics: false` instead.
    ///
    /// `counters` are sockets of the state whose `tcp_info` moved (a counters-only update, see
    /// ``TopologyEngine/applyCounters(_:)``): their connections get a new sample, as do those the last sampling
    /// update left moving, so the report equals what ``ingest(_:metrics:)`` of the whole snapshot (with those
    /// counters) would give. `metrics` samples the processes and the host as a full ingest does.
    public mutating func ingest(_ snapshot: HostSnapshot, removing removed: [SocketRecord],
                                adding added: [SocketRecord], counters: [SocketRecord]? = nil,
                                metrics: Bool = false) -> Report? {
        guard isKnownUniquelyReferenced(&engine), let state = engine?.engine, state.context == HostContext(snapshot),
              state.applyDelta(removed: removed, added: added) else { return nil }
        if let counters { state.applyCounters(counters) }
        return finish(snapshot, state, incremental: true, metrics: metrics, touchedOnly: true)
    }

    /// The report from the engine's state after a pass: retention, process, host and container nodes, and the
    /// endpoints and connections that changed (`touchedOnly`: only connections whose members changed).
    private mutating func finish(_ snapshot: HostSnapshot, _ state: TopologyEngine, incremental: Bool,
                                 metrics: Bool, touchedOnly: Bool) -> Report {
        let t = snapshot.timestamp
        var report = current
        current = Report()
        var endpoints = report.take(.endpoint)
        var connections = report.take(.connection)
        let previousProcesses = report.take(.process)
        let previousHosts = report.take(.host)

        // Retained connections that reopened or expired; then the ones that closed, from the previous report.
        let expired = expireRetained(state, at: t)
        let seen = lastIngest ?? t
        lastIngest = t
        if incremental {
            for conn in state.closed {
                noteClosed(conn.id, connections.nodes, endpoints.nodes, previousProcesses.nodes, at: t, lastSeen: seen)
            }
        } else {
            for id in connections.nodes.keys where state.connections[id] == nil {
                noteClosed(id, connections.nodes, endpoints.nodes, previousProcesses.nodes, at: t, lastSeen: seen)
            }
        }

        var processes = processNodes(snapshot, previous: previousProcesses, listeners: state.listenerSockets,
                                     metrics: metrics)
        var hosts = Topology(kind: .host)
        var host = SnapshotNodes.host(hostID, snapshot.host, at: t)
        SnapshotNodes.carry(from: previousHosts.nodes[host.id], into: &host, limit: MetricHistory.capacity)
        hosts.nodes[host.id] = host

        if incremental {
            updateEndpoints(&endpoints, state, expired: expired)
            updateConnections(&connections, carryingFrom: nil, state, at: t, touchedOnly: touchedOnly)
        } else {
            let previous = connections.nodes
            endpoints = Topology(kind: .endpoint)
            connections = Topology(kind: .connection)
            updateEndpoints(&endpoints, state, expired: expired)
            updateConnections(&connections, carryingFrom: previous, state, at: t, touchedOnly: false)
        }

        addRetained(&endpoints, &connections, &processes, state, at: t)
        report[.endpoint] = endpoints
        report[.connection] = connections
        report[.process] = processes
        report[.host] = hosts
        ContainerNodes.apply(snapshot, hostID: hostID, to: &report)
        current = report
        return report
    }

    /// Writes the endpoints whose counts changed. An endpoint that retained connections were merged into is
    /// written again (live node, then the retained nodes still kept) when it changed or lost one of them.
    private func updateEndpoints(_ endpoints: inout Topology, _ state: TopologyEngine, expired: Set<String>) {
        let generation = state.generation
        if endpoints.nodes.isEmpty { endpoints.nodes.reserveCapacity(state.endpoints.count) }
        for (id, contributors) in state.overlayEndpoints {
            let live = state.endpoints[id]
            guard live?.dirtyGeneration == generation || contributors.contains(where: expired.contains) else { continue }
            var node = live.map { $0.node(sharing: &state.sharedSets) }
            let kept = contributors.filter { !expired.contains($0) }
            for retainedID in kept {
                for retainedNode in retained[retainedID]?.nodes ?? [] where retainedNode.topology == .endpoint
                    && retainedNode.id == id {
                    if node == nil { node = retainedNode } else { node?.merge(retainedNode) }
                }
            }
            endpoints.nodes[id] = node
            state.overlayEndpoints[id] = kept.isEmpty ? nil : kept
        }
        for endpoint in state.dirtyEndpoints where state.overlayEndpoints[endpoint.id] == nil {
            endpoints.nodes[endpoint.id] = endpoint.references > 0 ? endpoint.node(sharing: &state.sharedSets) : nil
        }
    }

    /// Writes every open connection at `t` (`touchedOnly`: only those whose members changed this pass): in place
    /// when its members are those of the last pass, afresh (carrying the history of the node it replaces)
    /// otherwise. Then drops the closed ones. An idle connection (same members, counters that did not move
    /// since the sample before last, or no counters this pass) keeps its node untouched, so what follows the
    /// report (renders, diffs, deltas) sees no change; its `last_seen` is written when it closes.
    private func updateConnections(_ connections: inout Topology, carryingFrom previous: NodeTable?,
                                   _ state: TopologyEngine, at t: Double, touchedOnly: Bool) {
        let lastSeen = String(t)
        let limit = connectionHistoryLength
        let generation = state.generation
        let hostID = self.hostID
        let hostParents = state.sharedSets.share([.host: [NodeID.host(hostID)]])
        for conn in state.closed { connections.nodes[conn.id] = nil }
        if connections.nodes.isEmpty { connections.nodes.reserveCapacity(state.connections.count) }
        func write(_ conn: ConnectionState) {
            let samples = conn.hasSamples(generation)
            conn.writeGeneration = generation
            if !conn.membersChanged || conn.written == conn.shape {
                // Same members as written: an idle connection keeps its node as it is (no sample, no `last_seen`).
                if let node = connections.nodes[conn.id], node.isIdleConnection(conn, samples: samples) {
                    conn.membersChanged = false
                    return
                }
                if connections.nodes[conn.id]?.refreshConnection(
                    conn, at: t, lastSeen: lastSeen, samples: samples, limit: limit) != nil {
                    conn.membersChanged = false
                    if samples { state.movingConnections.append(conn) }
                    return
                }
            }
            let shape = conn.shape
            // Starting over (no incremental state): the previous node, when it already says what this pass would
            // write and the connection is idle, is kept as the incremental path keeps it.
            if let old = previous?[conn.id], old.isConnection(shape), old.isIdleConnection(conn, samples: samples) {
                connections.nodes[conn.id] = old
                conn.written = shape
                conn.membersChanged = false
                return
            }
            var node = SnapshotNodes.connection(conn, shape, hostID: hostID, at: t, lastSeen: lastSeen, samples: samples,
                                                parents: hostParents)
            SnapshotNodes.carry(from: previous.map { $0[conn.id] } ?? connections.nodes[conn.id], into: &node, limit: limit)
            connections.nodes[conn.id] = node
            conn.written = shape
            conn.membersChanged = false
            if samples { state.movingConnections.append(conn) }
        }
        if touchedOnly {
            // Members changed, or counters sampled (``TopologyEngine/applyCounters(_:)``); each written once.
            for conn in state.touchedConnections where (conn.membersChanged || conn.hasSamples(generation))
                && conn.writeGeneration != generation && state.connections[conn.id] === conn {
                write(conn)
            }
        } else {
            for conn in state.connections.values { write(conn) }
        }
    }
}

/// Holds the builder's ``TopologyEngine``. The engine is only mutated by a builder that holds the only
/// reference to the box (checked with `isKnownUniquelyReferenced`), which is what makes sharing it sound.
final class EngineBox: @unchecked Sendable {
    let engine: TopologyEngine

    init(hostID: String, context: HostContext) {
        engine = TopologyEngine(hostID: hostID, context: context)
    }
}
