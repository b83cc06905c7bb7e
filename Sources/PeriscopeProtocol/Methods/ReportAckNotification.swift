/// `report/ack {revision, demand?}` (report port, aggregator to publisher): that report or delta was accepted and
/// merged, or that heartbeat matched the revision the aggregator holds. `demand`: someone looks at the aggregator
/// (a subscription, or a view asked for lately), so the publisher collects as if someone looked at it (event-driven
/// updates at once, TCP counters) — a change on the host then reaches the aggregator's subscribers as fast as a
/// local one.
public struct ReportAckNotification: RPCNotification {
    public static let method = "report/ack"
    public static let direction = NotificationDirection.aggregatorToPublisher
    public static let memberNames = ["revision", "demand"]
    public static let requiredMembers = ["revision"]

    public var revision: Int64
    public var demand: Bool?

    public init(revision: Int64, demand: Bool? = nil) {
        self.revision = revision
        self.demand = demand
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        try self.init(revision: reader.requiredInt("revision"), demand: reader.bool("demand"))
    }

    public var params: JSONValue {
        var writer = ParamWriter()
        writer.set("revision", revision)
        writer.set("demand", demand.map(JSONValue.bool))
        return writer.json
    }
}
