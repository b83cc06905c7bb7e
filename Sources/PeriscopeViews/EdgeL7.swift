import PeriscopeProtocol
import PeriscopeTopology

/// What flows on an edge (`edges[].l7`, issue 14): the application protocol and its request rate, error rate and
/// latency, from the L7 programs' figures on the edge's connections. Absent when no connection of the edge has
/// a known protocol. Pure value.
public struct EdgeL7: Sendable, Hashable, JSONRepresentable {
    /// `http`, `http2`, `tls`, `postgres`, `mysql`, `redis`, `dns` (the one with the most requests).
    public var protocolName: String
    /// Requests per second over the last refresh window.
    public var requestsPerSecond: Double
    /// Error responses per second over the last window (HTTP ≥ 400, PostgreSQL/MySQL/Redis errors, DNS rcode ≠ 0).
    public var errorsPerSecond: Double
    /// Latency percentiles, milliseconds: of the last window's responses, or of every response seen when the
    /// window had none; nil when no response was ever paired with its request.
    public var latencyP50Ms: Double?
    public var latencyP99Ms: Double?
    /// Requests and error responses seen on the edge's connections since they were first seen.
    public var requests: Int
    public var errors: Int
    /// TLS server name, when the connections are TLS with SNI.
    public var sni: String?

    /// `{protocol, requestsPerSecond, errorsPerSecond, latencyP50Ms?, latencyP99Ms?, requests, errors, sni?}`.
    public var json: JSONValue {
        var o: [String: JSONValue] = [
            "protocol": .string(protocolName), "requestsPerSecond": .double(Self.round(requestsPerSecond)),
            "errorsPerSecond": .double(Self.round(errorsPerSecond)), "requests": .int(Int64(requests)),
            "errors": .int(Int64(errors)),
        ]
        if let latencyP50Ms { o["latencyP50Ms"] = .double(Self.round(latencyP50Ms)) }
        if let latencyP99Ms { o["latencyP99Ms"] = .double(Self.round(latencyP99Ms)) }
        if let sni { o["sni"] = .string(sni) }
        return .object(o)
    }

    /// The summary of `figures` (already summed), or nil for an unknown protocol.
    init?(_ figures: L7Figures) {
        guard figures.protocolName != "unknown" else { return nil }
        protocolName = figures.protocolName
        requestsPerSecond = Double(figures.requests) / figures.seconds
        errorsPerSecond = Double(figures.errors) / figures.seconds
        let histogram = figures.histogram.isEmpty ? figures.totalHistogram : figures.histogram
        latencyP50Ms = L7Histogram.quantileMillis(histogram, 0.5)
        latencyP99Ms = L7Histogram.quantileMillis(histogram, 0.99)
        requests = figures.totalRequests
        errors = figures.totalErrors
        sni = figures.sni
    }

    static func round(_ v: Double) -> Double { (v * 1000).rounded() / 1000 }

    /// The figures one connection node carries: the server process's view when the server is on a watched host,
    /// else the client's (each request is counted once per connection).
    static func figures(of node: Node) -> L7Figures? {
        if let text = node.latest[NodeKey.l7Server], let f = L7Figures(text: text) { return f }
        if let text = node.latest[NodeKey.l7Client], let f = L7Figures(text: text) { return f }
        return nil
    }
}
