/// `report/demand {tcpInfo}` (report port, aggregator to publisher): whether the aggregator's own clients look
/// now (a subscription, or a view asked for in the last 10 s). While `tcpInfo` is true the publisher collects
/// as if a client of its own looked: full passes at its refresh rate with TCP counters (bytes, RTT). Sent when
/// a publisher identifies itself and whenever the aggregator's demand changes; a new connection starts without.
public struct ReportDemandNotification: RPCNotification {
    public static let method = "report/demand"
    public static let direction = NotificationDirection.aggregatorToPublisher
    public static let memberNames = ["tcpInfo"]
    public static let requiredMembers = ["tcpInfo"]

    public var tcpInfo: Bool

    public init(tcpInfo: Bool) { self.tcpInfo = tcpInfo }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        guard let value = try reader.bool("tcpInfo") else { throw .invalidParams("params.tcpInfo is required (a boolean)") }
        tcpInfo = value
    }

    public var params: JSONValue { ["tcpInfo": .bool(tcpInfo)] }
}
