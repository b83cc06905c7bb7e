/// `report/refused {reason}` (report port, aggregator to publisher): why the publisher is refused; the connection
/// ends after it.
public struct ReportRefusedNotification: RPCNotification {
    public static let method = "report/refused"
    public static let direction = NotificationDirection.aggregatorToPublisher
    public static let memberNames = ["reason"]
    public static let requiredMembers = ["reason"]

    public var reason: String

    public init(reason: String) { self.reason = reason }

    public init(params: JSONValue?) throws(RPCError) {
        reason = try Self.reader(params).requiredString("reason")
    }

    public var params: JSONValue { ["reason": .string(reason)] }
}
