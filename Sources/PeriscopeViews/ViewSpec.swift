import PeriscopeProtocol

/// A view and its options, checked once against the catalog: the view exists and takes every option that is
/// set. Renders take it as is; with the filter text it keys render caches and shared views, so requests that
/// spell the same options differently (`{}`, `{"all": null}`) share one render.
public struct ViewSpec: Sendable, Hashable {
    public let descriptor: ViewDescriptor
    public let options: ViewOptions
    /// The options with the view's defaults applied.
    let effective: EffectiveOptions

    /// The view's name.
    public var view: String { descriptor.name }

    /// Looks `view` up and checks `options` against it.
    /// - Throws: ``ViewError`` `unknownView` (listing the views) or `invalidOption` (naming the first option set
    ///   that the view does not take, and listing those it does: `options.all is not an option of view 'hosts'; …`).
    public init(view: String, options: ViewOptions = ViewOptions()) throws(ViewError) {
        let descriptor = try ViewCatalog.descriptor(named: view)
        let accepted = descriptor.optionNames
        if let name = options.setNames.first(where: { !accepted.contains($0) }) {
            throw ViewError(.invalidOption, "options.\(name) is not an option of view '\(view)'; it takes: "
                + accepted.joined(separator: ", "))
        }
        self.descriptor = descriptor
        self.options = options
        effective = EffectiveOptions(options, descriptor)
    }

    public static func == (a: ViewSpec, b: ViewSpec) -> Bool { a.view == b.view && a.options == b.options }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(view)
        hasher.combine(options)
    }
}
