import PeriscopeProtocol
import PeriscopeTopology

/// Builds node summaries and metadata from report nodes; shared by the renderer and node details.
struct NodeFactory {
    let report: Report
    let names: [String: String]

    /// The hostname of host `id`, or the id.
    func hostLabel(_ id: String) -> String {
        if let name = report.hosts.nodes[id]?.latest[NodeKey.hostname], !name.isEmpty { return name }
        return id
    }

    /// Whether the report spans several hosts (an aggregator's): labels then say the host where a name alone
    /// would not tell two hosts' nodes apart.
    var spansHosts: Bool { report.hosts.nodes.count > 1 }

    /// The host facts of a group spanning `hosts`: `hosts` (their labels, sorted) and `hostCount`; and the
    /// `labelMinor` suffix ` on N hosts` when there are several.
    func groupHosts(_ hosts: Set<String>, into meta: inout [String: JSONValue]) -> String {
        meta["hosts"] = JSONValue(hosts.map(hostLabel).sorted())
        meta["hostCount"] = .int(Int64(hosts.count))
        return hosts.count > 1 ? " on \(hosts.count) hosts" : ""
    }

    /// Name used by `processes-by-name`: the process name (`comm`) as Scope grouped, so `nc`, `cat` and `sh`
    /// of busybox stay apart and a Python service is not merged into every `python3`; else the executable's
    /// file name (which group details list as `executables`).
    static func groupName(_ process: Node) -> String {
        let name = process.latest[NodeKey.name] ?? ""
        if !name.isEmpty { return name }
        let exe = executableName(process)
        return exe.isEmpty ? "unknown" : exe
    }

    /// The executable's file name (`/usr/bin/python3.11 (deleted)` → `python3.11`), or "".
    static func executableName(_ process: Node) -> String {
        guard var exe = process.latest[NodeKey.executable], !exe.isEmpty else { return "" }
        if exe.hasSuffix(" (deleted)") { exe.removeLast(10) }
        if let slash = exe.lastIndex(of: "/") { exe = String(exe[exe.index(after: slash)...]) }
        return exe
    }

    /// The container node holding `process`, when the report knows it.
    func container(of process: Node) -> Node? {
        process.parent(.container).flatMap { report[.container].nodes[$0] }
    }

    /// A container's display name (its name, else the first 12 digits of its id).
    static func containerName(_ container: Node) -> String {
        let name = container.latest[NodeKey.name] ?? ""
        return name.isEmpty ? String(container.id.dropFirst(10).prefix(12)) : name
    }

    static func groupID(_ name: String) -> String { "group:\(name)" }

    /// Ports a process listens on, from its `listening` set (`tcp/0.0.0.0:80` → 80).
    static func listeningPorts(_ process: Node) -> [Int] {
        (process.sets[NodeKey.listening] ?? []).compactMap { entry in
            entry.lastIndex(of: ":").flatMap { Int(entry[entry.index(after: $0)...]) }
        }
    }

    func processSummary(_ p: Node) -> NodeSummary {
        let l = p.latest
        let name = l[NodeKey.name] ?? "?"
        let pid = l[NodeKey.pid] ?? "?"
        let host = p.parent(.host)
        var meta: [String: JSONValue] = ["name": .string(name)]
        for key in [NodeKey.pid, NodeKey.ppid, NodeKey.uid, NodeKey.threads] {
            if let v = l[key], let i = Int64(v) { meta[Self.camel(key)] = .int(i) }
        }
        for key in [NodeKey.command, NodeKey.user, NodeKey.cwd, NodeKey.executable, NodeKey.state, NodeKey.cgroup] {
            if let v = l[key] { meta[key] = .string(v) }
        }
        if l[NodeKey.exited] == "true" { meta["exited"] = .bool(true) }
        if l[NodeKey.stale] == "true" { meta["stale"] = .bool(true) }
        if let host { meta["host"] = .string(hostLabel(host)) }
        var parents: [String: [String]] = host.map { ["host": [$0]] } ?? [:]
        var minor = host.map { "pid \(pid) on \(hostLabel($0))" } ?? "pid \(pid)"
        if let container = container(of: p) {
            let containerName = Self.containerName(container)
            meta["container"] = .string(containerName)
            meta["containerID"] = .string(container.latest[ContainerKey.containerID] ?? String(container.id.dropFirst(10)))
            parents["container"] = [container.id]
            minor = "in \(containerName) · " + minor
        }
        let cpu = p.metrics[MetricKey.cpu]?.last?.value
        let memory = p.metrics[MetricKey.memory]?.last?.value
        return NodeSummary(id: p.id, label: name, labelMinor: minor,
                           kind: .process, pseudo: false, rank: name, metadata: meta,
                           metrics: NodeMetrics(cpu: cpu, memory: memory), parents: parents)
    }

