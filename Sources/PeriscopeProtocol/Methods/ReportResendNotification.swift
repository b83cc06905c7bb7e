/// `report/resend {revision}` (report port, aggregator to publisher): the aggregator does not hold the publisher's
/// revision (`revision` is the one it holds, −1 for none); the publisher sends its full report next.
public struct ReportResendNotification: RPCNotification {
    public static let method = "report/resend"
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
