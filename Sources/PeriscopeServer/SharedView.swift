import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// One rendered view (view + options) shared by every subscriber that asked for it, kept current by
/// rendering each new report on the render queue (incrementally: only the connections that changed, see
/// ``IncrementalRenderer``) and diffing against the previous render.
///
/// - Important: the stored properties are loop-confined; ``RenderState`` is render-queue-confined.
final class SharedView {
    /// The previous render, touched only on the render queue (serial), so diffs chain without gaps.
    final class RenderState: @unchecked Sendable {
        var previous: RenderedView?
        /// What the next render starts from.
        var renderer: IncrementalRenderer?
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
    /// Edges by node, for subscribers whose filter visibility flips.
    private(set) var edgesOf = EdgeIndex()
    var subscriptions: [Subscription] = []
    /// Renders so far, how many started over (every connection resolved), connections resolved, render time (ms).
    private(set) var renders = (count: 0, startedOver: 0, resolved: 0, millis: 0.0)
    /// Work waiting for the first render.
    var waiting: [() -> Void] = []

    init(key: ViewSpec, request: ViewRequest, lane: Int) {
        self.key = key
        self.request = request
        self.lane = lane
    }

    /// Counts a render that resolved `resolved` connections (`startedOver`: all of them) in `millis`.
    func count(resolved: Int, startedOver: Bool, millis: Double) {
        renders.count += 1
        renders.startedOver += startedOver ? 1 : 0
        renders.resolved += resolved
        renders.millis += millis
    }

    /// Installs the first render.
    func install(_ view: RenderedView, revision: Int64) {
        current = view
        self.revision = revision
        edgesOf = EdgeIndex(view)
    }

    /// Applies a diff computed on the render queue; returns the new current view.
    func apply(_ diff: ViewDiff, view: RenderedView, revision: Int64) {
        edgesOf.apply(diff, before: current)
        current = view
        self.revision = revision
    }
}
