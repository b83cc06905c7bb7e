/// `report/heartbeat {host, revision, refreshMs}` (report port, publisher to aggregator): alive, still at `revision`;
/// sent when a refresh interval passed without a report.
public struct ReportHeartbeatNotification: RPCNotification {
    public static let method = "report/heartbeat"
    public static let direction = NotificationDirection.publisherToAggregator
    public static let memberNames = ["host", "revision", "refreshMs"]
    public static let requiredMembers = ["host", "revision"]

    public var host: String
    public var revision: Int64
    public var refreshMs: Int64?

    public init(host: String, revision: Int64, refreshMs: Int64?) {
        self.host = host
        self.revision = revision
        self.refreshMs = refreshMs
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        try self.init(host: reader.requiredString("host"), revision: reader.requiredInt("revision"),
                      refreshMs: reader.int("refreshMs"))
    }

    public var params: JSONValue {
        var writer = ParamWriter()
        writer.set("host", host)
        writer.set("revision", revision)
        writer.set("refreshMs", refreshMs)
        return writer.json
    }
}
