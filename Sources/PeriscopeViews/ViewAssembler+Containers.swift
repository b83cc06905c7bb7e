import PeriscopeProtocol
import PeriscopeTopology

/// The container views: `containers`, `containers-by-image`, `containers-by-hostname`.
///
/// A connection side that is a process inside a container is drawn as its container (or the container's image /
/// hostname group); a process outside every container as the pseudo node `pseudo:uncontained;HOSTID`
/// ("Uncontained", one per host). Remote peers, the Internet and unattributed sockets stay as in the other views.
/// Container addresses are host-internal (scoped to the host), so they are never "The Internet".
extension ViewAssembler {
    static func uncontainedID(_ host: String) -> String { "pseudo:uncontained;\(host)" }

    /// The view node of `party` in a container view.
    mutating func projectToContainer(_ party: Party) -> String {
        guard party.kind == .process, let pid = party.processID else {
            pseudo[party.nodeID] = party
            return party.nodeID
        }
        let report = self.report
        if let cid = report.processes.nodes[pid]?.parent(.container), let container = report[.container].nodes[cid] {
            return Self.containerViewID(view, container)
        }
        let host = party.hostID ?? report.processes.nodes[pid]?.parent(.host) ?? "?"
        let id = Self.uncontainedID(host)
        pseudo[id] = Party(nodeID: id, kind: .uncontained, processID: nil, hostID: host)
        return id
    }

    /// The node a container is drawn as in `view`.
    static func containerViewID(_ view: String, _ container: Node) -> String {
        switch view {
        case ViewCatalog.containersByImage: return NodeFactory.imageGroupID(container)
        case ViewCatalog.containersByHostname: return NodeFactory.hostnameGroupID(container)
        default: return container.id
        }
    }

    /// Whether the options show `container` (running/paused unless `all`; application unless `system`).
    func showsContainer(_ container: Node) -> Bool {
        if !options.all && !NodeFactory.isUp(container) { return false }
        if !options.system && container.latest[ContainerKey.system] == "true" { return false }
        return true
    }

    /// Container view candidates: containers (or groups) the options show, the Uncontained pseudo nodes, and the
    /// ports the containers' processes listen on.
    mutating func containerCandidates(into nodes: inout [String: NodeSummary]) {
        let report = self.report
        let all = report[.container].nodes
        var members: [String: [Node]] = [:]
        for c in all.values where showsContainer(c) {
            members[Self.containerViewID(view, c), default: []].append(c)
        }
        if members.isEmpty {  // no container to show (or no engine): the view is empty
            pseudo.removeAll()
            return
        }
        for (id, list) in members {
            if view == ViewCatalog.containers, let c = list.first {
                nodes[id] = factory.containerSummary(c)
            } else {
                nodes[id] = factory.containerGroupSummary(id: id, byImage: view == ViewCatalog.containersByImage,
                                                          members: list.sorted { $0.id < $1.id })
            }
        }
        for p in report.processes.nodes.values {
            guard let cid = p.parent(.container), let c = all[cid] else { continue }
            let listen = NodeFactory.listeningPorts(p)
            if !listen.isEmpty { ports[Self.containerViewID(view, c), default: []].formUnion(listen) }
        }
        for (id, party) in pseudo where party.kind == .uncontained {
            nodes[id] = factory.uncontainedSummary(host: party.hostID ?? "?")
        }
    }
}

extension NodeFactory {
    static func isUp(_ container: Node) -> Bool {
        let state = container.latest[NodeKey.state] ?? ""
        return state == "running" || state == "paused" || state == "restarting"
    }

    static func imageGroupID(_ container: Node) -> String {
        NodeID.containerImage(imageName(container))
    }

    static func hostnameGroupID(_ container: Node) -> String {
        "hostname:" + (container.latest[ContainerKey.hostname] ?? "")
    }

    static func imageName(_ container: Node) -> String {
        let image = container.latest[ContainerKey.image] ?? ""
        return image.isEmpty ? (container.latest[ContainerKey.imageID] ?? "?") : image
    }

    /// `localhost/web:1` → `web:1`; `sha256:abcd…` → `abcd…` (12 digits).
    static func shortImage(_ image: String) -> String {
        if image.hasPrefix("sha256:") { return String(image.dropFirst(7).prefix(12)) }
        if let slash = image.lastIndex(of: "/") { return String(image[image.index(after: slash)...]) }
        return image
    }

    /// The controls that make sense in a container's state.
    static func containerControls(state: String) -> [String] {
        switch state {
        case "running": return ["stop", "restart", "pause", "remove"]
        case "paused": return ["unpause", "stop", "remove"]
        case "restarting": return ["stop", "remove"]
        default: return ["start", "remove"]
        }
    }

