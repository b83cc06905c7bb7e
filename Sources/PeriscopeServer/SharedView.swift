import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// One rendered view (view + options) shared by every subscriber that asked for it, kept current by
/// re-rendering once per new report on the render queue and diffing against the previous render.
///
/// - Important: the stored properties are loop-confined; ``RenderState`` is render-queue-confined.
final class SharedView {
    /// The previous render, touched only on the render queue (serial), so diffs chain without gaps.
    final class RenderState: @unchecked Sendable {
        var previous: RenderedView?
    }

    /// The view and options it renders (the subscription manager's key).
    let key: ViewSpec
    let request: ViewRequest
    /// Its own render lane (negative), so each shared view takes its turn beside the clients.
    let lane: Int
    let renderState = RenderState()
    /// The current render and the report revision it came from; `nil` until the first render lands.
    private(set) var current: RenderedView?
    private(set) var revision: Int64 = 0
    /// Node id → ids of edges touching it, for subscribers whose filter visibility flips.
    private(set) var edgesOf: [String: Set<String>] = [:]
    var subscriptions: [Subscription] = []
    /// Work waiting for the first render.
    var waiting: [() -> Void] = []

    init(key: ViewSpec, request: ViewRequest, lane: Int) {
        self.key = key
        self.request = request
        self.lane = lane
    }

    /// Installs the first render.
    func install(_ view: RenderedView, revision: Int64) {
        current = view
        self.revision = revision
        edgesOf = [:]
        for edge in view.edges.values { index(edge) }
    }

    /// Applies a diff computed on the render queue; returns the new current view.
    func apply(_ diff: ViewDiff, view: RenderedView, revision: Int64) {
        if let current {
            for id in diff.removedEdges {
                if let edge = current.edges[id] {
                    edgesOf[edge.source]?.remove(id)
                    edgesOf[edge.target]?.remove(id)
                }
            }
        }
        for id in diff.removedNodes where edgesOf[id]?.isEmpty ?? true { edgesOf[id] = nil }
        for edge in diff.addedEdges { index(edge) }
        current = view
        self.revision = revision
    }

    private func index(_ edge: EdgeSummary) {
        edgesOf[edge.source, default: []].insert(edge.id)
        edgesOf[edge.target, default: []].insert(edge.id)
    }
}
