import PeriscopeProtocol
import PeriscopeTopology

extension ViewRenderer {
    /// Details of node `id` of `view`, or `nil` when the view has no such node (or the view is unknown).
    ///
    /// Looks the node up in the unfiltered view with every process and recently closed connection included,
    /// so any id a client has seen in a filtered view can be opened.
    public static func details(report: Report, view: String, id: String,
                               names: [String: String] = [:]) -> NodeDetails? {
        guard let descriptor = try? ViewCatalog.descriptor(named: view) else { return nil }
        return details(report: report, view: descriptor, ids: [id], names: names)[id]
    }

    /// Details of node `id` of the view `descriptor` (already looked up), or `nil` when it has no such node.
    public static func details(report: Report, view descriptor: ViewDescriptor, id: String,
                               names: [String: String] = [:]) -> NodeDetails? {
        details(report: report, view: descriptor, ids: [id], names: names)[id]
    }

    /// Details of every node of `ids` that the view `descriptor` has, from one assembly of the view: what
    /// node subscriptions on the same view share per report. Ids the view lacks are absent from the result.
    public static func details(report: Report, view descriptor: ViewDescriptor, ids: Set<String>,
                               names: [String: String] = [:]) -> [String: NodeDetails] {
        guard !ids.isEmpty else { return [:] }
        let view = descriptor.name
        var assembler = ViewAssembler(report: report, view: view, options: .everything, names: names)
        assembler.accumulate()
        let nodes = assembler.candidateNodes()
        let present = ids.filter { nodes[$0] != nil }
        guard !present.isEmpty else { return [:] }

        var inbound: [String: [ConnectionRow]] = [:], outbound: [String: [ConnectionRow]] = [:]
        for c in assembler.connections {
            let source = assembler.project(c.clientParty)
            let target = assembler.project(c.serverParty)
            if present.contains(source) {
                outbound[source, default: []].append(row(c, outbound: true, peer: target, peerLabel: nodes[target].map(NodeFactory.peerLabel) ?? target))
            }
            if present.contains(target) {
                inbound[target, default: []].append(row(c, outbound: false, peer: source, peerLabel: nodes[source].map(NodeFactory.peerLabel) ?? source))
            }
        }
        var result: [String: NodeDetails] = [:]
        for id in present {
            guard let node = nodes[id] else { continue }
            result[id] = details(of: node, view: view, report: report, factory: assembler.factory,
                                 inbound: (inbound[id] ?? []).sorted { $0.id < $1.id },
                                 outbound: (outbound[id] ?? []).sorted { $0.id < $1.id })
        }
        return result
    }

    private static func details(of node: NodeSummary, view: String, report: Report, factory: NodeFactory,
                                inbound: [ConnectionRow], outbound: [ConnectionRow]) -> NodeDetails {
        let id = node.id
        var metadata = node.metadata
        var metrics: [String: [MetricSample]] = [:]
        var children: [NodeSummary] = []
        var parents: [ParentRef] = []
        switch node.kind {
        case .process:
            if let p = report.processes.nodes[id] {
                addAll(p, to: &metadata)
                for (k, h) in p.metrics { metrics[k] = h.samples }
            }
        case .host:
            if let h = report.hosts.nodes[id] {
                addAll(h, to: &metadata)
                for (k, hist) in h.metrics { metrics[k] = hist.samples }
            }
            children = report.processes.nodes.values.filter { $0.parent(.host) == id }.map(factory.processSummary)
        case .processGroup:
            let name = node.label
            let members = report.processes.nodes.values.filter { NodeFactory.groupName($0) == name }
            children = members.map(factory.processSummary)
            metadata["processCount"] = .int(Int64(children.count))
            metadata["executables"] = JSONValue(Set(members.compactMap { m in
                m.latest[NodeKey.executable].flatMap { $0.isEmpty ? nil : $0 }
            }).sorted())
        case .container, .containerGroup, .uncontained:
            containerDetails(node, report: report, factory: factory, metadata: &metadata, metrics: &metrics,
                             children: &children)
        default:
            break
        }
        children.sort { $0.id < $1.id }
        for hostID in node.parents["host"] ?? [] {
            parents.append(ParentRef(topology: "host", id: hostID, label: factory.hostLabel(hostID)))
        }
        for containerID in node.parents["container"] ?? [] {
            let label = report[.container].nodes[containerID].map(NodeFactory.containerName) ?? containerID
            parents.append(ParentRef(topology: "container", id: containerID, label: label))
        }
        var details = NodeDetails(view: view, node: node, metadata: metadata, metrics: metrics, inbound: inbound,
                                  outbound: outbound, children: children, parents: parents)
        switch node.kind {
        case .process: details.l7 = NodeL7.rows(of: report.processes.nodes[id].map { [$0] } ?? [])
        case .processGroup, .host: details.l7 = NodeL7.rows(of: children.compactMap { report.processes.nodes[$0.id] })
        default: break
        }
        return details
    }

    private static func addAll(_ n: Node, to metadata: inout [String: JSONValue]) {
        for (key, entry) in n.latest where !key.hasPrefix(NodeKey.l7Prefix) {
            let k = NodeFactory.camel(key)
            if metadata[k] == nil { metadata[k] = .string(entry.value) }
        }
        for (key, values) in n.sets { metadata[NodeFactory.camel(key)] = JSONValue(values.sorted()) }
    }

    private static func row(_ c: ResolvedConnection, outbound: Bool, peer: String, peerLabel: String) -> ConnectionRow {
        let local = outbound ? c.client : c.server
        let remote = outbound ? c.server : c.client
        return ConnectionRow(
            id: c.id, localAddress: local.address, localPort: Int(local.port), remoteAddress: remote.address,
            remotePort: Int(remote.port), localProcess: (outbound ? c.clientParty : c.serverParty).processID,
            peer: peer, peerLabel: peerLabel, proto: c.proto, state: c.closed ? "closed" : c.state, closed: c.closed,
            lastSeen: c.lastSeen, bytesSent: outbound ? c.clientBytesSent : c.clientBytesReceived,
            bytesReceived: outbound ? c.clientBytesReceived : c.clientBytesSent,
            bytesPerSecond: c.bytesPerSecond, rttMillis: c.rttMillis)
    }
}
