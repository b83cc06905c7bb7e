/// `topology/get {view, options?, filter?, at?}`: one view at the current revision, or as it was at a past
/// instant (`at`, from the history log).
public enum TopologyGetRequest: RPCMethod {
    public static let method = "topology/get"

    public struct Params: RPCParams {
        public static let memberNames = ViewQuery.memberNames + ["at"]
        public static let requiredMembers = ViewQuery.requiredMembers

        public var query: ViewQuery
        /// A past instant (RFC 3339, or relative such as `-10m`); `nil` for the current revision.
        public var at: String?

        public init(_ query: ViewQuery, at: String? = nil) {
            self.query = query
            self.at = at
        }

        public init(json: JSONValue?) throws(RPCError) {
            let reader = try ParamReader(json, allowing: Set(Self.memberNames))
            query = try ViewQuery(reader)
            at = try reader.string("at")
        }

        public var json: JSONValue? {
            var members = query.members
            if let at { members["at"] = .string(at) }
            return .object(members)
        }
    }

    /// `{view, revision, nodes, edges}` (with `at` instead of `revision` for a past instant), rendered and
    /// encoded off the loop by `RenderedView`; clients read it as JSON.
    public typealias Result = JSONValue
}
