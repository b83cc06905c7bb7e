import PeriscopeProtocol
import PeriscopeTopology

/// One row of a node's connection table, from the node's side.
public struct ConnectionRow: Sendable, Hashable, JSONRepresentable {
    /// The connection node id in the report.
    public var id: String
    public var localAddress: String
    public var localPort: Int
    public var remoteAddress: String
    public var remotePort: Int
    /// The process on the local side (`hostID;pid`), when known; useful for groups and hosts.
    public var localProcess: String?
    /// The view node at the other end.
    public var peer: String
    public var peerLabel: String
    public var proto: String
    /// Kernel state (`established`, …) as last seen; `closed` once the connection is closed.
    public var state: String
    public var closed: Bool
    public var lastSeen: Double?
    /// Cumulative bytes sent and received by the local side, when tcp_info is known.
    public var bytesSent: Double?
    public var bytesReceived: Double?
    public var bytesPerSecond: Double?
    public var rttMillis: Double?

    /// `{id, localAddress, localPort, remoteAddress, remotePort, localProcess?, peer, peerLabel, protocol,
    /// state, closed, lastSeen?, bytesSent?, bytesReceived?, bytesPerSecond?, rttMillis?}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "localAddress": .string(localAddress), "localPort": .int(Int64(localPort)),
            "remoteAddress": .string(remoteAddress), "remotePort": .int(Int64(remotePort)),
            "peer": .string(peer), "peerLabel": .string(peerLabel), "protocol": .string(proto),
            "state": .string(state), "closed": .bool(closed),
        ]
        if let localProcess { o["localProcess"] = .string(localProcess) }
        if let lastSeen { o["lastSeen"] = .double(lastSeen) }
        if let bytesSent { o["bytesSent"] = .number(bytesSent) }
        if let bytesReceived { o["bytesReceived"] = .number(bytesReceived) }
        if let bytesPerSecond { o["bytesPerSecond"] = .double(bytesPerSecond) }
        if let rttMillis { o["rttMillis"] = .double(rttMillis) }
        return .object(o)
    }
}

/// A containing node, for ``NodeDetails/parents``.
public struct ParentRef: Sendable, Hashable, JSONRepresentable {
    public var topology: String
    public var id: String
    public var label: String

    public var json: JSONValue { ["topology": .string(topology), "id": .string(id), "label": .string(label)] }
}

/// Everything about one view node (`node/get`).
public struct NodeDetails: Sendable, Hashable, JSONRepresentable {
    public var view: String
    /// The node as the view shows it (unfiltered).
    public var node: NodeSummary
    /// Every attribute known (process: all /proc facts, listening sockets; host: OS, memory, networks…).
    public var metadata: [String: JSONValue]
    /// Metric histories (`cpu`, `memory`, host `load1`), oldest first.
    public var metrics: [String: [MetricSample]]
    /// Connections for which this node is the server.
    public var inbound: [ConnectionRow]
    /// Connections for which this node is the client.
    public var outbound: [ConnectionRow]
    /// Members: a group's processes, a host's processes.
    public var children: [NodeSummary]
    public var parents: [ParentRef]
    /// Per-protocol L7 table (processes, groups, hosts): one row per protocol and side; empty when none.
    public var l7: [L7Row] = []

    /// `{view, node, metadata, metrics: {name: [{timestamp, value}]}, inbound: [row], outbound: [row],
    /// children: [node], parents: [{topology, id, label}], l7?: [L7Row]}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "view": .string(view), "node": node.json, "metadata": .object(metadata),
            "metrics": .object(metrics.mapValues { samples in
                .array(samples.map { ["timestamp": .double($0.timestamp), "value": .double($0.value)] })
            }),
            "inbound": .array(inbound.map(\.json)), "outbound": .array(outbound.map(\.json)),
            "children": .array(children.map(\.json)), "parents": .array(parents.map(\.json)),
        ]
        if !l7.isEmpty { o["l7"] = .array(l7.map(\.json)) }
        return .object(o)
    }
}
