import PeriscopeProtocol

/// An edge as a view shows it (`topology/get` `edges[]`): all connections from one node to another.
public struct EdgeSummary: Sendable, Hashable, JSONRepresentable {
    /// `source->target`.
    public var id: String
    /// The client side.
    public var source: String
    /// The server side.
    public var target: String
    /// `tcp`, `udp`, sorted.
    public var protocols: [String]
    /// Server ports, ascending.
    public var ports: [Int]
    /// Number of open connections; for an edge whose connections have all closed, the number of those
    /// recently closed ones (closed connections of a live edge are in the node details, not counted here).
    public var connections: Int
    /// Sum over connections of bytes per second in both directions, from the last two tcp_info samples.
    public var bytesPerSecond: Double?
    /// Mean smoothed RTT of the connections that report one, milliseconds.
    public var rttMillis: Double?
    /// True when every connection of the edge has closed (kept for the builder's retention).
    public var closed: Bool
    /// For a closed edge, when it was last seen open (seconds since the Unix epoch).
    public var lastSeen: Double?
    /// What flows on the edge (protocol, request and error rates, latency), from the L7 programs; nil when unknown.
    public var l7: EdgeL7?

    public init(source: String, target: String, protocols: [String], ports: [Int], connections: Int,
                bytesPerSecond: Double? = nil, rttMillis: Double? = nil, closed: Bool = false, lastSeen: Double? = nil) {
        self.id = Self.id(source: source, target: target)
        self.source = source
        self.target = target
        self.protocols = protocols
        self.ports = ports
        self.connections = connections
        self.bytesPerSecond = bytesPerSecond
        self.rttMillis = rttMillis
        self.closed = closed
        self.lastSeen = lastSeen
    }

    /// The id of the edge from `source` to `target`.
    public static func id(source: String, target: String) -> String { "\(source)->\(target)" }

    /// `{id, source, target, protocols, ports, connections, closed, bytesPerSecond?, rttMillis?, lastSeen?, l7?}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "id": .string(id), "source": .string(source), "target": .string(target),
            "protocols": JSONValue(protocols), "ports": .array(ports.map { .int(Int64($0)) }),
            "connections": .int(Int64(connections)), "closed": .bool(closed),
        ]
        if let bytesPerSecond { o["bytesPerSecond"] = .double(bytesPerSecond) }
        if let rttMillis { o["rttMillis"] = .double(rttMillis) }
        if let lastSeen { o["lastSeen"] = .double(lastSeen) }
        if let l7 { o["l7"] = l7.json }
        return .object(o)
    }
}
