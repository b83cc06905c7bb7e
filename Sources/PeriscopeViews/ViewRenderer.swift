import PeriscopeProtocol
import PeriscopeTopology

/// Renders views of a ``Report``. Pure functions of their arguments: safe from any thread.
public enum ViewRenderer {
    /// Renders `view` of `report`.
    ///
    /// Steps: resolve every connection to its client and server (process or pseudo node, see ``NodeKind``);
    /// project both onto the view's nodes (process, name group, host) and merge connections between the same
    /// pair into one edge (self-edges are not drawn); then
    /// 1. hide unconnected nodes (`hideUnconnected`: nodes with no edge in the full view and no connection between
    ///    their own members),
    /// 2. hide pseudo nodes and their edges (`hidePseudo`),
    /// 3. keep the nodes `filter` matches, and the edges between kept nodes.
    ///
    /// - Parameters:
    ///   - names: reverse-DNS names by IP address, used to label remote peers.
    /// - Throws: ``ViewError`` for an unknown view or an option the view does not accept (see ``ViewSpec``).
    public static func render(report: Report, view: String, options: ViewOptions = ViewOptions(),
                              filter: FilterExpression? = nil, names: [String: String] = [:]) throws(ViewError) -> RenderedView {
        render(report: report, spec: try ViewSpec(view: view, options: options), filter: filter, names: names)
    }

    /// Renders the view of `spec` (already checked) of `report`; see ``render(report:view:options:filter:names:)``.
    public static func render(report: Report, spec: ViewSpec, filter: FilterExpression? = nil,
                              names: [String: String] = [:]) -> RenderedView {
        var assembler = ViewAssembler(report: report, view: spec.view, options: spec.effective, names: names)
        assembler.accumulate()
        return finish(assembler, filter: filter)
    }

    static func finish(_ assembler: consuming ViewAssembler, filter: FilterExpression?) -> RenderedView {
        let options = assembler.options
        var nodes = assembler.candidateNodes()
        var edges = assembler.edgeSummaries()
        if options.hideUnconnected {
            var connected = assembler.internallyConnected
            connected.reserveCapacity(nodes.count)
            for e in edges.values { connected.insert(e.source); connected.insert(e.target) }
            nodes = nodes.filter { connected.contains($0.key) }
        }
        if options.hidePseudo { nodes = nodes.filter { !$0.value.pseudo } }
        if let filter, !filter.terms.isEmpty {
            let core = nodes.filter { filter.matches($0.value) }
            if filter.includesPeers {
                // The matched nodes and everything one edge away from them.
                var kept = core
                for edge in edges.values {
                    if core[edge.source] != nil, let peer = nodes[edge.target] { kept[edge.target] = peer }
                    if core[edge.target] != nil, let peer = nodes[edge.source] { kept[edge.source] = peer }
                }
                nodes = kept
            } else {
                nodes = core
            }
        }
        edges = edges.filter { nodes[$0.value.source] != nil && nodes[$0.value.target] != nil }
        return RenderedView(view: assembler.view, nodes: nodes, edges: edges)
    }
}
