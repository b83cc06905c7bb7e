import PeriscopeProtocol

/// One view rendered from a report: nodes and edges by id.
public struct RenderedView: Sendable, Hashable, JSONRepresentable {
    /// The view's name (``ViewCatalog``).
    public var view: String
    public var nodes: [String: NodeSummary]
    public var edges: [String: EdgeSummary]

    public init(view: String, nodes: [String: NodeSummary] = [:], edges: [String: EdgeSummary] = [:]) {
        self.view = view
        self.nodes = nodes
        self.edges = edges
    }

    /// Nodes ordered by id.
    public var sortedNodes: [NodeSummary] { nodes.values.sorted { $0.id < $1.id } }
    /// Edges ordered by id.
    public var sortedEdges: [EdgeSummary] { edges.values.sorted { $0.id < $1.id } }

    /// `{view, nodes: [node], edges: [edge]}`, nodes and edges ordered by id.
    public var json: JSONValue {
        ["view": .string(view), "nodes": .array(sortedNodes.map(\.json)), "edges": .array(sortedEdges.map(\.json))]
    }

    /// ``json`` with a `revision` member, the `topology/get` result.
    public func json(revision: Int64) -> JSONValue {
        var o = json.objectValue ?? [:]
        o["revision"] = .int(revision)
        return .object(o)
    }
}
