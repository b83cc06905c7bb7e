import PeriscopeTopology

/// A report node's identity in the log: its topology (``TopologyKind`` by index) and id. Reverse-DNS names of
/// addresses are kept beside the nodes under ``names``, since views label remote peers with them.
public struct HistoryKey: Hashable, Sendable {
    public var kind: UInt8
    public var id: String

    /// The kind byte of reverse-DNS names (`id` the address, the body the name).
    public static let names: UInt8 = 255

    public init(kind: UInt8, id: String) {
        self.kind = kind
        self.id = id
    }

    public init(_ topology: TopologyKind, _ id: String) {
        self.init(kind: UInt8(TopologyKind.allCases.firstIndex(of: topology) ?? 0), id: id)
    }

    /// The topology of a node key (`nil` for names or an unknown kind from a newer daemon).
    public var topology: TopologyKind? {
        Int(kind) < TopologyKind.allCases.count ? TopologyKind.allCases[Int(kind)] : nil
    }
}

/// How a report node is split and stored: its *stable* part (attributes, sets, adjacency, parents) starts a
/// new record when it changes; its *volatile* part (metrics and the few attributes every pass rewrites: CPU,
/// memory, byte counters, a process's state and threads, a connection's `last_seen`) is only sampled, so a
/// busy host does not write every node every second. Timestamps of `latest` entries are not kept (views do not
/// read them); a decoded node carries the time of its record. Pure functions.
enum NodeCodec {
    /// Attributes that change on every pass, by topology.
    static func isVolatile(_ key: String, _ kind: UInt8) -> Bool {
        switch HistoryKey(kind: kind, id: "").topology {
        case .process?: return key == NodeKey.threads || key == NodeKey.state || key == NodeKey.openFDs
        case .host?: return key == NodeKey.uptime || key == NodeKey.memoryAvailable || key.hasPrefix("load")
        case .connection?: return key == NodeKey.lastSeen
        default: return false
        }
    }

    /// Samples of metric `key` a record keeps: views read the newest one, and byte rates from the newest two.
    static func samplesKept(_ key: String) -> Int { key.contains("bytes") ? 2 : 1 }

    /// An order-independent hash of the stable part (equal nodes hash equal, whatever their dictionaries' order).
    static func stableHash(_ node: Node, _ kind: UInt8) -> Int {
        var sum = 0
        for (key, entry) in node.latest where !isVolatile(key, kind) { sum &+= hash(key, entry.value) }
        for (key, values) in node.sets {
            var inner = 0
            for v in values { inner &+= v.hashValue }
            sum &+= hash(key, inner)
        }
        for id in node.adjacency { sum &+= hash("\u{1}adj", id) }
        for (kind, ids) in node.parents {
            for id in ids { sum &+= hash(kind.rawValue, id) }
        }
        return sum
    }

    /// An order-independent hash of the volatile part: volatile attributes and the metric values views read. An
    /// open connection's `last_seen` (rewritten by every pass) alone does not call for a sample: views only
    /// show it once the connection has closed, which is a stable change.
    static func volatileHash(_ node: Node, _ kind: UInt8) -> Int {
        var sum = 0
        for (key, entry) in node.latest where isVolatile(key, kind) && key != NodeKey.lastSeen {
            sum &+= hash(key, entry.value)
        }
        for (key, history) in node.metrics {
            // The values views read: the newest, and for byte counters the one before (their rate; an idle
            // counter's pair stays equal, so it is not sampled again).
            for (i, sample) in history.samples.suffix(samplesKept(key)).enumerated() { sum &+= hash(key + "\(i)", sample.value) }
        }
        return sum
    }

    private static func hash<A: Hashable, B: Hashable>(_ a: A, _ b: B) -> Int {
        var h = Hasher()
        h.combine(a)
        h.combine(b)
        return h.finalize()
    }

    /// The whole node (its id and kind are the key's): every attribute, sets, adjacency, parents, the newest
    /// metric samples. `time` is the record's time, milliseconds.
    static func encode(_ node: Node, time: Int64) -> [UInt8] {
        var w = ByteWriter()
        w.int(node.latest.count)
        for (key, entry) in node.latest {
            w.string(key)
            w.string(entry.value)
        }
        w.int(node.sets.count)
        for (key, values) in node.sets {
            w.string(key)
            w.int(values.count)
            for v in values { w.string(v) }
        }
        w.int(node.adjacency.count)
        for id in node.adjacency { w.string(id) }
        w.int(node.parents.count)
        for (kind, ids) in node.parents {
            w.string(kind.rawValue)
            w.int(ids.count)
            for id in ids { w.string(id) }
        }
        encodeMetrics(node, time: time, into: &w)
        return w.bytes
    }

