/// Node id → ids of the edges touching it, for one rendered view: what a filtered subscriber needs to
/// find the edges whose visibility flips with a node's. Built once from a view and kept current from
/// each diff, so it never has to be rebuilt from the whole view. Pure value.
public struct EdgeIndex: Sendable {
    private var edges: [String: Set<String>] = [:]

    /// An empty index (a view with no edges).
    public init() {}

    /// The index of `view`'s edges.
    public init(_ view: RenderedView) {
        for edge in view.edges.values { insert(edge) }
    }

    /// Ids of the edges touching `node`.
    public func edges(of node: String) -> Set<String> { edges[node] ?? [] }

    /// Applies `diff`; `before` is the view the diff starts from (it still has the removed edges).
    public mutating func apply(_ diff: ViewDiff, before: RenderedView?) {
        if let before {
            for id in diff.removedEdges {
                guard let edge = before.edges[id] else { continue }
                edges[edge.source]?.remove(id)
                edges[edge.target]?.remove(id)
            }
        }
        for id in diff.removedNodes where edges[id]?.isEmpty ?? true { edges[id] = nil }
        for edge in diff.addedEdges { insert(edge) }
    }

    private mutating func insert(_ edge: EdgeSummary) {
        edges[edge.source, default: []].insert(edge.id)
        edges[edge.target, default: []].insert(edge.id)
    }
}
