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
    let view: String
    let factory: NodeFactory
    let options: EffectiveOptions
    /// The resolved connections of ``accumulate()`` (node details list them).
    var connections: [ResolvedConnection] = []
    /// What the connections add up to (edges, counts, ports, pseudo nodes); see ``ViewTally``.
    var tally = ViewTally()
    /// Scratch of ``candidateNodes()``: server and listening ports by view node, pseudo nodes in use.
    var ports: [String: Set<Int>] = [:]
    var pseudo: [String: Party] = [:]
    private var groupNames: [String: String] = [:]

    init(report: Report, view: String, options: EffectiveOptions, names: [String: String]) {
        self.view = view
        self.options = options
        factory = NodeFactory(report: report, names: names)
    }

    var report: Report { factory.report }

    /// Real view nodes with connections between their own members (a group's processes talking to each other):
    /// not drawn as edges, yet connected, so `hideUnconnected` keeps them. Pseudo nodes (Uncontained) are not.
    var internallyConnected: Set<String> { Set(tally.internallyConnected.keys) }

    /// The view node a party is drawn as.
    mutating func project(_ party: Party) -> String { projection(party).id }

    /// The view node a party is drawn as, and the pseudo node that brings into the view (`nil` when the party is
    /// drawn as a process or as a node of the report).
    mutating func projection(_ party: Party) -> (id: String, pseudo: Party?) {
        if ViewCatalog.isContainerView(view) { return projectToContainer(party) }
        switch (view, party.kind) {
        case (ViewCatalog.processesByName, .process):
            let pid = party.processID ?? party.nodeID
            if let name = groupNames[pid] { return (name, nil) }
            let name = report.processes.nodes[pid].map(NodeFactory.groupName) ?? "unknown"
            let id = NodeFactory.groupID(name)
            groupNames[pid] = id
            return (id, nil)
        case (ViewCatalog.hosts, .process), (ViewCatalog.hosts, .unknown):
            if let host = party.hostID, report.hosts.nodes[host] != nil { return (host, nil) }
            if party.kind == .unknown { return (party.nodeID, nil) }
            return (party.nodeID, party)
        default:
            return (party.nodeID, party.kind != .process ? party : nil)
        }
    }

    /// What connection `c` (of connection node `node`) adds to the view, and its figures on the edge.
    mutating func contribution(_ c: ResolvedConnection, node: Node)
        -> (contribution: ConnectionContribution, member: ConnectionContribution.Member) {
        let (source, sourcePseudo) = projection(c.clientParty)
        let (target, targetPseudo) = projection(c.serverParty)
        func unknown(_ party: Party, _ id: String) -> Party? { party.kind == .unknown && id == party.nodeID ? party : nil }
        let member = ConnectionContribution.Member(
            proto: c.sides.proto, port: Int(c.server.port), closed: c.closed, lastSeen: c.lastSeen,
            bytesPerSecond: c.bytesPerSecond, rttMillis: c.rttMillis, l7: EdgeL7.figures(of: node))
        let contribution = ConnectionContribution(
            source: source, target: target,
            sourcePseudo: sourcePseudo ?? unknown(c.clientParty, source),
            targetPseudo: targetPseudo ?? unknown(c.serverParty, target),
            clientProcess: c.clientParty.processID, serverProcess: c.serverParty.processID,
            port: member.port, closed: member.closed, inputs: c.inputs)
        return (contribution, member)
    }

    /// Resolves and accumulates every connection of the report.
    mutating func accumulate() {
        var resolver = ConnectionResolver(report: report)
        let nodes = report.connections.nodes
        connections.reserveCapacity(nodes.count)
        for node in nodes.values {
            guard let c = resolver.resolve(node), options.includeClosed || !c.closed else { continue }
            connections.append(c)
            let (contribution, member) = contribution(c, node: node)
            tally.add(c.id, contribution, member)
        }
        tally.refreshSummaries()
    }

    /// Every node the view can show before hiding and filtering, with metrics and ports filled in.
    mutating func candidateNodes() -> [String: NodeSummary] {
        var nodes: [String: NodeSummary] = [:]
        ports = tally.portSets
        pseudo = tally.pseudoParties
        let counts = tally.counts
        let connectedProcesses = tally.connectedProcesses
        let processes = report.processes.nodes
        switch view {
        case ViewCatalog.containers, ViewCatalog.containersByImage, ViewCatalog.containersByHostname:
            containerCandidates(into: &nodes)
        case ViewCatalog.hosts:
            for h in report.hosts.nodes.values { nodes[h.id] = factory.hostSummary(h) }
            for (hostID, listenPorts) in hostListeningPorts() { ports[hostID, default: []].formUnion(listenPorts) }
        case ViewCatalog.processesByName:
            var members: [String: [Node]] = [:]
            for p in processes.values where options.all || connectedProcesses[p.id] != nil {
                members[NodeFactory.groupName(p), default: []].append(p)
            }
            for (name, list) in members {
                let summary = factory.groupSummary(name: name, members: list)
                for p in list { ports[summary.id, default: []].formUnion(NodeFactory.listeningPorts(p)) }
                nodes[summary.id] = summary
            }
        default:
            for p in processes.values where options.all || connectedProcesses[p.id] != nil {
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
    func edgeSummaries() -> [String: EdgeSummary] { tally.summaries }
}
