/// `forward/backlog {client, bytes}` (report port, aggregator to publisher): aggregator client `client` has `bytes`
/// of output it has not read. The publisher counts them as unsent output of its forwarded session for that client,
/// so forwarded pipes pause their engine as local ones do (SPEC §9, §16.4) and resume once the client has read.
public struct ForwardBacklogNotification: RPCNotification {
    public static let method = "forward/backlog"
    public static let direction = NotificationDirection.aggregatorToPublisher
    public static let memberNames = ["client", "bytes"]
    public static let requiredMembers = ["client", "bytes"]

    public var client: Int64
    public var bytes: Int64

    public init(client: Int64, bytes: Int64) {
        self.client = client
        self.bytes = bytes
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        try self.init(client: reader.requiredInt("client"), bytes: reader.requiredInt("bytes", in: 0...Int64(Int32.max)))
    }

    public var params: JSONValue { ["client": .int(client), "bytes": .int(bytes)] }
}
