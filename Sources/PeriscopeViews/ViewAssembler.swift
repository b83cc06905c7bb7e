import PeriscopeProtocol
import PeriscopeTopology

/// The options of one render with view defaults applied.
struct EffectiveOptions: Sendable {
    var all: Bool
    var hideUnconnected: Bool
    var hidePseudo: Bool
    var includeClosed: Bool
    /// Container views: include system containers.
    var system = true

    /// `options` over `descriptor`'s defaults; ``ViewSpec`` has checked that the view takes every option set.
    init(_ options: ViewOptions, _ descriptor: ViewDescriptor) {
        all = options.all ?? descriptor.option("all")
        hideUnconnected = options.hideUnconnected ?? (all ? false : descriptor.option("hideUnconnected"))
        hidePseudo = options.hidePseudo ?? descriptor.option("hidePseudo")
        includeClosed = options.includeClosed ?? descriptor.option("includeClosed")
        system = options.system ?? descriptor.option("system")
    }

    /// Everything, for node details.
    static let everything = EffectiveOptions(all: true, hideUnconnected: false, hidePseudo: false, includeClosed: true)

    private init(all: Bool, hideUnconnected: Bool, hidePseudo: Bool, includeClosed: Bool) {
        self.all = all
        self.hideUnconnected = hideUnconnected
        self.hidePseudo = hidePseudo
        self.includeClosed = includeClosed
    }
}

/// Projects resolved connections onto one view's nodes and accumulates edges: the work of one render.
struct ViewAssembler {
    struct EdgeKey: Hashable { var source: String; var target: String }

    struct EdgeAccumulator {
        var protocols: Set<String> = []
        var ports: Set<Int> = []
        var count = 0
        var open = 0
        var bytesPerSecond: Double?
        var rttSum = 0.0
        var rttCount = 0
        var lastSeen: Double?
    }

    let view: String
    let factory: NodeFactory
    let options: EffectiveOptions
    var connections: [ResolvedConnection] = []
    var edges: [EdgeKey: EdgeAccumulator] = [:]
    var counts: [String: (in: Int, out: Int)] = [:]
    var ports: [String: Set<Int>] = [:]
    var pseudo: [String: Party] = [:]
    /// Processes that are a side of at least one connection (drawn or not).
    var connectedProcesses: Set<String> = []
    /// Real view nodes with connections between their own members (a group's processes talking to each other):
    /// not drawn as edges, yet connected, so `hideUnconnected` keeps them. Pseudo nodes (Uncontained) are not.
    var internallyConnected: Set<String> = []
    /// The L7 figures of each edge's connections.
    var l7 = EdgeL7Accumulator()
    private var groupNames: [String: String] = [:]

    init(report: Report, view: String, options: EffectiveOptions, names: [String: String]) {
        self.view = view
        self.options = options
        factory = NodeFactory(report: report, names: names)
    }

    var report: Report { factory.report }

    /// The view node a party is drawn as.
    mutating func project(_ party: Party) -> String {
        if ViewCatalog.isContainerView(view) { return projectToContainer(party) }
        switch (view, party.kind) {
        case (ViewCatalog.processesByName, .process):
            let pid = party.processID ?? party.nodeID
            if let name = groupNames[pid] { return name }
            let name = report.processes.nodes[pid].map(NodeFactory.groupName) ?? "unknown"
            let id = NodeFactory.groupID(name)
            groupNames[pid] = id
            return id
        case (ViewCatalog.hosts, .process), (ViewCatalog.hosts, .unknown):
            if let host = party.hostID, report.hosts.nodes[host] != nil { return host }
            if party.kind == .unknown { return party.nodeID }
            pseudo[party.nodeID] = party
            return party.nodeID
        default:
            if party.kind != .process { pseudo[party.nodeID] = party }
            return party.nodeID
        }
    }

