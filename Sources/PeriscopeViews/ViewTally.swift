import PeriscopeTopology

/// What one connection adds to a view: the view nodes it is drawn between, the pseudo nodes it brings in, its
/// figures on the edge, and what its resolution read (so a later change to those inputs re-resolves it).
/// Pure value.
///
/// The renderer keeps one per connection and the tally one ``Member`` per connection, so at 10,000 connections
/// every byte of their inline size counts ten thousand times (and more, by the dictionaries' spare buckets).
/// The member (the edge figures) is therefore not part of the contribution the renderer keeps: it is handed to
/// the tally beside it (``ViewTally/add(_:_:_:)``), and the contribution keeps only the port and whether the
/// connection is closed, which taking it out again needs. The fields that most connections leave `nil` and that
/// are large inline (a pseudo party, L7 figures) are held in a ``Boxed`` reference: 8 bytes when absent, one
/// small allocation when present.
struct ConnectionContribution: Sendable {
    /// The figures a connection adds to its edge. The tally keeps one per connection, so it is stored narrow
    /// (40 bytes, not 88): the protocol as its enum, the port in 32 bits, absent figures as NaN (figures are
    /// finite: histories drop non-finite samples).
    struct Member: Sendable {
        // Widest first: Swift lays a struct's fields out in this order.
        private var lastSeenValue: Double
        private var rateValue: Double
        private var rttValue: Double
        private var l7Box: Boxed<L7Figures>?
        private var port32: Int32
        private var protocolValue: TransportProtocol
        var closed: Bool

        var proto: String { protocolValue.rawValue }
        var port: Int { Int(port32) }
        var lastSeen: Double? { lastSeenValue.isNaN ? nil : lastSeenValue }
        var bytesPerSecond: Double? { rateValue.isNaN ? nil : rateValue }
        var rttMillis: Double? { rttValue.isNaN ? nil : rttValue }
        var l7: L7Figures? { l7Box?.value }

        init(proto: TransportProtocol, port: Int, closed: Bool, lastSeen: Double?, bytesPerSecond: Double?,
             rttMillis: Double?, l7: L7Figures?) {
            protocolValue = proto
            port32 = Int32(clamping: port)
            self.closed = closed
            lastSeenValue = lastSeen ?? .nan
            rateValue = bytesPerSecond ?? .nan
            rttValue = rttMillis ?? .nan
            l7Box = l7.map(Boxed.init)
        }
    }

    var source: String
    var target: String
    private var sourcePseudoBox: Boxed<Party>?
    private var targetPseudoBox: Boxed<Party>?
    /// Pseudo nodes the ends are drawn as (`nil` for a process or a view node of the report).
    var sourcePseudo: Party? { sourcePseudoBox?.value }
    var targetPseudo: Party? { targetPseudoBox?.value }
    /// The processes of the two sides, drawn or not.
    var clientProcess: String?
    var serverProcess: String?
    /// The member's server port and closed flag (what ``ViewTally/remove(_:_:)`` takes out of the counts).
    var port: Int
    var closed: Bool
    /// The inputs the resolution read besides the connection node: the endpoint nodes and the process ids
    /// consulted (found or not).
    var inputs: ResolutionInputs

    init(source: String, target: String, sourcePseudo: Party?, targetPseudo: Party?, clientProcess: String?,
         serverProcess: String?, port: Int, closed: Bool, inputs: ResolutionInputs) {
        self.source = source
        self.target = target
        sourcePseudoBox = sourcePseudo.map(Boxed.init)
        targetPseudoBox = targetPseudo.map(Boxed.init)
        self.clientProcess = clientProcess
        self.serverProcess = serverProcess
        self.port = port
        self.closed = closed
        self.inputs = inputs
    }

    var isSelfEdge: Bool { source == target }
}

/// An immutable value behind a reference: keeps a rarely-set, large field out of a struct's inline size.
final class Boxed<Value: Sendable>: Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// The view's accumulation over its connections, kept as counts so that a connection can be taken out again
/// exactly (``remove(_:_:)``): edges by their members, open-connection counts per node, server ports per node
/// (a multiset), pseudo nodes, processes with connections, nodes with connections between their own members.
/// Edge summaries are recomputed only for the edges whose members changed (``refreshSummaries()``), from the
/// members in an order-independent way, so the outcome never depends on the order connections came in.
///
/// Pure value; one owner at a time.
struct ViewTally: Sendable {
    struct EdgeKey: Hashable, Sendable { var source: String; var target: String }

    private(set) var edges: [EdgeKey: [String: ConnectionContribution.Member]] = [:]
    private(set) var counts: [String: (in: Int, out: Int)] = [:]
    private(set) var ports: [String: [Int: Int]] = [:]
    private(set) var pseudo: [String: (party: Party, uses: Int)] = [:]
    private(set) var connectedProcesses: [String: Int] = [:]
    private(set) var internallyConnected: [String: Int] = [:]
    /// Edge summaries by id, current up to the edges touched since the last ``refreshSummaries()``.
    private(set) var summaries: [String: EdgeSummary] = [:]
    /// The summed L7 figures of each edge's busiest protocol, by edge id (the metrics exposition reads them).
    private(set) var l7: [String: L7Figures] = [:]
    private var touched: Set<EdgeKey> = []

