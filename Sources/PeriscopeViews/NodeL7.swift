import PeriscopeProtocol
import PeriscopeTopology

/// One row of a node's per-protocol table (`node/get` → `l7`): what the node's processes did with one protocol
/// on one side (`server`: requests they answered; `client`: requests they sent). Pure value.
public struct L7Row: Sendable, Hashable, JSONRepresentable {
    public var protocolName: String
    /// `server` or `client`.
    public var side: String
    public var figures: EdgeL7

    /// `{protocol, side, requestsPerSecond, errorsPerSecond, latencyP50Ms?, latencyP99Ms?, requests, errors, sni?}`.
    public var json: JSONValue {
        guard case .object(var o) = figures.json else { return .null }
        o["side"] = .string(side)
        return .object(o)
    }
}

/// The L7 figures of view nodes: the per-protocol rows of node details, and the `metadata.l7` summary that
/// filters read (`protocol:http`, `errors>0`, `latency>100`). From the `l7:PROTOCOL:SIDE` entries the collector
/// writes on process nodes. Pure.
enum NodeL7 {
    /// The rows of a set of processes (a process, a group's members, a host's processes), summed per protocol and
    /// side, sorted by protocol then side.
    static func rows(of processes: [Node]) -> [L7Row] {
        var sums: [String: L7Figures] = [:]
        for p in processes {
            for (key, entry) in p.latest where key.hasPrefix(NodeKey.l7Prefix) {
                guard let f = L7Figures(text: entry.value) else { continue }
                let side = key.hasSuffix(":server") ? "server" : "client"
                sums[f.protocolName + ":" + side, default: L7Figures(protocolName: f.protocolName, seconds: f.seconds)]
                    .add(f)
            }
        }
        return sums.keys.sorted().compactMap { key in
            guard let f = sums[key], let summary = EdgeL7(f) else { return nil }
            return L7Row(protocolName: f.protocolName, side: key.hasSuffix(":server") ? "server" : "client",
                         figures: summary)
        }
    }

    /// Adds `metadata.l7` = `{protocols, requestsPerSecond, errorsPerSecond, errors, latencyP50Ms?, latencyP99Ms?}`
    /// to the nodes of `view` that processes with L7 figures project to (processes, processes by name, hosts).
    /// The figures are the server side's when the node served requests, else the client side's.
    static func decorate(_ nodes: inout [String: NodeSummary], view: String, report: Report) {
        var members: [String: [Node]] = [:]
        for p in report.processes.nodes.values where p.latest.contains(where: { $0.key.hasPrefix(NodeKey.l7Prefix) }) {
            let id: String?
            switch view {
            case ViewCatalog.processesByName: id = NodeFactory.groupID(NodeFactory.groupName(p))
            case ViewCatalog.hosts: id = p.parent(.host)
            case ViewCatalog.processes: id = p.id
            default: id = nil
            }
            if let id, nodes[id] != nil { members[id, default: []].append(p) }
        }
        for (id, processes) in members {
            let rows = rows(of: processes)
            let served = rows.filter { $0.side == "server" }
            guard let chosen = (served.isEmpty ? rows : served).max(by: { $0.figures.requests < $1.figures.requests })
            else { continue }
            var o: [String: JSONValue] = [
                "protocols": JSONValue(Array(Set(rows.map(\.protocolName))).sorted()),
                "requestsPerSecond": .double(EdgeL7.round(chosen.figures.requestsPerSecond)),
                "errorsPerSecond": .double(EdgeL7.round(chosen.figures.errorsPerSecond)),
                "errors": .int(Int64((served.isEmpty ? rows : served).reduce(0) { $0 + $1.figures.errors })),
            ]
            if let p50 = chosen.figures.latencyP50Ms { o["latencyP50Ms"] = .double(EdgeL7.round(p50)) }
            if let p99 = chosen.figures.latencyP99Ms { o["latencyP99Ms"] = .double(EdgeL7.round(p99)) }
            nodes[id]?.metadata["l7"] = .object(o)
        }
    }
}
