/// `report/ack {revision}` (report port, aggregator to publisher): that report was accepted and merged, or that
/// heartbeat matched the revision the aggregator holds.
public struct ReportAckNotification: RPCNotification {
    public static let method = "report/ack"
    public static let direction = NotificationDirection.aggregatorToPublisher
    public static let memberNames = ["revision"]
    public static let requiredMembers = ["revision"]

    public var revision: Int64

    public init(revision: Int64) { self.revision = revision }

    public init(params: JSONValue?) throws(RPCError) {
        revision = try Self.reader(params).requiredInt("revision")
    }

    public var params: JSONValue { ["revision": .int(revision)] }
}
