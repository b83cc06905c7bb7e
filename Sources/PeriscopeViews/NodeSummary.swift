import PeriscopeProtocol

/// What a view node stands for.
public enum NodeKind: String, Sendable, Hashable, CaseIterable {
    case process
    case processGroup = "process-group"
    case host
    /// Pseudo node for every public address: id `pseudo:internet`.
    case internet
    /// Pseudo node for one peer in a private or local network: id `pseudo:remote;ADDRESS`.
    case remote
    /// Pseudo node for local sockets whose owning process is unknown (not root, or a race): id
    /// `pseudo:unknown;HOSTID`.
    case unknown
    /// One container: id `container:FULLID`.
    case container
    /// Containers merged by image (`image:REFERENCE`) or hostname (`hostname:NAME`).
    case containerGroup = "container-group"
    /// Pseudo node for the processes of a host outside any container: id `pseudo:uncontained;HOSTID`.
    case uncontained
}

/// Current metrics of a view node.
public struct NodeMetrics: Sendable, Hashable, JSONRepresentable {
    /// CPU percent (process: of one core; group: sum of members; host: of all cores).
    public var cpu: Double?
    /// Bytes (process: RSS; group: sum; host: used memory).
    public var memory: Double?
    /// Connections for which this node is the server side.
    public var connectionsIn: Int
    /// Connections for which this node is the client side.
    public var connectionsOut: Int

    public init(cpu: Double? = nil, memory: Double? = nil, connectionsIn: Int = 0, connectionsOut: Int = 0) {
        self.cpu = cpu
        self.memory = memory
        self.connectionsIn = connectionsIn
        self.connectionsOut = connectionsOut
    }

    /// `{cpu?, memory?, connectionsIn, connectionsOut}` (absent metrics are omitted).
    public var json: JSONValue {
        var o: [String: JSONValue] = ["connectionsIn": .int(Int64(connectionsIn)),
                                      "connectionsOut": .int(Int64(connectionsOut))]
        if let cpu { o["cpu"] = .double(cpu) }
        if let memory { o["memory"] = JSONValue.number(memory) }
        return .object(o)
    }
}

/// A node as a view shows it (`topology/get` `nodes[]`).
public struct NodeSummary: Sendable, Hashable, JSONRepresentable {
    public var id: String
    public var label: String
    public var labelMinor: String
    public var kind: NodeKind
    /// True for nodes that stand for something other than a real process or host.
    public var pseudo: Bool
    /// Layout hint: nodes with the same rank belong together.
    public var rank: String
    /// A small set of facts: process `pid, ppid, name, command, user, cwd, executable`; group `name, pids`;
    /// host `hostname, os, kernel, cpuCount`; remote `address, hostname?`.
    public var metadata: [String: JSONValue]
    public var metrics: NodeMetrics
    /// Ids of containing nodes by topology, e.g. `["host": ["web1"]]`.
    public var parents: [String: [String]]

    public init(id: String, label: String, labelMinor: String, kind: NodeKind, pseudo: Bool, rank: String,
                metadata: [String: JSONValue] = [:], metrics: NodeMetrics = NodeMetrics(),
                parents: [String: [String]] = [:]) {
        self.id = id
        self.label = label
        self.labelMinor = labelMinor
        self.kind = kind
        self.pseudo = pseudo
        self.rank = rank
        self.metadata = metadata
        self.metrics = metrics
        self.parents = parents
    }

    /// `{id, label, labelMinor, kind, pseudo, rank, metadata: {…}, metrics: {…}, parents: {host: [id]}}`.
    public var json: JSONValue {
        [
            "id": .string(id), "label": .string(label), "labelMinor": .string(labelMinor),
            "kind": .string(kind.rawValue), "pseudo": .bool(pseudo), "rank": .string(rank),
            "metadata": .object(metadata), "metrics": metrics.json,
            "parents": .object(parents.mapValues { JSONValue($0) }),
        ]
    }
}

extension JSONValue {
    /// An integer when `d` is integral and in range, otherwise a double.
    static func number(_ d: Double) -> JSONValue {
        if d.rounded() == d, abs(d) < 9.0e15 { return .int(Int64(d)) }
        return .double(d)
    }
}