    /// How a connection table names a view node: a process in a container as `cat (ux-db1)`.
    static func peerLabel(_ node: NodeSummary) -> String {
        if node.kind == .process, let container = node.metadata["container"]?.stringValue {
            return "\(node.label) (\(container))"
        }
        return node.label
    }

    func groupSummary(name: String, members: [Node]) -> NodeSummary {
        var cpu: Double?, memory: Double?
        var pids: [Int64] = []
        var hosts: Set<String> = []
        var executables: Set<String> = []
        var containers: Set<String> = []
        for m in members {
            let exe = Self.executableName(m)
            if !exe.isEmpty { executables.insert(exe) }
            if let c = container(of: m) { containers.insert(c.id) }
            if let c = m.metrics[MetricKey.cpu]?.last?.value { cpu = (cpu ?? 0) + c }
            if let r = m.metrics[MetricKey.memory]?.last?.value { memory = (memory ?? 0) + r }
            if let pid = m.latest[NodeKey.pid].flatMap({ Int64($0) }) { pids.append(pid) }
            if let h = m.parent(.host) { hosts.insert(h) }
        }
        pids.sort()
        let count = members.count
        var parents: [String: [String]] = hosts.isEmpty ? [:] : ["host": hosts.sorted()]
        if !containers.isEmpty { parents["container"] = containers.sorted() }
        var meta: [String: JSONValue] = ["name": .string(name), "pids": .array(pids.map { .int($0) }),
                                         "executables": JSONValue(executables.sorted())]
        let onHosts = groupHosts(hosts, into: &meta)
        return NodeSummary(id: Self.groupID(name), label: name,
                           labelMinor: (count == 1 ? "1 process" : "\(count) processes") + onHosts,
                           kind: .processGroup, pseudo: false, rank: name,
                           metadata: meta,
                           metrics: NodeMetrics(cpu: cpu, memory: memory), parents: parents)
    }

    func hostSummary(_ h: Node) -> NodeSummary {
        let l = h.latest
        let label = hostLabel(h.id)
        var meta: [String: JSONValue] = ["hostname": .string(label)]
        if let os = l[NodeKey.os], !os.isEmpty { meta["os"] = .string(os) }
        if let k = l[NodeKey.kernel], !k.isEmpty { meta["kernel"] = .string(k) }
        if let c = l[NodeKey.cpuCount].flatMap({ Int64($0) }) { meta["cpuCount"] = .int(c) }
        if l[NodeKey.stale] == "true" { meta["stale"] = .bool(true) }
        return NodeSummary(id: h.id, label: label, labelMinor: l[NodeKey.os] ?? l[NodeKey.kernel] ?? "",
                           kind: .host, pseudo: false, rank: label, metadata: meta,
                           metrics: NodeMetrics(cpu: h.metrics[MetricKey.cpu]?.last?.value,
                                                memory: h.metrics[MetricKey.memory]?.last?.value))
    }

    func pseudoSummary(_ party: Party) -> NodeSummary {
        switch party.kind {
        case .internet:
            return NodeSummary(id: party.nodeID, label: "The Internet", labelMinor: "public addresses",
                               kind: .internet, pseudo: true, rank: "internet")
        case .remote:
            let address = party.address ?? "?"
            var meta: [String: JSONValue] = ["address": .string(address)]
            if let name = names[address] {
                meta["hostname"] = .string(name)
                return NodeSummary(id: party.nodeID, label: name, labelMinor: address, kind: .remote, pseudo: true,
                                   rank: "remote", metadata: meta)
            }
            return NodeSummary(id: party.nodeID, label: address, labelMinor: "private network", kind: .remote,
                               pseudo: true, rank: "remote", metadata: meta)
        default:
            let host = party.hostID ?? "?"
            return NodeSummary(id: party.nodeID, label: "Unattributed sockets", labelMinor: hostLabel(host),
                               kind: .unknown, pseudo: true, rank: "unknown",
                               metadata: ["host": .string(hostLabel(host))], parents: ["host": [host]])
        }
    }

    /// `start_time` → `startTime`.
    static func camel(_ key: String) -> String {
        var out = ""
        var upper = false
        for ch in key {
            if ch == "_" { upper = true; continue }
            out.append(upper ? Character(ch.uppercased()) : ch)
            upper = false
        }
        return out
    }
}