    /// The volatile part only (attributes and metrics), laid over a node by ``overlay(_:on:time:)``.
    static func encodeVolatile(_ node: Node, _ kind: UInt8, time: Int64) -> [UInt8] {
        var w = ByteWriter()
        // An open connection's `last_seen` is left out too (views show it only once closed, in the close's `put`).
        let volatile = node.latest.entries.filter { isVolatile($0.key, kind) && $0.key != NodeKey.lastSeen }
        w.int(volatile.count)
        for (key, entry) in volatile {
            w.string(key)
            w.string(entry.value)
        }
        encodeMetrics(node, time: time, into: &w)
        return w.bytes
    }

    private static func encodeMetrics(_ node: Node, time: Int64, into w: inout ByteWriter) {
        w.int(node.metrics.count)
        for (key, history) in node.metrics {
            w.string(key)
            let samples = history.samples.suffix(samplesKept(key))
            w.int(samples.count)
            for s in samples {
                w.signed(Int64((s.timestamp * 1000).rounded()) - time)
                let milli = (s.value * 1000).rounded()
                if s.value >= 0, s.value < 9e15, s.value.rounded() == s.value {
                    w.byte(0)
                    w.varint(UInt64(s.value))
                } else if s.value >= 0, milli < 9e15, milli / 1000 == s.value {
                    w.byte(2)  // thousandths, exactly (RTTs in ms from microseconds)
                    w.varint(UInt64(milli))
                } else {
                    w.byte(1)
                    w.double(s.value)
                }
            }
        }
    }

    /// The node `key` recorded as `body` at `time` (ms).
    static func decode(_ key: HistoryKey, _ body: [UInt8], time: Int64) throws(ByteReader.Truncated) -> Node {
        let topology = key.topology ?? .endpoint
        var node = Node(id: key.id, topology: topology)
        var r = ByteReader(body)
        let seconds = Double(time) / 1000
        for _ in 0..<(try r.int()) {
            let k = try r.string()
            node.set(k, try r.string(), at: seconds)
        }
        for _ in 0..<(try r.int()) {
            let k = try r.string()
            var values = Set<String>()
            for _ in 0..<(try r.int()) { values.insert(try r.string()) }
            node.sets[k] = values
        }
        for _ in 0..<(try r.int()) { node.adjacency.insert(try r.string()) }
        for _ in 0..<(try r.int()) {
            let kind = TopologyKind(rawValue: try r.string()) ?? .host
            for _ in 0..<(try r.int()) { node.addParent(kind, try r.string()) }
        }
        try decodeMetrics(&r, into: &node, time: time)
        node.restoreSidesFromText()  // the views read connections' typed sides
        return node
    }

    /// Lays a volatile record (``encodeVolatile(_:_:time:)``) over `node`.
    static func overlay(_ body: [UInt8], on node: inout Node, time: Int64) throws(ByteReader.Truncated) {
        var r = ByteReader(body)
        let seconds = Double(time) / 1000
        var latest = node.latest.entries
        for _ in 0..<(try r.int()) {
            let k = try r.string()
            latest[k] = LatestEntry(timestamp: seconds, value: try r.string())
        }
        node.latest = LatestMap(latest)
        try decodeMetrics(&r, into: &node, time: time)
    }

    private static func decodeMetrics(_ r: inout ByteReader, into node: inout Node, time: Int64) throws(ByteReader.Truncated) {
        for _ in 0..<(try r.int()) {
            let key = try r.string()
            var samples: [MetricSample] = []
            for _ in 0..<(try r.int()) {
                let t = Double(time + (try r.signed())) / 1000
                let value: Double
                switch try r.byte() {
                case 0: value = Double(try r.varint())
                case 2: value = Double(try r.varint()) / 1000
                default: value = try r.double()
                }
                samples.append(MetricSample(timestamp: t, value: value))
            }
            node.metrics[key] = MetricHistory(samples)
        }
    }
}
