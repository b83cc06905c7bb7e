/// One node of a topology: the unit that reports carry and merge.
///
/// Every field merges as a join-semilattice (``latest``: last writer wins; ``sets``, ``adjacency``,
/// ``parents``: union; ``metrics``: union by timestamp keeping the newest samples), so merging nodes, and
/// therefore reports, is associative, commutative and idempotent.
public struct Node: Sendable, Hashable, Codable {
    /// The fields, shared by copies of the node until one of them changes (copy on write). A copy of a node, such
    /// as each node of a report's table when the builder makes its next revision while the last one is still
    /// published, then costs one reference count instead of one per field.
    private final class Fields: @unchecked Sendable {  // mutated only while uniquely referenced
        var id: String
        var topology: TopologyKind
        var latest: LatestMap
        var sets: [String: Set<String>]
        var adjacency: Set<String>
        var parents: [TopologyKind: Set<String>]
        var metrics: [String: MetricHistory]
        var sidesBox: ConnectionSidesBox?

        init(id: String, topology: TopologyKind, latest: LatestMap, sets: [String: Set<String>],
             adjacency: Set<String>, parents: [TopologyKind: Set<String>], metrics: [String: MetricHistory],
             sidesBox: ConnectionSidesBox?) {
            self.id = id
            self.topology = topology
            self.latest = latest
            self.sets = sets
            self.adjacency = adjacency
            self.parents = parents
            self.metrics = metrics
            self.sidesBox = sidesBox
        }

        func copy() -> Fields {
            Fields(id: id, topology: topology, latest: latest, sets: sets, adjacency: adjacency, parents: parents,
                   metrics: metrics, sidesBox: sidesBox)
        }
    }

    private var fields: Fields

    /// The fields, copied first if another node shares them.
    private var unique: Fields {
        mutating get {
            if !isKnownUniquelyReferenced(&fields) { fields = fields.copy() }
            return fields
        }
    }

    /// Stable id, unique within its topology (see ``NodeID``).
    public var id: String {
        get { fields.id }
        set { unique.id = newValue }
    }
    public var topology: TopologyKind {
        get { fields.topology }
        set { unique.topology = newValue }
    }
    /// Last-writer-wins attributes (keys in ``NodeKey``).
    public var latest: LatestMap {
        get { fields.latest }
        _modify { let f = unique; yield &f.latest }
    }
    /// Set-valued attributes, merged by union.
    public var sets: [String: Set<String>] {
        get { fields.sets }
        _modify { let f = unique; yield &f.sets }
    }
    /// Ids of nodes of the same topology this node connects to (for endpoints: client → server).
    public var adjacency: Set<String> {
        get { fields.adjacency }
        _modify { let f = unique; yield &f.adjacency }
    }
    /// Ids of the nodes that contain this one, by topology (an endpoint's process, a process's host).
    public var parents: [TopologyKind: Set<String>] {
        get { fields.parents }
        _modify { let f = unique; yield &f.parents }
    }
    /// Short metric histories, by metric name (keys in ``MetricKey``).
    public var metrics: [String: MetricHistory] {
        get { fields.metrics }
        _modify { let f = unique; yield &f.metrics }
    }
    /// Connection nodes: the client and server endpoints, typed (the `client` / `server` entries of ``latest`` are
    /// their text, for the wire). `nil` on other nodes.
    public var sides: ConnectionSides? {
        get { fields.sidesBox?.value }
        set { unique.sidesBox = newValue.map(ConnectionSidesBox.init) }
    }
    private var sidesBox: ConnectionSidesBox? {
        get { fields.sidesBox }
        set { unique.sidesBox = newValue }
    }

    public init(id: String, topology: TopologyKind, latest: LatestMap = LatestMap(),
                sets: [String: Set<String>] = [:], adjacency: Set<String> = [],
                parents: [TopologyKind: Set<String>] = [:], metrics: [String: MetricHistory] = [:]) {
        fields = Fields(id: id, topology: topology, latest: latest, sets: sets, adjacency: adjacency, parents: parents,
                        metrics: metrics, sidesBox: nil)
    }

    public static func == (a: Node, b: Node) -> Bool {
        if a.fields === b.fields { return true }
        let x = a.fields, y = b.fields
        return x.id == y.id && x.topology == y.topology && x.latest == y.latest && x.sets == y.sets
            && x.adjacency == y.adjacency && x.parents == y.parents && x.metrics == y.metrics && x.sidesBox == y.sidesBox
    }

    public func hash(into hasher: inout Hasher) {
        let f = fields
        hasher.combine(f.id)
        hasher.combine(f.topology)
        hasher.combine(f.latest)
        hasher.combine(f.sets)
        hasher.combine(f.adjacency)
        hasher.combine(f.parents)
        hasher.combine(f.metrics)
        hasher.combine(f.sidesBox)
    }

    /// The coded form: the fields under their names.
    private struct Coded: Codable {
        var id: String
        var topology: TopologyKind
        var latest: LatestMap
        var sets: [String: Set<String>]
        var adjacency: Set<String>
        var parents: [TopologyKind: Set<String>]
        var metrics: [String: MetricHistory]
        var sidesBox: ConnectionSidesBox?
    }

    public init(from decoder: any Decoder) throws {
        let c = try Coded(from: decoder)
        fields = Fields(id: c.id, topology: c.topology, latest: c.latest, sets: c.sets, adjacency: c.adjacency,
                        parents: c.parents, metrics: c.metrics, sidesBox: c.sidesBox)
    }

    public func encode(to encoder: any Encoder) throws {
        let f = fields
        try Coded(id: f.id, topology: f.topology, latest: f.latest, sets: f.sets, adjacency: f.adjacency,
                  parents: f.parents, metrics: f.metrics, sidesBox: f.sidesBox).encode(to: encoder)
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
