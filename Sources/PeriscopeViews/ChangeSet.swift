import PeriscopeProtocol

/// The net change a subscriber has not been sent yet, coalesced: applying it equals applying every
/// change it absorbed, in order. Pure value.
///
/// Coalescing rules per id: added→updated = added(new); added→removed = nothing; updated→updated =
/// updated(new); updated→removed = removed; removed→added = updated(new).
public struct ChangeSet: Sendable, Hashable {
    enum Change<Value: Sendable & Hashable>: Sendable, Hashable {
        case added(Value)
        case updated(Value)
        case removed
    }

    private(set) var nodes: [String: Change<NodeSummary>] = [:]
    private(set) var edges: [String: Change<EdgeSummary>] = [:]

    public init() {}

    /// Number of ids with a pending change (the measure of a subscriber's backlog).
    public var count: Int { nodes.count + edges.count }

    public var isEmpty: Bool { nodes.isEmpty && edges.isEmpty }

    /// Whether a node or edge is added or removed (as opposed to only updated: metrics, labels).
    public var hasStructuralChange: Bool {
        func structural<Value>(_ change: Change<Value>) -> Bool {
            if case .updated = change { return false }
            return true
        }
        return nodes.values.contains(where: structural) || edges.values.contains(where: structural)
    }

    public mutating func addNode(_ node: NodeSummary) { Self.merge(&nodes, node.id, .added(node)) }
    public mutating func updateNode(_ node: NodeSummary) { Self.merge(&nodes, node.id, .updated(node)) }
    public mutating func removeNode(_ id: String) { Self.merge(&nodes, id, .removed) }
    public mutating func addEdge(_ edge: EdgeSummary) { Self.merge(&edges, edge.id, .added(edge)) }
    public mutating func updateEdge(_ edge: EdgeSummary) { Self.merge(&edges, edge.id, .updated(edge)) }
    public mutating func removeEdge(_ id: String) { Self.merge(&edges, id, .removed) }

    /// Absorbs every change of `diff` (an unfiltered subscriber takes the shared diff as is).
    public mutating func absorb(_ diff: ViewDiff) {
        for id in diff.removedNodes { removeNode(id) }
        for id in diff.removedEdges { removeEdge(id) }
        for node in diff.addedNodes { addNode(node) }
        for node in diff.updatedNodes { updateNode(node) }
        for edge in diff.addedEdges { addEdge(edge) }
        for edge in diff.updatedEdges { updateEdge(edge) }
    }

    private static func merge<Value>(_ table: inout [String: Change<Value>], _ id: String, _ change: Change<Value>) {
        guard let existing = table[id] else {
            table[id] = change
            return
        }
        switch (existing, change) {
        case (.added, .updated(let value)), (.added, .added(let value)):
            table[id] = .added(value)
        case (.added, .removed):
            table[id] = nil
        case (.updated, .removed), (.removed, .removed):
            table[id] = .removed
        case (.removed, .added(let value)), (.removed, .updated(let value)), (.updated, .updated(let value)),
             (.updated, .added(let value)):
            table[id] = .updated(value)
        }
    }

    /// The changes as a `topology/changed` notification carries them, ids sorted.
    public var changes: ViewChanges {
        var out = ViewChanges()
        for id in nodes.keys.sorted() {
            switch nodes[id] {
            case .added(let node)?: out.added.nodes.append(node.json)
            case .updated(let node)?: out.updated.nodes.append(node.json)
            case .removed?: out.removed.nodes.append(id)
            case nil: break
            }
        }
        for id in edges.keys.sorted() {
            switch edges[id] {
            case .added(let edge)?: out.added.edges.append(edge.json)
            case .updated(let edge)?: out.updated.edges.append(edge.json)
            case .removed?: out.removed.edges.append(id)
            case nil: break
            }
        }
        return out
    }

    /// `view` with the changes applied (what a client holds after applying the notification).
    public func apply(to view: RenderedView) -> RenderedView {
        var out = view
        for (id, change) in nodes {
            switch change {
            case .added(let node), .updated(let node): out.nodes[id] = node
            case .removed: out.nodes[id] = nil
            }
        }
        for (id, change) in edges {
            switch change {
            case .added(let edge), .updated(let edge): out.edges[id] = edge
            case .removed: out.edges[id] = nil
            }
        }
        return out
    }
}
