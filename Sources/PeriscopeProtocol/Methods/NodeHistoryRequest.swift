/// `node/history {view, id, from?, to?}`: when a node of a view existed, its peers over time and its metrics,
/// downsampled, from the history log (`from` defaults to the oldest instant kept, `to` to now).
public enum NodeHistoryRequest: RPCMethod {
    public static let method = "node/history"

    public struct Params: RPCParams {
        public static let memberNames = ["view", "id", "from", "to"]
        public static let requiredMembers = ["view", "id"]

        public var node: NodeRef
        public var from: String?
        public var to: String?

        public init(_ node: NodeRef, from: String? = nil, to: String? = nil) {
            self.node = node
            self.from = from
            self.to = to
        }

        public init(json: JSONValue?) throws(RPCError) {
            let reader = try ParamReader(json, allowing: Set(Self.memberNames))
            node = NodeRef(view: try reader.requiredString("view"), id: try reader.requiredString("id"))
            from = try reader.string("from")
            to = try reader.string("to")
        }

        public var json: JSONValue? {
            var members: [String: JSONValue] = ["view": .string(node.view), "id": .string(node.id)]
            if let from { members["from"] = .string(from) }
            if let to { members["to"] = .string(to) }
            return .object(members)
        }
    }

    /// `{view, id, from, to, existed: [{from, to?}], peers: [{id, label, direction, from, to?}],
    /// samples: [{at, present, metrics?}]}`.
    public typealias Result = JSONValue
}
