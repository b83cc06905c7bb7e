/// Everything known about one or more hosts: one ``Topology`` per ``TopologyKind``.
///
/// Reports from several hosts, or successive reports of one host, combine with ``merge(_:)``, which is
/// associative, commutative and idempotent (property-tested), so aggregation order never matters.
public struct Report: Sendable, Hashable, Codable {
    /// Every topology, by kind. All kinds are always present (possibly empty).
    public private(set) var topologies: [TopologyKind: Topology]

    /// An empty report.
    public init() {
        var t: [TopologyKind: Topology] = [:]
        for kind in TopologyKind.allCases { t[kind] = Topology(kind: kind) }
        topologies = t
    }

    /// The topology of `kind` (empty when absent).
    public subscript(kind: TopologyKind) -> Topology {
        get { topologies[kind] ?? Topology(kind: kind) }
        set { topologies[kind] = newValue }
    }

    public var endpoints: Topology { self[.endpoint] }
    public var connections: Topology { self[.connection] }
    public var processes: Topology { self[.process] }
    public var hosts: Topology { self[.host] }

    /// Adds `node` to its topology, merging with an existing node of the same id.
    public mutating func add(_ node: Node) {
        var topology = self[node.topology]
        topologies[node.topology] = nil  // keep the topology's storage uniquely referenced while mutating
        topology.add(node)
        topologies[node.topology] = topology
    }

    /// Merges `other` into this report.
    public mutating func merge(_ other: Report) {
        for (kind, topology) in other.topologies {
            var mine = self[kind]
            topologies[kind] = nil
            mine.merge(topology)
            topologies[kind] = mine
        }
    }

    /// This report merged with `other`.
    public func merged(with other: Report) -> Report {
        var copy = self
        copy.merge(other)
        return copy
    }

    /// Removes and returns the topology of `kind`, so the caller holds the only reference to its storage.
    mutating func take(_ kind: TopologyKind) -> Topology {
        topologies.removeValue(forKey: kind) ?? Topology(kind: kind)
    }

    /// The node with `id` in topology `kind`.
    public func node(_ kind: TopologyKind, _ id: String) -> Node? { topologies[kind]?.nodes[id] }

    /// Total number of nodes across topologies.
    public var nodeCount: Int { topologies.values.reduce(0) { $0 + $1.count } }
}
