/// `forward/notify {client, method, params}` (report port, publisher to aggregator): a notification the
/// publisher's forwarded session for aggregator client `client` sent — `pipe/data` of a forwarded pipe (its
/// `pipe` is the publisher's id; the aggregator renames it before passing it on).
public struct ForwardNotifyNotification: RPCNotification {
    public static let method = "forward/notify"
    public static let direction = NotificationDirection.publisherToAggregator
    public static let memberNames = ["client", "method", "params"]
    public static let requiredMembers = ["client", "method", "params"]

    public var client: Int64
    public var notifiedMethod: String
    public var notifiedParams: JSONValue

    public init(client: Int64, method: String, params: JSONValue) {
        self.client = client
        notifiedMethod = method
        notifiedParams = params
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        try self.init(client: reader.requiredInt("client"), method: reader.requiredString("method"),
                      params: .object(reader.requiredObject("params")))
    }

    public var params: JSONValue {
        ["client": .int(client), "method": .string(notifiedMethod), "params": notifiedParams]
    }
}
