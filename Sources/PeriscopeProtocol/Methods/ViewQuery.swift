/// A view, its options and a filter: the params of `topology/get`, and the view part of `topology/subscribe`.
///
/// Decoding checks the shapes (a view name, boolean options with known names, filter text); whether the view
/// exists, takes those options and the filter parses is the daemon's business (`ViewCatalog`, `FilterExpression`).
public struct ViewQuery: RPCParams {
    public static let memberNames = ["view", "options", "filter"]
    public static let requiredMembers = ["view"]

    /// The view's name, as `topology/views` lists it.
    public var view: String
    public var options: ViewOptions
    /// A filter expression (SPEC.md section 14.4); `nil` or empty means none.
    public var filter: String?

    public init(view: String, options: ViewOptions = ViewOptions(), filter: String? = nil) {
        self.view = view
        self.options = options
        self.filter = filter
    }

    public init(json: JSONValue?) throws(RPCError) {
        try self.init(ParamReader(json, allowing: Set(Self.memberNames)))
    }

    /// Reads the view members of `reader` (whose unknown members were already refused).
    public init(_ reader: ParamReader) throws(RPCError) {
        view = try reader.requiredString("view")
        options = try ViewOptions(json: reader.value("options"))
        filter = try reader.string("filter")
    }

    /// The filter text, with `nil` and empty alike: what caches and shared views are keyed by.
    public var filterText: String { filter ?? "" }

    public var json: JSONValue? { .object(members) }

    /// The members to send: options only when some are set, the filter only when not empty.
    public var members: [String: JSONValue] {
        var writer = ParamWriter()
        writer.set("view", view)
        if !options.isEmpty { writer.set("options", options.json) }
        if let filter, !filter.isEmpty { writer.set("filter", filter) }
        return writer.members
    }
}

/// A node of a view: the params of `node/get` and `node/subscribe`.
public struct NodeRef: RPCParams {
    public static let memberNames = ["view", "id"]
    public static let requiredMembers = ["view", "id"]

    public var view: String
    /// The node's id, as the view shows it.
    public var id: String

    public init(view: String, id: String) {
        self.view = view
        self.id = id
    }

    public init(json: JSONValue?) throws(RPCError) {
        let reader = try ParamReader(json, allowing: Set(Self.memberNames))
        view = try reader.requiredString("view")
        id = try reader.requiredString("id")
    }

    public var json: JSONValue? { ["view": .string(view), "id": .string(id)] }
}
