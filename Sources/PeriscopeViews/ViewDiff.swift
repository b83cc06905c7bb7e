import PeriscopeProtocol

/// The difference between two renders of one view: what a subscriber must apply to go from the old to the
/// new. Computed in O(n) with the views' id dictionaries (plus sorting the changes for a stable order).
public struct ViewDiff: Sendable, Hashable, JSONRepresentable {
    public var view: String
    public var addedNodes: [NodeSummary]
    public var addedEdges: [EdgeSummary]
    /// Nodes whose summary changed (the new summary, whole).
    public var updatedNodes: [NodeSummary]
    public var updatedEdges: [EdgeSummary]
    public var removedNodes: [String]
    public var removedEdges: [String]

    /// The changes from `old` to `new`.
    public init(from old: RenderedView, to new: RenderedView) {
        view = new.view
        addedNodes = []; updatedNodes = []; removedNodes = []
        addedEdges = []; updatedEdges = []; removedEdges = []
        for (id, node) in new.nodes {
            if let before = old.nodes[id] {
                if before != node { updatedNodes.append(node) }
            } else {
                addedNodes.append(node)
            }
        }
        for id in old.nodes.keys where new.nodes[id] == nil { removedNodes.append(id) }
        for (id, edge) in new.edges {
            if let before = old.edges[id] {
                if before != edge { updatedEdges.append(edge) }
            } else {
                addedEdges.append(edge)
            }
        }
        for id in old.edges.keys where new.edges[id] == nil { removedEdges.append(id) }
        addedNodes.sort { $0.id < $1.id }; updatedNodes.sort { $0.id < $1.id }; removedNodes.sort()
        addedEdges.sort { $0.id < $1.id }; updatedEdges.sort { $0.id < $1.id }; removedEdges.sort()
    }

    /// True when the two views were equal.
    public var isEmpty: Bool {
        addedNodes.isEmpty && addedEdges.isEmpty && updatedNodes.isEmpty && updatedEdges.isEmpty
            && removedNodes.isEmpty && removedEdges.isEmpty
    }

    /// `view` with this diff applied (removals, then additions and updates).
    public func apply(to view: RenderedView) -> RenderedView {
        var out = view
        out.view = self.view
        for id in removedNodes { out.nodes[id] = nil }
        for id in removedEdges { out.edges[id] = nil }
        for node in addedNodes { out.nodes[node.id] = node }
        for node in updatedNodes { out.nodes[node.id] = node }
        for edge in addedEdges { out.edges[edge.id] = edge }
        for edge in updatedEdges { out.edges[edge.id] = edge }
        return out
    }

    /// `{view, added: {nodes, edges}, updated: {nodes, edges}, removed: {nodes: [id], edges: [id]}}`.
    public var json: JSONValue {
        [
            "view": .string(view),
            "added": ["nodes": .array(addedNodes.map(\.json)), "edges": .array(addedEdges.map(\.json))],
            "updated": ["nodes": .array(updatedNodes.map(\.json)), "edges": .array(updatedEdges.map(\.json))],
            "removed": ["nodes": JSONValue(removedNodes), "edges": JSONValue(removedEdges)],
        ]
    }
}
