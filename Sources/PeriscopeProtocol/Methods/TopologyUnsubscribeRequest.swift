/// `topology/unsubscribe {subscription}`: ends a view or node subscription of this connection.
public enum TopologyUnsubscribeRequest: RPCMethod {
    public static let method = "topology/unsubscribe"

    public struct Params: RPCParams {
        public static let memberNames = ["subscription"]
        public static let requiredMembers = ["subscription"]

        public var subscription: String

        public init(subscription: String) { self.subscription = subscription }

        public init(json: JSONValue?) throws(RPCError) {
            subscription = try ParamReader(json, allowing: Set(Self.memberNames)).requiredString("subscription")
        }

        public var json: JSONValue? { ["subscription": .string(subscription)] }
    }

    public typealias Result = NullResult
}
