/// What one subscriber with a filter sees of a shared view, maintained from the shared view's diffs.
///
/// Subscribers to the same view and options share one rendered view; each applies its own filter to
/// the *changes* instead of re-rendering. A node is visible when the filter matches it (the *core*) or,
/// for a filter with ``FilterExpression/includesPeers``, when an edge links it to a core node; an edge
/// when both its ends are visible — the same rules as ``ViewRenderer/render(report:view:options:filter:names:)``.
/// Work per change is proportional to the changed nodes and the edges that touch them. Pure value.
public struct FilteredView: Sendable {
    public let filter: FilterExpression?
    public private(set) var visibleNodes: Set<String> = []
    public private(set) var visibleEdges: Set<String> = []
    private var core: Set<String> = []
    /// Ends of every shared edge (kept only with peers, to find the nodes a removed edge touched).
    private var edgeEnds: [String: (source: String, target: String)] = [:]
    private var peers: Bool { filter?.includesPeers ?? false }

    /// Starts from `shared` (the current unfiltered render).
    public init(filter: FilterExpression?, shared: RenderedView) {
        self.filter = filter.flatMap { $0.terms.isEmpty ? nil : $0 }
        for (id, node) in shared.nodes where matches(node) { core.insert(id) }
        visibleNodes = core
        if peers {
            for (id, edge) in shared.edges {
                edgeEnds[id] = (edge.source, edge.target)
                if core.contains(edge.source), shared.nodes[edge.target] != nil { visibleNodes.insert(edge.target) }
                if core.contains(edge.target), shared.nodes[edge.source] != nil { visibleNodes.insert(edge.source) }
            }
        }
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
    /// `edgesOf` its edge index.
    public mutating func absorb(_ diff: ViewDiff, shared: RenderedView, edgesOf: EdgeIndex,
                                into changes: inout ChangeSet) {
        guard filter != nil else {
            for node in diff.addedNodes { visibleNodes.insert(node.id) }
            for id in diff.removedNodes { visibleNodes.remove(id) }
            for edge in diff.addedEdges { visibleEdges.insert(edge.id) }
            for id in diff.removedEdges { visibleEdges.remove(id) }
            changes.absorb(diff)
            return
        }
        // 1. Core membership of the changed nodes.
        var candidates: Set<String> = []
        var coreChanged: Set<String> = []
        for node in diff.addedNodes + diff.updatedNodes {
            candidates.insert(node.id)
            if matches(node) ? core.insert(node.id).inserted : core.remove(node.id) != nil { coreChanged.insert(node.id) }
        }
        for id in diff.removedNodes {
            candidates.insert(id)
            if core.remove(id) != nil { coreChanged.insert(id) }
        }
        // 2. With peers, nodes next to a core change or to an added/removed edge may flip too.
        if peers {
            for id in diff.removedEdges {
                if let ends = edgeEnds.removeValue(forKey: id) { candidates.insert(ends.source); candidates.insert(ends.target) }
            }
            for edge in diff.addedEdges {
                edgeEnds[edge.id] = (edge.source, edge.target)
                candidates.insert(edge.source)
                candidates.insert(edge.target)
            }
            for id in coreChanged {
                for edgeID in edgesOf.edges(of: id) {
                    if let ends = edgeEnds[edgeID] { candidates.insert(ends.source); candidates.insert(ends.target) }
                }
            }
        }
        let updatedNodes = Set(diff.updatedNodes.map(\.id))
        var flipped: Set<String> = []
        for id in candidates {
            let was = visibleNodes.contains(id)
            let now = isVisible(id, shared: shared, edgesOf: edgesOf)
            switch (was, now, shared.nodes[id]) {
            case (false, true, let node?):
                visibleNodes.insert(id)
                changes.addNode(node)
                flipped.insert(id)
            case (true, true, let node?) where updatedNodes.contains(id):
                changes.updateNode(node)
            case (true, false, _):
                visibleNodes.remove(id)
                changes.removeNode(id)
                flipped.insert(id)
            default:
                break
            }
        }
        // 3. Edges: the changed ones and those touching a node whose visibility flipped.
        var edgeCandidates = Set(diff.addedEdges.map(\.id)).union(diff.updatedEdges.map(\.id)).union(diff.removedEdges)
        for id in flipped { edgeCandidates.formUnion(edgesOf.edges(of: id)) }
        let updatedEdges = Set(diff.updatedEdges.map(\.id))
        for id in edgeCandidates {
            let was = visibleEdges.contains(id)
            let edge = shared.edges[id]
            let now = edge.map { visibleNodes.contains($0.source) && visibleNodes.contains($0.target) } ?? false
            switch (was, now, edge) {
            case (false, true, let edge?):
                visibleEdges.insert(id)
                changes.addEdge(edge)
            case (true, true, let edge?) where updatedEdges.contains(id):
                changes.updateEdge(edge)
            case (true, false, _):
                visibleEdges.remove(id)
                changes.removeEdge(id)
            default:
                break
            }
        }
    }

    private func isVisible(_ id: String, shared: RenderedView, edgesOf: EdgeIndex) -> Bool {
        guard shared.nodes[id] != nil else { return false }
        if core.contains(id) { return true }
        guard peers else { return false }
        for edgeID in edgesOf.edges(of: id) {
            guard let edge = shared.edges[edgeID] else { continue }
            let other = edge.source == id ? edge.target : edge.source
            if core.contains(other) { return true }
        }
        return false
    }
}
