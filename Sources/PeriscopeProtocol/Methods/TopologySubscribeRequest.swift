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

/// The `topology/subscribe` result: the subscription id, and the snapshot at `revision` (`topology/get`'s result,
/// which stays JSON as that result does).
public struct TopologySubscribeResult: RPCResult, Hashable {
    public var subscription: String
    public var revision: Int64
    /// The view's members besides `subscription` and `revision`: `{view, nodes, edges}`, and any member a minor
    /// version adds.
    public var snapshot: JSONValue

    /// Node summaries, ordered by id.
    public var nodes: [JSONValue] { snapshot["nodes"]?.arrayValue ?? [] }
    /// Edge summaries, ordered by id.
    public var edges: [JSONValue] { snapshot["edges"]?.arrayValue ?? [] }

    /// `snapshot`: the rendered view's JSON (`RenderedView.json`).
    public init(subscription: String, revision: Int64, snapshot: JSONValue) {
        self.subscription = subscription
        self.revision = revision
        var members = snapshot.objectValue ?? [:]
        members["subscription"] = nil
        members["revision"] = nil
        self.snapshot = .object(members)
    }

    public init(json: JSONValue) throws(MalformedResult) {
        let result = ResultReader(json)
        try self.init(subscription: result.string("subscription"), revision: result.int("revision"), snapshot: json)
    }

    public var json: JSONValue {
        var members = snapshot.objectValue ?? [:]
        members["subscription"] = .string(subscription)
        members["revision"] = .int(revision)
        return .object(members)
    }
}
