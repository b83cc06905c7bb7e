/// One node of a topology: the unit that reports carry and merge.
///
/// Every field merges as a join-semilattice (``latest``: last writer wins; ``sets``, ``adjacency``,
/// ``parents``: union; ``metrics``: union by timestamp keeping the newest samples), so merging nodes, and
/// therefore reports, is associative, commutative and idempotent.
public struct Node: Sendable, Hashable, Codable {
    /// Stable id, unique within its topology (see ``NodeID``).
    public var id: String
    public var topology: TopologyKind
    /// Last-writer-wins attributes (keys in ``NodeKey``).
    public var latest: LatestMap
    /// Set-valued attributes, merged by union.
    public var sets: [String: Set<String>]
    /// Ids of nodes of the same topology this node connects to (for endpoints: client → server).
    public var adjacency: Set<String>
    /// Ids of the nodes that contain this one, by topology (an endpoint's process, a process's host).
    public var parents: [TopologyKind: Set<String>]
    /// Short metric histories, by metric name (keys in ``MetricKey``).
    public var metrics: [String: MetricHistory]
    /// Connection nodes: the client and server endpoints, typed (the `client` / `server` entries of ``latest`` are
    /// their text, for the wire). `nil` on other nodes.
    public var sides: ConnectionSides? {
        get { sidesBox?.value }
        set { sidesBox = newValue.map(ConnectionSidesBox.init) }
    }
    private var sidesBox: ConnectionSidesBox?

    public init(id: String, topology: TopologyKind, latest: LatestMap = LatestMap(),
                sets: [String: Set<String>] = [:], adjacency: Set<String> = [],
                parents: [TopologyKind: Set<String>] = [:], metrics: [String: MetricHistory] = [:]) {
        self.id = id
        self.topology = topology
        self.latest = latest
        self.sets = sets
        self.adjacency = adjacency
        self.parents = parents
        self.metrics = metrics
    }

    /// Merges `other` (normally a node with the same id) into this node.
    public mutating func merge(_ other: Node) {
        if other.topology < topology { topology = other.topology }
        latest.merge(other.latest)
        for (key, values) in other.sets { sets[key, default: []].formUnion(values) }
        adjacency.formUnion(other.adjacency)
        for (kind, ids) in other.parents { parents[kind, default: []].formUnion(ids) }
        for (key, history) in other.metrics { metrics[key, default: MetricHistory()].merge(history) }
        if let theirs = other.sidesBox, theirs !== sidesBox,
           sidesBox.map({ theirs.value.precedes($0.value) }) ?? true {
            sidesBox = theirs  // the same id has the same sides; producers that disagree settle on the smaller
        }
    }

    /// This node merged with `other`.
    public func merged(with other: Node) -> Node {
        var copy = self
        copy.merge(other)
        return copy
    }

    /// Shorthand for `latest.set(key, value, at: timestamp)`.
    public mutating func set(_ key: String, _ value: String, at timestamp: Double) {
        latest.set(key, value, at: timestamp)
    }

    /// Adds a sample to the metric `key`.
    public mutating func record(_ key: String, _ value: Double, at timestamp: Double) {
        metrics[key, default: MetricHistory()].append(MetricSample(timestamp: timestamp, value: value))
    }

    /// Adds `id` to the parents of topology `kind`.
    public mutating func addParent(_ kind: TopologyKind, _ id: String) {
        parents[kind, default: []].insert(id)
    }

    /// The one parent of topology `kind`, choosing the smallest id deterministically when there are several.
    public func parent(_ kind: TopologyKind) -> String? {
        guard let ids = parents[kind], !ids.isEmpty else { return nil }
        if ids.count == 1 { return ids.first }
        return ids.min()
    }
}
