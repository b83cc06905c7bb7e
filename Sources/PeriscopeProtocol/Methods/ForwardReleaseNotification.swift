/// `forward/release {client}` (report port, aggregator to publisher): the aggregator's client `client` has gone;
/// the publisher ends its forwarded session for it (its pipes close, an exec is hung up).
public struct ForwardReleaseNotification: RPCNotification {
    public static let method = "forward/release"
    public static let direction = NotificationDirection.aggregatorToPublisher
    public static let memberNames = ["client"]
    public static let requiredMembers = ["client"]

    public var client: Int64

    public init(client: Int64) { self.client = client }

    public init(params: JSONValue?) throws(RPCError) {
        client = try Self.reader(params).requiredInt("client")
    }

    public var params: JSONValue { ["client": .int(client)] }
}
