import PeriscopeProtocol

/// The fields a filter term can name, and how each reads a node summary.
enum FilterField: String, CaseIterable, Sendable, Hashable {
    case label, kind, id, host, port, pseudo
    case name, pid, ppid, uid, user, command, cwd, executable, state, threads, cgroup
    case hostname, os, kernel, address
    case cpu, memory, connectionsIn, connectionsOut, connections
    /// `under:/dir` — the node's working directory or executable is `/dir` or below it.
    /// `workspace:/dir` — the same, and the filter also keeps the direct peers of what it matches.
    case under, workspace
    /// L7 (issue 14), from `metadata.l7`: `protocol:http` (any protocol the node's processes spoke), `errors>0`
    /// (error responses seen), `latency>100` (p99 milliseconds), `requests>10` (requests per second).
    case `protocol`, errors, latency, requests

    /// A value read from a node.
    enum Value {
        case text(String)
        case number(Double)

        var text: String {
            switch self {
            case .text(let s): return s
            case .number(let n): return n.rounded() == n && abs(n) < 1e15 ? String(Int64(n)) : String(n)
            }
        }
    }

    private static let aliases: [String: FilterField] = [
        "cmd": .command, "exe": .executable, "mem": .memory, "rss": .memory, "in": .connectionsIn,
        "out": .connectionsOut, "conns": .connections, "ports": .port, "pids": .pid, "ip": .address,
        "addr": .address,
    ]

    /// The field for `key`, ignoring case, `_` and `-`.
    init?(key: String) {
        let k = key.lowercased().filter { $0 != "_" && $0 != "-" }
        if let alias = Self.aliases[k] { self = alias; return }
        guard let f = Self.allCases.first(where: { $0.rawValue.lowercased() == k }) else { return nil }
        self = f
    }

    var isNumeric: Bool {
        switch self {
        case .pid, .ppid, .uid, .threads, .port, .cpu, .memory, .connectionsIn, .connectionsOut, .connections:
            return true
        case .errors, .latency, .requests:
            return true
        default: return false
        }
    }

    func values(of node: NodeSummary) -> [Value] {
        switch self {
        case .label: return [.text(node.label)]
        case .kind: return [.text(node.kind.rawValue)]
        case .id: return [.text(node.id)]
        case .pseudo: return [.text(node.pseudo ? "true" : "false")]
        case .host:
            return (node.parents["host"] ?? []).map(Value.text) + Self.flatten(node.metadata["host"])
        case .port: return Self.flatten(node.metadata["ports"])
        case .pid: return Self.flatten(node.metadata["pid"]) + Self.flatten(node.metadata["pids"])
        case .cpu: return node.metrics.cpu.map { [.number($0)] } ?? []
        case .memory: return node.metrics.memory.map { [.number($0)] } ?? []
        case .connectionsIn: return [.number(Double(node.metrics.connectionsIn))]
        case .connectionsOut: return [.number(Double(node.metrics.connectionsOut))]
        case .connections: return [.number(Double(node.metrics.connectionsIn + node.metrics.connectionsOut))]
        case .under, .workspace:
            return Self.flatten(node.metadata["cwd"]) + Self.flatten(node.metadata["executable"])
        case .protocol: return Self.l7(node, "protocols")
        case .errors: return Self.l7(node, "errors")
        case .latency: return Self.l7(node, "latencyP99Ms")
        case .requests: return Self.l7(node, "requestsPerSecond")
        default: return Self.flatten(node.metadata[rawValue])
        }
    }

    private static func l7(_ node: NodeSummary, _ key: String) -> [Value] {
        guard case .object(let o)? = node.metadata["l7"] else { return [] }
        return flatten(o[key])
    }

    private static func flatten(_ value: JSONValue?) -> [Value] {
        guard let value else { return [] }
        switch value {
        case .string(let s): return [.text(s)]
        case .int(let i): return [.number(Double(i))]
        case .double(let d): return [.number(d)]
        case .bool(let b): return [.text(b ? "true" : "false")]
        case .array(let a): return a.flatMap { flatten($0) }
        case .null, .object: return []
        }
    }
}