    /// Adds connection `id`'s contribution `c` with its edge figures `member` (whose port and closed flag are
    /// the contribution's).
    mutating func add(_ id: String, _ c: ConnectionContribution, _ member: ConnectionContribution.Member) {
        if let p = c.sourcePseudo { notePseudo(c.source, p, +1) }
        if let p = c.targetPseudo { notePseudo(c.target, p, +1) }
        if let p = c.clientProcess { Self.bump(&connectedProcesses, p, +1) }
        if let p = c.serverProcess { Self.bump(&connectedProcesses, p, +1) }
        if c.isSelfEdge {  // a node talking to itself is not drawn
            if !c.source.hasPrefix("pseudo:") { Self.bump(&internallyConnected, c.source, +1) }  // not Uncontained, …
            return
        }
        let key = EdgeKey(source: c.source, target: c.target)
        edges[key, default: [:]][id] = member
        touched.insert(key)
        if !c.closed {  // metrics count open connections; closed ones are history (node details)
            counts[c.source, default: (0, 0)].out += 1
            counts[c.target, default: (0, 0)].in += 1
        }
        ports[c.source, default: [:]][c.port, default: 0] += 1
        ports[c.target, default: [:]][c.port, default: 0] += 1
    }

    /// Takes out connection `id`'s contribution `c` (the one ``add(_:_:_:)`` was given).
    mutating func remove(_ id: String, _ c: ConnectionContribution) {
        if let p = c.sourcePseudo { notePseudo(c.source, p, -1) }
        if let p = c.targetPseudo { notePseudo(c.target, p, -1) }
        if let p = c.clientProcess { Self.bump(&connectedProcesses, p, -1) }
        if let p = c.serverProcess { Self.bump(&connectedProcesses, p, -1) }
        if c.isSelfEdge {
            if !c.source.hasPrefix("pseudo:") { Self.bump(&internallyConnected, c.source, -1) }
            return
        }
        let key = EdgeKey(source: c.source, target: c.target)
        edges[key]?[id] = nil
        if edges[key]?.isEmpty ?? false { edges[key] = nil }
        touched.insert(key)
        if !c.closed {
            Self.decrement(&counts, c.source, out: true)
            Self.decrement(&counts, c.target, out: false)
        }
        Self.dropPort(&ports, c.source, c.port)
        Self.dropPort(&ports, c.target, c.port)
    }

    /// Recomputes the summaries of the edges touched since the last call.
    mutating func refreshSummaries() {
        for key in touched {
            let id = EdgeSummary.id(source: key.source, target: key.target)
            guard let members = edges[key], !members.isEmpty else {
                summaries[id] = nil
                l7[id] = nil
                continue
            }
            var edge = Self.summary(key, members)
            let figures = Self.busiestL7(members)
            edge.l7 = figures.flatMap(EdgeL7.init)
            summaries[id] = edge
            l7[id] = figures
        }
        touched.removeAll(keepingCapacity: true)
    }

    /// The pseudo nodes in use, by id.
    var pseudoParties: [String: Party] { pseudo.mapValues(\.party) }

    /// The server ports of each node, as sets.
    var portSets: [String: Set<Int>] { ports.mapValues { Set($0.keys) } }

    private static func summary(_ key: EdgeKey, _ members: [String: ConnectionContribution.Member]) -> EdgeSummary {
        var protocols: Set<String> = [], ports: Set<Int> = []
        var open = 0
        var rates: [Double] = [], rtts: [Double] = []
        var lastSeen: Double?
        for m in members.values {
            protocols.insert(m.proto)
            ports.insert(m.port)
            if m.closed {
                if let seen = m.lastSeen { lastSeen = max(lastSeen ?? seen, seen) }
            } else {
                open += 1
            }
            if let r = m.bytesPerSecond { rates.append(r) }
            if let r = m.rttMillis { rtts.append(r) }
        }
        // Sums in ascending order: the same members give the same bits whatever order they came in.
        let rate = rates.isEmpty ? nil : rates.sorted().reduce(0, +)
        let rtt = rtts.isEmpty ? nil : rtts.sorted().reduce(0, +) / Double(rtts.count)
        return EdgeSummary(source: key.source, target: key.target, protocols: protocols.sorted(), ports: ports.sorted(),
                           connections: open > 0 ? open : members.count, bytesPerSecond: rate, rttMillis: rtt,
                           closed: open == 0, lastSeen: open == 0 ? lastSeen : nil)
    }

    /// The members' L7 figures summed per protocol; the protocol with the most requests.
    private static func busiestL7(_ members: [String: ConnectionContribution.Member]) -> L7Figures? {
        var byProtocol: [String: L7Figures] = [:]
        for m in members.values {
            guard let f = m.l7 else { continue }
            byProtocol[f.protocolName, default: L7Figures(protocolName: f.protocolName, seconds: f.seconds)].add(f)
        }
        return byProtocol.values.max { a, b in (a.totalRequests, a.protocolName) < (b.totalRequests, b.protocolName) }
    }

    private mutating func notePseudo(_ id: String, _ party: Party, _ delta: Int) {
        if let entry = pseudo[id] {
            let uses = entry.uses + delta
            pseudo[id] = uses > 0 ? (entry.party, uses) : nil
        } else if delta > 0 {
            pseudo[id] = (party, delta)
        }
    }

    private static func bump(_ counts: inout [String: Int], _ key: String, _ delta: Int) {
        let n = (counts[key] ?? 0) + delta
        counts[key] = n > 0 ? n : nil
    }

    private static func decrement(_ counts: inout [String: (in: Int, out: Int)], _ key: String, out: Bool) {
        guard var c = counts[key] else { return }
        if out { c.out -= 1 } else { c.in -= 1 }
        counts[key] = c.in == 0 && c.out == 0 ? nil : c
    }

    private static func dropPort(_ ports: inout [String: [Int: Int]], _ key: String, _ port: Int) {
        guard var set = ports[key], let n = set[port] else { return }
        set[port] = n > 1 ? n - 1 : nil
        ports[key] = set.isEmpty ? nil : set
    }
}
