import PeriscopeProtocol
import PeriscopeTopology

/// Renders one view (a view and its options) of report after report, redoing only what changed: a connection is
/// resolved again, and taken out of and put back into its edge, only when its node, one of its endpoint nodes or
/// one of the processes it was resolved against changed; only the edges whose members changed are summarised
/// again (see ``ViewTally``). The view's nodes (processes, groups, hosts: a few hundred) are summarised afresh
/// each time, so their metrics and labels are always current. The result is what
/// ``ViewRenderer/render(report:spec:filter:names:)`` gives for the same report (property-tested).
///
/// It starts over (resolving every connection) on its first report, when what every connection's resolution
/// reads changed (the hosts or their local networks), or when most connections changed anyway (a full pass with
/// new counters on every connection).
///
/// A value: one owner at a time (a shared view's render lane); keeps the last report's connection and endpoint
/// tables to tell what changed.
public struct IncrementalRenderer: Sendable {
    /// What a connection's party and projection read of one process.
    struct ProcessKey: Hashable, Sendable {
        var host: String?
        /// The group (processes-by-name) or container view node (container views) it is drawn in.
        var drawnIn: String?
    }

    public let spec: ViewSpec
    private var connections = NodeTable()
    private var endpoints = NodeTable()
    private var processKeys: [String: ProcessKey] = [:]
    /// The hosts and their local networks (what the hosts view projects onto, and what tells remote peers from
    /// the Internet): a change resolves every connection again.
    private var hosts: [String: Set<String>]?
    private var tally = ViewTally()
    private var contributions: [String: ConnectionContribution] = [:]
    /// Connections resolved by the last render, and whether it started over.
    public private(set) var lastResolved = 0
    public private(set) var lastStartedOver = false

    public init(spec: ViewSpec) {
        self.spec = spec
    }

    /// The view of `report` (with `filter` applied), updated from the last render.
    public mutating func render(_ report: Report, names: [String: String] = [:],
                                filter: FilterExpression? = nil) -> RenderedView {
        var assembler = ViewAssembler(report: report, view: spec.view, options: spec.effective, names: names)
        let hosts = report.hosts.nodes.mapValues { $0.sets[NodeKey.localNetworks] ?? [] }
        let keys = processKeys(report)
        let newConnections = report.connections.nodes
        var dirty: Set<String>?
        if hosts == self.hosts {
            dirty = changedConnections(newConnections, report.endpoints.nodes, keys)
        }
        var resolver = ConnectionResolver(report: report)
        if let dirty {
            for id in dirty {
                if let old = contributions.removeValue(forKey: id) { tally.remove(id, old) }
                if let node = newConnections[id] { add(node, &resolver, &assembler) }
            }
            lastResolved = dirty.count
            lastStartedOver = false
        } else {
            tally = ViewTally()
            contributions = [:]
            contributions.reserveCapacity(newConnections.count)
            for node in newConnections.values { add(node, &resolver, &assembler) }
            lastResolved = newConnections.count
            lastStartedOver = true
        }
        tally.refreshSummaries()
        self.hosts = hosts
        processKeys = keys
        connections = newConnections
        endpoints = report.endpoints.nodes
        assembler.tally = tally
        return ViewRenderer.finish(assembler, filter: filter)
    }

    private mutating func add(_ node: Node, _ resolver: inout ConnectionResolver, _ assembler: inout ViewAssembler) {
        guard let c = resolver.resolve(node), spec.effective.includeClosed || !c.closed else { return }
        let (contribution, member) = assembler.contribution(c, node: node)
        tally.add(c.id, contribution, member)
        contributions[c.id] = contribution
    }

    /// The connections to resolve again: new, changed or gone nodes, and those that read an endpoint whose
    /// parents changed or a process whose ``ProcessKey`` changed. `nil` when more than half of them changed
    /// (starting over is cheaper).
    private func changedConnections(_ new: NodeTable, _ newEndpoints: NodeTable,
                                    _ keys: [String: ProcessKey]) -> Set<String>? {
        // Only the shards the new tables no longer share with the last report's are compared (see ``NodeTable``).
        var dirty: Set<String> = []
        let limit = max(64, new.count / 2)
        // Most of them changed (a full pass): stop comparing, start over.
        let complete = new.differences(from: connections) { id, _, _ in
            dirty.insert(id)
            return dirty.count <= limit
        }
        guard complete else { return nil }
        var endpointsChanged: Set<String> = []
        newEndpoints.forEachDifference(from: endpoints) { id, old, node in
            if old?.parents != node?.parents || old == nil || node == nil { endpointsChanged.insert(id) }
        }
        var processesChanged: Set<String> = []
        for (pid, key) in keys where processKeys[pid] != key { processesChanged.insert(pid) }
        if keys.count != processKeys.count || !processesChanged.isEmpty {
            for pid in processKeys.keys where keys[pid] == nil { processesChanged.insert(pid) }
        }
        guard !endpointsChanged.isEmpty || !processesChanged.isEmpty else { return dirty }
        func reads(_ inputs: ResolutionInputs) -> Bool {
            for id in [inputs.clientEndpoint, inputs.serverEndpoint] {
                if let id, endpointsChanged.contains(id) { return true }
            }
            for pid in [inputs.clientProcess, inputs.serverProcess] {
                if let pid, processesChanged.contains(pid) { return true }
            }
            return false
        }
        for (id, c) in contributions where reads(c.inputs) { dirty.insert(id) }
        // A connection left out (no typed sides, or closed while closed ones are hidden) read nothing else.
        return dirty.count > limit ? nil : dirty
    }

    /// What connections read of each process in this view.
    private func processKeys(_ report: Report) -> [String: ProcessKey] {
        let view = spec.view
        let grouped = view == ViewCatalog.processesByName
        let containers = ViewCatalog.isContainerView(view)
        let containerNodes = report[.container].nodes
        var keys: [String: ProcessKey] = [:]
        keys.reserveCapacity(report.processes.nodes.count)
        for (pid, p) in report.processes.nodes {
            var key = ProcessKey(host: p.parent(.host))
            if grouped {
                key.drawnIn = NodeFactory.groupName(p)
            } else if containers, let cid = p.parent(.container), let c = containerNodes[cid] {
                key.drawnIn = ViewAssembler.containerViewID(view, c)
            }
            keys[pid] = key
        }
        return keys
    }
}
