import PeriscopeProtocol
import PeriscopeTopology
import PeriscopeViews

/// A view request checked once, on the loop: the view and its options against the catalog (``ViewSpec``) and
/// the filter parsed, with −32602 errors that name the bad parameter. Renders take it as is.
struct ViewRequest: Sendable {
    let spec: ViewSpec
    let filter: FilterExpression?
    /// The filter as sent, `""` for none.
    let filterText: String

    init(_ query: ViewQuery) throws(RPCError) {
        do throws(ViewError) {
            spec = try ViewSpec(view: query.view, options: query.options)
        } catch {
            throw error.code == .unknownView ? .invalidParams("params.view: \(error)") : .invalidParams("params.\(error)")
        }
        filterText = query.filterText
        guard !filterText.isEmpty else {
            filter = nil
            return
        }
        do {
            filter = try FilterExpression.parse(filterText)
        } catch {
            throw RPCError.invalidParams("params.filter: \(error)")
        }
    }

    var view: String { spec.view }

    /// What `topology/get` answers are cached by: the view, its options as parsed, the filter text.
    var renderKey: RenderKey { .view(spec, filter: filterText) }

    /// The descriptor of `view`, for requests that name a view without options (`node/get`, `node/subscribe`).
    static func descriptor(_ view: String) throws(RPCError) -> ViewDescriptor {
        do throws(ViewError) {
            return try ViewCatalog.descriptor(named: view)
        } catch {
            throw RPCError.invalidParams("params.view: \(error)")
        }
    }

    func render(_ report: Report, _ names: [String: String]) -> RenderedView {
        ViewRenderer.render(report: report, spec: spec, filter: filter, names: names)
    }

    /// The view with its options but without the filter: what a shared view holds.
    func renderUnfiltered(_ report: Report, _ names: [String: String]) -> RenderedView {
        ViewRenderer.render(report: report, spec: spec, filter: nil, names: names)
    }
}

/// What a cached answer of ``TopologyService/answer(_:cacheKey:_:)`` is keyed by, at one revision.
enum RenderKey: Hashable, Sendable {
    case views
    case report
    /// A view under options as parsed (so `{}` and `{"all": null}` share), with a filter (`""` for none).
    case view(ViewSpec, filter: String)
}

/// A render in progress: shared by every request for the same key at the same revision, or one request's own.
enum RenderFlight: Hashable {
    case shared(RenderKey, revision: Int64)
    case once(ObjectIdentifier)
}

/// Carries a view's ``IncrementalRenderer`` from the loop to the render queue and back: set on the loop before the
/// render starts, updated by the render, read on the loop after it ended (the render queue hands over with
/// `loop.execute`, so the accesses never overlap).
final class RendererSlot: @unchecked Sendable {
    let spec: ViewSpec
    var renderer: IncrementalRenderer?

    init(spec: ViewSpec) { self.spec = spec }
}
