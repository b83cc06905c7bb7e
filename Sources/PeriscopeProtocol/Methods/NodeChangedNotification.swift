/// `node/changed {subscription, revision, node | removed: true}`: new details of a `node/subscribe` node, or its
/// removal (the subscription then ends). The details stay JSON (see `node/get`).
public struct NodeChangedNotification: RPCNotification {
    public static let method = "node/changed"
    public static let direction = NotificationDirection.serverToClient
    public static let memberNames = ["subscription", "revision", "node", "removed"]
    public static let requiredMembers = ["subscription", "revision"]

    /// What happened to the node.
    public enum Change: Sendable, Hashable {
        /// Its details now.
        case details(JSONValue)
        /// It has gone.
        case removed
    }

    public var subscription: String
    public var revision: Int64
    public var change: Change

    public init(subscription: String, revision: Int64, change: Change) {
        self.subscription = subscription
        self.revision = revision
        self.change = change
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        subscription = try reader.requiredString("subscription")
        revision = try reader.requiredInt("revision")
        let removed = try reader.bool("removed") ?? false
        let node = reader.value("node")
        switch (node, removed) {
        case (let node?, false) where node.objectValue != nil: change = .details(node)
        case (nil, true): change = .removed
        default: throw RPCError.invalidParams("params must have either node (an object) or removed: true")
        }
    }

    public var params: JSONValue {
        var members: [String: JSONValue] = ["subscription": .string(subscription), "revision": .int(revision)]
        switch change {
        case .details(let node): members["node"] = node
        case .removed: members["removed"] = true
        }
        return .object(members)
    }
}
