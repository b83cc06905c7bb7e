/// `topology/subscribe {view, options?, filter?, minInterval?}`: a snapshot now, then `topology/changed`
/// notifications with the net changes, at most one per `minInterval` milliseconds.
public enum TopologySubscribeRequest: RPCMethod {
    public static let method = "topology/subscribe"

    public struct Params: RPCParams {
        public static let memberNames = ViewQuery.memberNames + ["minInterval"]
        public static let requiredMembers = ViewQuery.requiredMembers
        public static let minIntervalRange: ClosedRange<Int64> = 0...60_000
        /// The gap between notifications when the client gives none.
        public static let defaultMinInterval: Int64 = 100

        public var query: ViewQuery
        /// Milliseconds between two notifications at most once (``defaultMinInterval`` when `nil`).
        public var minInterval: Int64?

        public init(_ query: ViewQuery, minInterval: Int64? = nil) {
            self.query = query
            self.minInterval = minInterval
        }

        public init(json: JSONValue?) throws(RPCError) {
            let reader = try ParamReader(json, allowing: Set(Self.memberNames))
            query = try ViewQuery(reader)
            minInterval = try reader.int("minInterval", in: Self.minIntervalRange)
        }

        public var json: JSONValue? {
            var members = query.members
            if let minInterval { members["minInterval"] = .int(minInterval) }
            return .object(members)
        }
    }

    public typealias Result = TopologySubscribeResult
}

/// The `topology/subscribe` result: the view's snapshot (as `topology/get` answers it) and the subscription id.
public struct TopologySubscribeResult: RPCResult, Hashable {
    public var subscription: String
    public var view: String
    public var revision: Int64
    /// Node summaries, ordered by id.
    public var nodes: [JSONValue]
    /// Edge summaries, ordered by id.
    public var edges: [JSONValue]

    public init(subscription: String, view: String, revision: Int64, nodes: [JSONValue], edges: [JSONValue]) {
        self.subscription = subscription
        self.view = view
        self.revision = revision
        self.nodes = nodes
        self.edges = edges
    }

    public init(json: JSONValue) throws(MalformedResult) {
        let result = ResultReader(json)
        try self.init(subscription: result.string("subscription"), view: result.string("view"), revision: result.int("revision"),
                      nodes: result.array("nodes"), edges: result.array("edges"))
    }

    public var json: JSONValue {
        ["subscription": .string(subscription), "view": .string(view), "revision": .int(revision),
         "nodes": .array(nodes), "edges": .array(edges)]
    }
}
