/// The nodes of one kind in a report, by id.
public struct Topology: Sendable, Hashable, Codable {
    public var kind: TopologyKind
    /// The nodes by id, sharded so that a copy's first change copies only what it touches (see ``NodeTable``).
    public var nodes: NodeTable

    public init(kind: TopologyKind, nodes: NodeTable = NodeTable()) {
        self.kind = kind
        self.nodes = nodes
    }

    public init(kind: TopologyKind, nodes: [String: Node]) {
        self.init(kind: kind, nodes: NodeTable(nodes))
    }

    /// Adds `node`, merging it with a node of the same id if there is one.
    public mutating func add(_ node: Node) {
        var node = node
        node.topology = kind
        if var existing = nodes[node.id] {
            existing.merge(node)
            nodes[node.id] = existing
        } else {
            nodes[node.id] = node
        }
    }

    /// Merges every node of `other` into this topology.
    public mutating func merge(_ other: Topology) {
        if nodes.isEmpty { nodes = other.nodes; return }
        for node in other.nodes.values { add(node) }
    }

    public subscript(id: String) -> Node? { nodes[id] }
    public var count: Int { nodes.count }
}
