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
        var v: Values
        init(_ v: Values) { self.v = v }
    }

    /// The fields by value (also the coded form: the fields under their names).
    private struct Values: Hashable, Codable {
        var id: String
        var topology: TopologyKind
        var latest: LatestMap
        var sets: [String: Set<String>]
        var adjacency: Set<String>
        var parents: [TopologyKind: Set<String>]
        var metrics: [String: MetricHistory]
        var sidesBox: ConnectionSidesBox?
    }

    private var fields: Fields

    /// The fields, copied first if another node shares them.
    private var unique: Fields {
        mutating get {
            if !isKnownUniquelyReferenced(&fields) { fields = Fields(fields.v) }
            return fields
        }
    }

    /// Stable id, unique within its topology (see ``NodeID``).
    public var id: String {
        get { fields.v.id }
        set { unique.v.id = newValue }
    }
    public var topology: TopologyKind {
        get { fields.v.topology }
        set { unique.v.topology = newValue }
    }
    /// Last-writer-wins attributes (keys in ``NodeKey``).
    public var latest: LatestMap {
        get { fields.v.latest }
        _modify { let f = unique; yield &f.v.latest }
    }
    /// Set-valued attributes, merged by union.
    public var sets: [String: Set<String>] {
        get { fields.v.sets }
        _modify { let f = unique; yield &f.v.sets }
    }
    /// Ids of nodes of the same topology this node connects to (for endpoints: client → server).
    public var adjacency: Set<String> {
        get { fields.v.adjacency }
        _modify { let f = unique; yield &f.v.adjacency }
    }
    /// Ids of the nodes that contain this one, by topology (an endpoint's process, a process's host).
    public var parents: [TopologyKind: Set<String>] {
        get { fields.v.parents }
        _modify { let f = unique; yield &f.v.parents }
    }
    /// Short metric histories, by metric name (keys in ``MetricKey``).
    public var metrics: [String: MetricHistory] {
        get { fields.v.metrics }
        _modify { let f = unique; yield &f.v.metrics }
    }
    /// Connection nodes: the client and server endpoints, typed (the `client` / `server` entries of ``latest`` are
    /// their text, for the wire). `nil` on other nodes.
    public var sides: ConnectionSides? {
        get { fields.v.sidesBox?.value }
        set { unique.v.sidesBox = newValue.map(ConnectionSidesBox.init) }
    }
    /// The storage of ``sides``: set directly to share one box between nodes (the engine's connection and the
    /// nodes it writes for it).
    var sidesBox: ConnectionSidesBox? {
        get { fields.v.sidesBox }
        set { unique.v.sidesBox = newValue }
    }

    public init(id: String, topology: TopologyKind, latest: LatestMap = LatestMap(),
                sets: [String: Set<String>] = [:], adjacency: Set<String> = [],
                parents: [TopologyKind: Set<String>] = [:], metrics: [String: MetricHistory] = [:]) {
        fields = Fields(Values(id: id, topology: topology, latest: latest, sets: sets, adjacency: adjacency,
                               parents: parents, metrics: metrics, sidesBox: nil))
    }

    public static func == (a: Node, b: Node) -> Bool { a.fields === b.fields || a.fields.v == b.fields.v }

    /// True when both share one storage (a copy not changed since): equal without comparing a field. O(1); a
    /// false answer says nothing. Lets consumers of successive reports (the history recorder) skip unchanged nodes.
    public func isIdentical(to other: Node) -> Bool { fields === other.fields }

    public func hash(into hasher: inout Hasher) { hasher.combine(fields.v) }

    public init(from decoder: any Decoder) throws { fields = Fields(try Values(from: decoder)) }

    public func encode(to encoder: any Encoder) throws { try fields.v.encode(to: encoder) }

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
