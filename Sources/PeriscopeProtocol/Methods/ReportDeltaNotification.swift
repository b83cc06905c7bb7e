/// `report/delta {host, base, revision, refreshMs, encoding, data}` (report port, publisher to aggregator): what
/// changed in the publisher's report from revision `base` to `revision` — nodes added or changed (whole nodes) and
/// the ids of nodes removed — compressed on the connection's zlib stream like `report/publish`, base64 (SPEC §17.2).
/// The aggregator applies it only to a held report at exactly `base`; otherwise it answers `report/resend`.
public struct ReportDeltaNotification: RPCNotification {
    public static let method = "report/delta"
    public static let direction = NotificationDirection.publisherToAggregator
    public static let memberNames = ["host", "base", "revision", "refreshMs", "encoding", "data"]
    public static let requiredMembers = ["host", "base", "revision", "encoding", "data"]

    public var host: String
    /// The revision this delta applies to (the one sent before it on this connection).
    public var base: Int64
    public var revision: Int64
    /// The publisher's refresh interval, milliseconds.
    public var refreshMs: Int64?
    public var encoding: String
    /// The compressed delta JSON, base64: `{topologies: {KIND: {nodes: {ID: node}}}, removed: {KIND: [ID]}}`.
    public var data: String

    public init(host: String, base: Int64, revision: Int64, refreshMs: Int64?,
                encoding: String = ReportPublishNotification.zlibStream, data: String) {
        self.host = host
        self.base = base
        self.revision = revision
        self.refreshMs = refreshMs
        self.encoding = encoding
        self.data = data
    }

    public init(params: JSONValue?) throws(RPCError) {
        let reader = try Self.reader(params)
        try self.init(host: reader.requiredString("host"), base: reader.requiredInt("base"),
                      revision: reader.requiredInt("revision"), refreshMs: reader.int("refreshMs"),
                      encoding: reader.requiredString("encoding"), data: reader.requiredString("data"))
    }

    public var params: JSONValue {
        var writer = ParamWriter()
        writer.set("host", host)
        writer.set("base", base)
        writer.set("revision", revision)
        writer.set("refreshMs", refreshMs)
        writer.set("encoding", encoding)
        writer.set("data", data)
        return writer.json
    }
}
