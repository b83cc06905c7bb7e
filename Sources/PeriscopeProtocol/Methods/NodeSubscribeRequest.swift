/// `node/subscribe {view, id}`: the node's details now, then `node/changed` whenever they change.
public enum NodeSubscribeRequest: RPCMethod {
    public static let method = "node/subscribe"
    public typealias Params = NodeRef

    /// `{subscription, revision, node}`; the node's details stay JSON (see `node/get`).
    public struct Result: RPCResult, Hashable {
        public var subscription: String
        public var revision: Int64
        public var node: JSONValue

        public init(subscription: String, revision: Int64, node: JSONValue) {
            self.subscription = subscription
            self.revision = revision
            self.node = node
        }

        public init(json: JSONValue) throws(MalformedResult) {
            let result = ResultReader(json)
            try self.init(subscription: result.string("subscription"), revision: result.int("revision"), node: result.object("node"))
        }

        public var json: JSONValue { ["subscription": .string(subscription), "revision": .int(revision), "node": node] }
    }
}
