/// `report/publish {host, revision, refreshMs, encoding, data}` (report port, publisher to aggregator): the
/// publisher's full report at `revision` — the `report/get` JSON of its own host, zlib-compressed on the connection's
/// one stream (`encoding` `zlib-stream`), base64 (SPEC §17.2).
public struct ReportPublishNotification: RPCNotification {
    public static let method = "report/publish"
    public static let direction = NotificationDirection.publisherToAggregator
    public static let memberNames = ["host", "revision", "refreshMs", "encoding", "data"]
    public static let requiredMembers = ["host", "revision", "encoding", "data"]
    /// The only encoding: one zlib stream per connection, each report flushed with `Z_SYNC_FLUSH`.
    public static let zlibStream = "zlib-stream"

    public var host: String
    public var revision: Int64
    /// The publisher's refresh interval, milliseconds (how soon the aggregator may expect news).
    public var refreshMs: Int64?
    public var encoding: String
    /// The compressed report, base64.
    public var data: String

    public init(host: String, revision: Int64, refreshMs: Int64?, encoding: String = Self.zlibStream, data: String) {
        self.host = host
        self.revision = revision
        self.refreshMs = refreshMs
        self.encoding = encoding
        self.data = data
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        try self.init(host: reader.requiredString("host"), revision: reader.requiredInt("revision"),
                      refreshMs: reader.int("refreshMs"), encoding: reader.requiredString("encoding"),
                      data: reader.requiredString("data"))
    }

    public var params: JSONValue {
        var writer = ParamWriter()
        writer.set("host", host)
        writer.set("revision", revision)
        writer.set("refreshMs", refreshMs)
        writer.set("encoding", encoding)
        writer.set("data", data)
        return writer.json
    }
}
