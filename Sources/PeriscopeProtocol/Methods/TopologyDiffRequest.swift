/// `topology/diff {view, from, to?, options?, filter?}`: what appeared, disappeared or changed in a view between
/// two instants of the history log (`to` defaults to now).
public enum TopologyDiffRequest: RPCMethod {
    public static let method = "topology/diff"

    public struct Params: RPCParams {
        public static let memberNames = ViewQuery.memberNames + ["from", "to"]
        public static let requiredMembers = ViewQuery.requiredMembers + ["from"]

        public var query: ViewQuery
        /// RFC 3339 or relative (`-1h`, `1h`: an hour ago).
        public var from: String
        /// RFC 3339 or relative; `nil` for now.
        public var to: String?

        public init(_ query: ViewQuery, from: String, to: String? = nil) {
            self.query = query
            self.from = from
            self.to = to
        }

        public init(json: JSONValue?) throws(RPCError) {
            let reader = try ParamReader(json, allowing: Set(Self.memberNames))
            query = try ViewQuery(reader)
            from = try reader.requiredString("from")
            to = try reader.string("to")
        }

        public var json: JSONValue? {
            var members = query.members
            members["from"] = .string(from)
            if let to { members["to"] = .string(to) }
            return .object(members)
        }
    }

    /// `{view, from, to, added: {nodes, edges}, removed: {nodes, edges}, updated: {nodes, edges}}`: full node and
    /// edge objects (removed ones as they were at `from`), instants in RFC 3339.
    public typealias Result = JSONValue
}
