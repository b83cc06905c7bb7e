/// What one subscriber with a filter sees of a shared view, maintained from the shared view's diffs.
///
/// Subscribers to the same view and options share one rendered view; each applies its own filter to
/// the *changes* instead of re-rendering. A node is visible when the filter matches it; an edge when
/// both its ends are visible (the same rule as ``ViewRenderer/render(report:view:options:filter:names:)``).
/// Work per change is proportional to the changed nodes and the edges that touch them. Pure value.
public struct FilteredView: Sendable {
    public let filter: FilterExpression?
    public private(set) var visibleNodes: Set<String> = []
    public private(set) var visibleEdges: Set<String> = []

    /// Starts from `shared` (the current unfiltered render).
    public init(filter: FilterExpression?, shared: RenderedView) {
        self.filter = filter.flatMap { $0.terms.isEmpty ? nil : $0 }
        for (id, node) in shared.nodes where matches(node) { visibleNodes.insert(id) }
        for (id, edge) in shared.edges where visibleNodes.contains(edge.source) && visibleNodes.contains(edge.target) {
            visibleEdges.insert(id)
        }
    }

    private func matches(_ node: NodeSummary) -> Bool {
        filter?.matches(node) ?? true
    }

    /// What the subscriber currently sees of `shared`.
    public func snapshot(of shared: RenderedView) -> RenderedView {
        var view = RenderedView(view: shared.view)
        for id in visibleNodes { view.nodes[id] = shared.nodes[id] }
        for id in visibleEdges { view.edges[id] = shared.edges[id] }
        return view
    }

    /// Folds one shared diff into `changes`. `shared` is the shared view *after* the diff and
    /// `edgesOf` its incidence index (node id → ids of edges touching it).
    public mutating func absorb(_ diff: ViewDiff, shared: RenderedView, edgesOf: [String: Set<String>],
                                into changes: inout ChangeSet) {
        guard filter != nil else {
            for node in diff.addedNodes { visibleNodes.insert(node.id) }
            for id in diff.removedNodes { visibleNodes.remove(id) }
            for edge in diff.addedEdges { visibleEdges.insert(edge.id) }
            for id in diff.removedEdges { visibleEdges.remove(id) }
            changes.absorb(diff)
            return
        }
        var touched: Set<String> = []  // nodes whose visibility changed
        for node in diff.addedNodes + diff.updatedNodes {
            let was = visibleNodes.contains(node.id)
            let now = matches(node)
            switch (was, now) {
            case (false, true):
                visibleNodes.insert(node.id)
                changes.addNode(node)
                touched.insert(node.id)
            case (true, true):
                changes.updateNode(node)
            case (true, false):
                visibleNodes.remove(node.id)
                changes.removeNode(node.id)
                touched.insert(node.id)
            case (false, false):
                break
            }
        }
        for id in diff.removedNodes where visibleNodes.remove(id) != nil {
            changes.removeNode(id)
            touched.insert(id)
        }
        var candidates = Set(diff.addedEdges.map(\.id)).union(diff.updatedEdges.map(\.id)).union(diff.removedEdges)
        for id in touched { candidates.formUnion(edgesOf[id] ?? []) }
        let updated = Set(diff.updatedEdges.map(\.id))
        for id in candidates {
            let was = visibleEdges.contains(id)
            let edge = shared.edges[id]
            let now = edge.map { visibleNodes.contains($0.source) && visibleNodes.contains($0.target) } ?? false
            switch (was, now, edge) {
            case (false, true, let edge?):
                visibleEdges.insert(id)
                changes.addEdge(edge)
            case (true, true, let edge?) where updated.contains(id):
                changes.updateEdge(edge)
            case (true, false, _):
                visibleEdges.remove(id)
                changes.removeEdge(id)
            default:
                break
            }
        }
    }
}