    func containerSummary(_ c: Node) -> NodeSummary {
        let l = c.latest
        let name = l[NodeKey.name] ?? String(c.id.dropFirst(10).prefix(12))
        let state = l[NodeKey.state] ?? "unknown"
        let image = Self.imageName(c)
        var meta: [String: JSONValue] = [
            "name": .string(name), "containerID": .string(l[ContainerKey.containerID] ?? ""),
            "image": .string(image), "state": .string(state),
            "stopped": .bool(!Self.isUp(c)), "paused": .bool(state == "paused"),
        ]
        for key in [ContainerKey.imageID, NodeKey.command, ContainerKey.hostname, ContainerKey.networkMode] {
            if let v = l[key], !v.isEmpty { meta[Self.camel(key)] = .string(v) }
        }
        if let pid = l[NodeKey.pid].flatMap({ Int64($0) }), pid > 0 { meta["pid"] = .int(pid) }
        if l[ContainerKey.system] == "true" { meta["system"] = .bool(true) }
        meta["ips"] = JSONValue((c.sets[ContainerKey.ips] ?? []).sorted())
        meta["publishedPorts"] = JSONValue((c.sets[ContainerKey.ports] ?? []).sorted())
        var labels: [String: JSONValue] = [:]
        for entry in c.sets[ContainerKey.labels] ?? [] {
            if let eq = entry.firstIndex(of: "=") {
                labels[String(entry[..<eq])] = .string(String(entry[entry.index(after: eq)...]))
            }
        }
        meta["labels"] = .object(labels)
        let host = c.parent(.host)
        if let host { meta["host"] = .string(hostLabel(host)) }
        var minor = Self.shortImage(image)
        if state != "running" { minor = (Self.isUp(c) ? state : "stopped") + " · " + minor }
        if let host, spansHosts { minor += " on \(hostLabel(host))" }
        var parents: [String: [String]] = [:]
        if let host { parents["host"] = [host] }
        parents["container_image"] = [Self.imageGroupID(c)]
        return NodeSummary(id: c.id, label: name, labelMinor: minor, kind: .container, pseudo: false,
                           rank: Self.shortImage(image), metadata: meta,
                           metrics: NodeMetrics(cpu: Self.isUp(c) ? c.metrics[MetricKey.cpu]?.last?.value : nil,
                                                memory: Self.isUp(c) ? c.metrics[MetricKey.memory]?.last?.value : nil),
                           parents: parents)
    }

    func containerGroupSummary(id: String, byImage: Bool, members: [Node]) -> NodeSummary {
        var cpu: Double?, memory: Double?
        var hosts: Set<String> = []
        var running = 0
        for m in members {
            if Self.isUp(m) {
                running += 1
                if let c = m.metrics[MetricKey.cpu]?.last?.value { cpu = (cpu ?? 0) + c }
                if let r = m.metrics[MetricKey.memory]?.last?.value { memory = (memory ?? 0) + r }
            }
            if let h = m.parent(.host) { hosts.insert(h) }
        }
        let key = byImage ? Self.imageName(members[0]) : (members[0].latest[ContainerKey.hostname] ?? "")
        let label = byImage ? Self.shortImage(key) : (key.isEmpty ? "(no hostname)" : key)
        let count = members.count
        var meta: [String: JSONValue] = [
            "containers": .array(members.map { .string($0.id) }),
            "names": .array(members.map { .string($0.latest[NodeKey.name] ?? "") }),
            "containerCount": .int(Int64(count)), "running": .int(Int64(running)),
        ]
        meta[byImage ? "image" : "hostname"] = .string(key)
        let onHosts = groupHosts(hosts, into: &meta)
        return NodeSummary(id: id, label: label, labelMinor: (count == 1 ? "1 container" : "\(count) containers") + onHosts,
                           kind: .containerGroup, pseudo: false, rank: label, metadata: meta,
                           metrics: NodeMetrics(cpu: cpu, memory: memory),
                           parents: hosts.isEmpty ? [:] : ["host": hosts.sorted()])
    }

    func uncontainedSummary(host: String) -> NodeSummary {
        NodeSummary(id: ViewAssembler.uncontainedID(host), label: "Uncontained", labelMinor: hostLabel(host),
                    kind: .uncontained, pseudo: true, rank: "uncontained",
                    metadata: ["host": .string(hostLabel(host))], parents: ["host": [host]])
    }
}

extension ViewRenderer {
    /// Metadata, metrics and children of a container-view node, for ``details(report:view:id:names:)``.
    static func containerDetails(_ node: NodeSummary, report: Report, factory: NodeFactory,
                                 metadata: inout [String: JSONValue], metrics: inout [String: [MetricSample]],
                                 children: inout [NodeSummary]) {
        let containers = report[.container].nodes
        switch node.kind {
        case .container:
            guard let c = containers[node.id] else { return }
            for (k, h) in c.metrics { metrics[k] = h.samples }
            children = report.processes.nodes.values.filter { $0.parent(.container) == c.id }.map(factory.processSummary)
            metadata["processCount"] = .int(Int64(children.count))
            metadata["controls"] = JSONValue(NodeFactory.containerControls(state: c.latest[NodeKey.state] ?? ""))
        case .containerGroup:
            let ids = Set((node.metadata["containers"]?.arrayValue ?? []).compactMap(\.stringValue))
            children = ids.compactMap { containers[$0] }.map(factory.containerSummary)
        case .uncontained:
            let host = node.parents["host"]?.first
            children = report.processes.nodes.values
                .filter { $0.parent(.container) == nil && $0.parent(.host) == host }
                .map(factory.processSummary)
            metadata["processCount"] = .int(Int64(children.count))
        default:
            break
        }
    }
}
