import PeriscopeProtocol

/// What `periscope watch` has shown so far — node labels and live edges — and the lines that tell a
/// person how a view changed: from one notification, or across a gap (a daemon restart, a reset).
struct WatchState {
    private var nodes: [String: JSONValue] = [:]
    private var edges: [String: JSONValue] = [:]
    /// Also print `~` lines for nodes and edges whose metrics changed.
    var updates = false

    var nodeCount: Int { nodes.count }
    var edgeCount: Int { edges.count }

    /// Takes `snapshot` as what is shown, without printing; returns its '+' lines for `--initial`.
    mutating func start(_ snapshot: JSONValue) -> [String] {
        nodes = [:]
        edges = [:]
        return resynchronise(nodes: snapshot["nodes"]?.arrayValue ?? [], edges: snapshot["edges"]?.arrayValue ?? [])
    }

    /// Lines for one `topology/changed` notification (a reset is diffed against what was shown).
    mutating func apply(_ change: TopologyChangedNotification) -> [String] {
        let changes = change.changes
        if change.reset {
            return resynchronise(nodes: changes.added.nodes, edges: changes.added.edges)
        }
        var lines: [String] = []
        for node in changes.added.nodes {
            remember(node: node)
            lines.append(WatchState.line("+", node: node))
        }
        for node in changes.updated.nodes {
            remember(node: node)
            if updates { lines.append(WatchState.line("~", node: node)) }
        }
        for edge in changes.added.edges {
            remember(edge: edge)
            lines.append(line("+", edge: edge))
        }
        for edge in changes.updated.edges {
            remember(edge: edge)
            let closed = edge["closed"]?.boolValue == true
            if updates || closed { lines.append(line(closed ? "x" : "~", edge: edge)) }
        }
        lines += forget(edges: changes.removed.edges, nodes: changes.removed.nodes)
        return lines
    }

    /// Makes the whole current state `nodes` and `edges`, returning '+'/'-' lines for what differs
    /// from what was shown (nothing for what is unchanged).
    mutating func resynchronise(nodes fresh: [JSONValue], edges freshEdges: [JSONValue]) -> [String] {
        var lines: [String] = []
        var seenNodes = Set<String>()
        for node in fresh {
            guard let id = node["id"]?.stringValue else { continue }
            seenNodes.insert(id)
            if nodes[id] == nil { lines.append(WatchState.line("+", node: node)) }
            nodes[id] = node
        }
        var seenEdges = Set<String>()
        for edge in freshEdges {
            guard let id = edge["id"]?.stringValue else { continue }
            seenEdges.insert(id)
            if edges[id] == nil { lines.append(line("+", edge: edge)) }
            edges[id] = edge
        }
        return lines + forget(edges: edges.keys.filter { !seenEdges.contains($0) }.sorted(),
                              nodes: nodes.keys.filter { !seenNodes.contains($0) }.sorted())
    }

    private mutating func remember(node: JSONValue) {
        if let id = node["id"]?.stringValue { nodes[id] = node }
    }

    private mutating func remember(edge: JSONValue) {
        if let id = edge["id"]?.stringValue { edges[id] = edge }
    }

    /// Drops edges, then nodes; '-' lines for those that were shown (edge lines still name their ends).
    private mutating func forget(edges gone: [String], nodes goneNodes: [String]) -> [String] {
        var lines: [String] = []
        for id in gone {
            if let edge = edges.removeValue(forKey: id) { lines.append(line("-", edge: edge)) }
        }
        for id in goneNodes {
            lines.append("- node \(nodes.removeValue(forKey: id).map(TopologyText.label) ?? id)")
        }
        return lines
    }

    static func line(_ sign: String, node: JSONValue) -> String {
        "\(sign) \(node["kind"]?.stringValue ?? "node") \(TopologyText.label(node))"
    }

    func line(_ sign: String, edge: JSONValue) -> String {
        func name(_ key: String) -> String {
            let id = edge[key]?.stringValue ?? "?"
            return nodes[id].map(TopologyText.label) ?? id
        }
        let protocols = edge["protocols"]?.arrayValue?.compactMap(\.stringValue) ?? []
        let ports = edge["ports"]?.arrayValue?.compactMap { $0.intValue.map(String.init) } ?? []
        let closed = edge["closed"]?.boolValue == true ? " (closed)" : ""
        return "\(sign) edge \(name("source")) → \(name("target")) \(protocols.joined(separator: ",")):\(ports.joined(separator: ","))\(closed)"
    }
}