    /// Resolves and accumulates every connection of the report.
    mutating func accumulate() {
        var resolver = ConnectionResolver(report: report)
        connections = resolver.resolveAll(includeClosed: options.includeClosed)
        for c in connections {
            let source = project(c.clientParty)
            let target = project(c.serverParty)
            if c.clientParty.kind == .unknown, source == c.clientParty.nodeID { pseudo[source] = c.clientParty }
            if c.serverParty.kind == .unknown, target == c.serverParty.nodeID { pseudo[target] = c.serverParty }
            if let p = c.clientParty.processID { connectedProcesses.insert(p) }
            if let p = c.serverParty.processID { connectedProcesses.insert(p) }
            if source == target {  // a node talking to itself is not drawn
                if !source.hasPrefix("pseudo:") { internallyConnected.insert(source) }  // not Uncontained, …
                continue
            }
            let port = Int(c.server.port)
            Self.add(c, port: port, to: &edges[EdgeKey(source: source, target: target), default: EdgeAccumulator()])
            l7.add(connectionID: c.id, edgeID: EdgeSummary.id(source: source, target: target), report: report)
            if !c.closed {  // metrics count open connections; closed ones are history (node details)
                counts[source, default: (0, 0)].out += 1
                counts[target, default: (0, 0)].in += 1
            }
            ports[source, default: []].insert(port)
            ports[target, default: []].insert(port)
        }
    }

    private static func add(_ c: ResolvedConnection, port: Int, to acc: inout EdgeAccumulator) {
        acc.protocols.insert(c.proto)
        acc.ports.insert(port)
        acc.count += 1
        if c.closed {
            if let seen = c.lastSeen { acc.lastSeen = max(acc.lastSeen ?? seen, seen) }
        } else {
            acc.open += 1
        }
        if let rate = c.bytesPerSecond { acc.bytesPerSecond = (acc.bytesPerSecond ?? 0) + rate }
        if let rtt = c.rttMillis { acc.rttSum += rtt; acc.rttCount += 1 }
    }

    /// Every node the view can show before hiding and filtering, with metrics and ports filled in.
    mutating func candidateNodes() -> [String: NodeSummary] {
        var nodes: [String: NodeSummary] = [:]
        let processes = report.processes.nodes
        switch view {
        case ViewCatalog.containers, ViewCatalog.containersByImage, ViewCatalog.containersByHostname:
            containerCandidates(into: &nodes)
        case ViewCatalog.hosts:
            for h in report.hosts.nodes.values { nodes[h.id] = factory.hostSummary(h) }
            for (hostID, listenPorts) in hostListeningPorts() { ports[hostID, default: []].formUnion(listenPorts) }
        case ViewCatalog.processesByName:
            var members: [String: [Node]] = [:]
            for p in processes.values where options.all || connectedProcesses.contains(p.id) {
                members[NodeFactory.groupName(p), default: []].append(p)
            }
            for (name, list) in members {
                let summary = factory.groupSummary(name: name, members: list)
                for p in list { ports[summary.id, default: []].formUnion(NodeFactory.listeningPorts(p)) }
                nodes[summary.id] = summary
            }
        default:
            for p in processes.values where options.all || connectedProcesses.contains(p.id) {
                nodes[p.id] = factory.processSummary(p)
                ports[p.id, default: []].formUnion(NodeFactory.listeningPorts(p))
            }
        }
        for (id, party) in pseudo where nodes[id] == nil { nodes[id] = factory.pseudoSummary(party) }
        for (id, var node) in nodes {
            if let c = counts[id] {
                node.metrics.connectionsIn = c.in
                node.metrics.connectionsOut = c.out
            }
            if let p = ports[id], !p.isEmpty { node.metadata["ports"] = .array(p.sorted().map { .int(Int64($0)) }) }
            nodes[id] = node
        }
        NodeL7.decorate(&nodes, view: view, report: report)
        return nodes
    }

    private func hostListeningPorts() -> [String: Set<Int>] {
        var out: [String: Set<Int>] = [:]
        for p in report.processes.nodes.values {
            if let host = p.parent(.host) { out[host, default: []].formUnion(NodeFactory.listeningPorts(p)) }
        }
        return out
    }

    /// The accumulated edges as summaries.
    func edgeSummaries() -> [String: EdgeSummary] {
        var out: [String: EdgeSummary] = [:]
        out.reserveCapacity(edges.count)
        for (key, acc) in edges {
            var edge = EdgeSummary(source: key.source, target: key.target, protocols: acc.protocols.sorted(),
                                   ports: acc.ports.sorted(), connections: acc.open > 0 ? acc.open : acc.count,
                                   bytesPerSecond: acc.bytesPerSecond,
                                   rttMillis: acc.rttCount > 0 ? acc.rttSum / Double(acc.rttCount) : nil,
                                   closed: acc.open == 0, lastSeen: acc.open == 0 ? acc.lastSeen : nil)
            edge.l7 = l7.summary(edgeID: edge.id)
            out[edge.id] = edge
        }
        return out
    }
}
